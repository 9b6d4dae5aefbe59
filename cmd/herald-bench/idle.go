package main

import (
	"flag"
	"fmt"
	"time"
)

func init() {
	var conns, channels, readBuf *int
	var hold *time.Duration
	scenarios["idle"] = &scenario{
		flags: func(fs *flag.FlagSet) {
			conns = fs.Int("conns", 15000, "subscribed connections to hold")
			channels = fs.Int("channels", 10, "channels; connection i subscribes to channel i mod channels")
			hold = fs.Duration("hold", 5*time.Second, "how long the connections are held before the server is measured")
			readBuf = fs.Int("client-read-buffer", 1024, "the generator's read buffer per connection")
		},
		timeout: func() time.Duration {
			return 90*time.Second + *hold + time.Duration(*conns)*5*time.Millisecond
		},
		run: func(r *runner) error { return runIdle(r, *conns, *channels, *hold, *readBuf) },
		table: []metricDef{
			{"subscribed", "connections subscribed", "%.0f"},
			{"connect_s", "connect+subscribe time (s)", "%.2f"},
			{"connects_per_s", "connects+subscribes/s", "%.0f"},
			{"server_rss_start_mib", "server RSS before (MiB)", "%.1f"},
			{"server_rss_mib", "server RSS with the connections (MiB)", "%.1f"},
			{"rss_per_conn_kib", "marginal RSS per connection (KiB)", "%.2f"},
			{"rss_floor_per_conn_kib", "marginal RSS after GC + FreeOSMemory (KiB)", "%.2f"},
			{"heap_per_conn_kib", "heap in use per connection (KiB)", "%.2f"},
			{"live_heap_per_conn_kib", "live heap per connection after GC (KiB)", "%.2f"},
			{"stack_per_conn_kib", "goroutine stacks per connection (KiB)", "%.2f"},
			{"stack_gc_per_conn_kib", "goroutine stacks per connection after a GC (KiB)", "%.2f"},
			{"goroutines_per_conn", "goroutines per connection", "%.3f"},
			{"threads", "server OS threads", "%.0f"},
			{"server_idle_cpu_pct", "server CPU while held (% of one core)", "%.2f"},
			{"client_rss_per_conn_kib", "generator RSS per connection (KiB)", "%.2f"},
		},
	}
}

func runIdle(r *runner, conns, channels int, hold time.Duration, readBuf int) error {
	var ws *workerSet
	phase := "settling"
	r.status = func() string {
		sm := r.srv.Sample()
		if ws == nil {
			return fmt.Sprintf("%s: server RSS %.1f MiB", phase, float64(sm.RSS)/(1<<20))
		}
		s := ws.Stat()
		return fmt.Sprintf("%s: connected %d subscribed %d/%d failed %d server RSS %.1f MiB",
			phase, s.Connected, s.Subscribed, conns, s.Failed, float64(sm.RSS)/(1<<20))
	}
	r.sleep(time.Second)
	s0 := r.srv.Sample()
	d0, haveDbg := r.srv.Stats(false)
	if haveDbg && r.profile != "" { // the base of a diff (herald-bench budget); after the RSS reading
		if err := r.srv.Profile("heap?gc=1", r.profilePath("heap-before"), 30*time.Second); err != nil {
			r.errorf("heap profile: %v", err)
		} else {
			r.res.Profiles = append(r.res.Profiles, r.profilePath("heap-before"))
		}
	}
	phase = "connecting"
	ws, err := startWorkers(r.wsURL(), conns, channels, r.procs, workerConfig{ReadBuffer: readBuf})
	if err != nil {
		return err
	}
	defer ws.Close()
	ready, err := ws.WaitReady(r.ctx)
	r.metric("subscribed", float64(ready.Subscribed))
	r.metric("connect_s", ready.ConnectSecs)
	if ready.ConnectSecs > 0 {
		r.metric("connects_per_s", float64(ready.Subscribed)/ready.ConnectSecs)
	}
	if err != nil {
		return err
	}
	if ready.Subscribed < int64(conns) {
		return fmt.Errorf("only %d of %d connections subscribed (failed %d, lost %d): %v",
			ready.Subscribed, conns, ready.Failed, ready.Lost, ready.ErrSample)
	}
	phase = "holding"
	h0 := r.srv.Sample()
	r.sleep(hold)
	s1 := r.srv.Sample()
	d1, _ := r.srv.Stats(false)
	n := float64(ready.Subscribed)
	r.metric("server_rss_start_mib", float64(s0.RSS)/(1<<20))
	r.metric("server_rss_mib", float64(s1.RSS)/(1<<20))
	r.metric("rss_per_conn_kib", float64(s1.RSS-s0.RSS)/n/1024)
	r.metric("threads", float64(s1.Threads))
	r.metric("server_idle_cpu_pct", 100*(s1.CPU-h0.CPU).Seconds()/s1.At.Sub(h0.At).Seconds())
	r.metric("client_rss_per_conn_kib", float64(ws.RSS())/n/1024)
	if haveDbg {
		r.metric("heap_per_conn_kib", (float64(d1.HeapInuse)-float64(d0.HeapInuse))/n/1024)
		r.metric("stack_per_conn_kib", (float64(d1.StackInuse)-float64(d0.StackInuse))/n/1024)
		r.metric("goroutines_per_conn", float64(d1.Goroutines-d0.Goroutines)/n)
		r.metric("goroutines", float64(d1.Goroutines))
		if r.profile != "" {
			if err := r.srv.Profile("heap?gc=1", r.profilePath("heap"), 30*time.Second); err != nil {
				r.errorf("heap profile: %v", err)
			} else {
				r.res.Profiles = append(r.res.Profiles, r.profilePath("heap"))
			}
		}
		// After the RSS reading: a forced GC changes what it measures.
		if dg, ok := r.srv.Stats(true); ok {
			r.metric("live_heap_per_conn_kib", (float64(dg.HeapAlloc)-float64(d0.HeapAlloc))/n/1024)
			r.metric("stack_gc_per_conn_kib", (float64(dg.StackInuse)-float64(d0.StackInuse))/n/1024)
		}
		// The floor: RSS once garbage is collected and free pages are
		// returned, i.e. what no GC tuning can go below.
		if _, ok := r.srv.FreeOSMemory(); ok {
			f := r.srv.Sample()
			r.metric("rss_floor_per_conn_kib", float64(f.RSS-s0.RSS)/n/1024)
		}
	}
	st := ws.Stat()
	if st.Lost > 0 {
		r.errorf("%d connections were closed by the server while held: %v", st.Lost, st.ErrSample)
	}
	return nil
}
