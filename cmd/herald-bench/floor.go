package main

import (
	"flag"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The floor scenario holds plain TCP connections to bench/floor: what a
// connection costs a Go server before gws, Herald or any protocol, in
// each of the floor server's modes (--mode). Its figures are the idle
// scenario's, so the two read side by side.
func init() {
	var conns *int
	var mode *string
	var hold *time.Duration
	scenarios["floor"] = &scenario{
		server: "floor",
		flags: func(fs *flag.FlagSet) {
			conns = fs.Int("conns", 15000, "connections to hold (at most ~19 000: one process holds them, under the 20 000-fd limit)")
			mode = fs.String("mode", "read", "the floor server's mode: read (a goroutine per connection blocked in Read, 256-byte buffer), grown (the same after 3 KiB of stack once) or epoll (no goroutine per connection)")
			hold = fs.Duration("hold", 5*time.Second, "how long the connections are held before the server is measured")
		},
		env:     func() []string { return []string{"BENCH_FLOOR_MODE=" + *mode} },
		timeout: func() time.Duration { return 90*time.Second + *hold + time.Duration(*conns)*time.Millisecond },
		run:     func(r *runner) error { return runFloor(r, *conns, *hold) },
		table: []metricDef{
			{"connected", "connections held", "%.0f"},
			{"server_rss_start_mib", "server RSS before (MiB)", "%.1f"},
			{"server_rss_mib", "server RSS with the connections (MiB)", "%.1f"},
			{"rss_per_conn_kib", "marginal RSS per connection (KiB)", "%.2f"},
			{"rss_floor_per_conn_kib", "marginal RSS after GC + FreeOSMemory (KiB)", "%.2f"},
			{"heap_per_conn_kib", "heap in use per connection (KiB)", "%.2f"},
			{"live_heap_per_conn_kib", "live heap per connection after GC (KiB)", "%.2f"},
			{"stack_per_conn_kib", "goroutine stacks per connection (KiB)", "%.2f"},
			{"stack_gc_per_conn_kib", "goroutine stacks per connection after a GC (KiB)", "%.2f"},
			{"goroutines_per_conn", "goroutines per connection", "%.3f"},
		},
	}
}

func runFloor(r *runner, conns int, hold time.Duration) error {
	var held atomic.Int64
	r.status = func() string {
		return fmt.Sprintf("held %d/%d server RSS %.1f MiB", held.Load(), conns, float64(r.srv.Sample().RSS)/(1<<20))
	}
	r.sleep(time.Second)
	s0 := r.srv.Sample()
	d0, haveDbg := r.srv.Stats(false)
	cs := make([]net.Conn, conns)
	defer func() {
		for _, c := range cs {
			if c != nil {
				_ = c.Close() // the end of the run: nothing to report
			}
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 32)
	d := net.Dialer{Timeout: 10 * time.Second}
	for i := range cs {
		if r.ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := d.DialContext(r.ctx, "tcp", r.srv.WS)
			if err != nil {
				failed.Add(1)
				return
			}
			// One small message, as a client's subscribe: the server's
			// read goroutine runs once.
			if _, err := c.Write([]byte("subscribe")); err != nil {
				failed.Add(1)
				_ = c.Close()
				return
			}
			cs[i] = c
			held.Add(1)
		}()
	}
	wg.Wait()
	n := float64(held.Load())
	r.metric("connected", n)
	if failed.Load() > 0 || n == 0 {
		return fmt.Errorf("%d of %d connections failed", failed.Load(), conns)
	}
	r.sleep(hold)
	s1 := r.srv.Sample()
	r.metric("server_rss_start_mib", float64(s0.RSS)/(1<<20))
	r.metric("server_rss_mib", float64(s1.RSS)/(1<<20))
	r.metric("rss_per_conn_kib", float64(s1.RSS-s0.RSS)/n/1024)
	if !haveDbg {
		return nil
	}
	d1, _ := r.srv.Stats(false)
	r.metric("heap_per_conn_kib", (float64(d1.HeapInuse)-float64(d0.HeapInuse))/n/1024)
	r.metric("stack_per_conn_kib", (float64(d1.StackInuse)-float64(d0.StackInuse))/n/1024)
	r.metric("goroutines_per_conn", float64(d1.Goroutines-d0.Goroutines)/n)
	if r.profile != "" {
		if err := r.srv.Profile("heap?gc=1", r.profilePath("heap"), 30*time.Second); err != nil {
			r.errorf("heap profile: %v", err)
		} else {
			r.res.Profiles = append(r.res.Profiles, r.profilePath("heap"))
		}
	}
	if dg, ok := r.srv.Stats(true); ok {
		r.metric("live_heap_per_conn_kib", (float64(dg.HeapAlloc)-float64(d0.HeapAlloc))/n/1024)
		r.metric("stack_gc_per_conn_kib", (float64(dg.StackInuse)-float64(d0.StackInuse))/n/1024)
	}
	if _, ok := r.srv.FreeOSMemory(); ok {
		r.metric("rss_floor_per_conn_kib", float64(r.srv.Sample().RSS-s0.RSS)/n/1024)
	}
	return nil
}
