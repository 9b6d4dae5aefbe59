package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

func init() {
	var rate, warmRate *float64
	var channels, inflight *int
	var duration, warmup, settle *time.Duration
	scenarios["churn"] = &scenario{
		flags: func(fs *flag.FlagSet) {
			rate = fs.Float64("rate", 500, "connect+subscribe+disconnect cycles started per second")
			channels = fs.Int("channels", 10, "channels; each holds one long-lived subscriber, and cycle i subscribes to channel i mod channels")
			duration = fs.Duration("duration", 10*time.Second, "measured churning time")
			warmup = fs.Duration("warmup", 2*time.Second, "churning before the start sample (not counted)")
			warmRate = fs.Float64("warmup-rate", 0, "cycles per second during the warm-up (0: --rate)")
			settle = fs.Duration("settle", 15*time.Second, "longest wait after the run for goroutines and RSS to come back")
			inflight = fs.Int("inflight", 2000, "cycles in flight at most")
		},
		timeout: func() time.Duration { return 90*time.Second + *warmup + *duration + 2**settle },
		run: func(r *runner) error {
			wr := *warmRate
			if wr <= 0 {
				wr = *rate
			}
			return runChurn(r, *rate, wr, *channels, *duration, *warmup, *settle, *inflight)
		},
		table: []metricDef{
			{"cycles", "cycles completed", "%.0f"},
			{"cycle_errors", "cycles failed", "%.0f"},
			{"cycles_per_s", "cycles/s", "%.1f"},
			{"cycle_p50_ms", "connect→subscribed p50 (ms)", "%.3f"},
			{"cycle_p99_ms", "connect→subscribed p99 (ms)", "%.3f"},
			{"cycle_max_ms", "connect→subscribed max (ms)", "%.3f"},
			{"server_cpu_pct", "server CPU (% of one core)", "%.1f"},
			{"server_cpu_us_per_conn", "server CPU per connection (µs)", "%.1f"},
			{"client_cpu_us_per_conn", "generator CPU per connection (µs)", "%.1f"},
			{"warmup_cycles", "warm-up cycles before the start sample", "%.0f"},
			{"rss_fresh_mib", "server RSS fresh (MiB)", "%.2f"},
			{"rss_start_mib", "server RSS at start, after warm-up (MiB)", "%.2f"},
			{"rss_end_mib", "server RSS after the run (MiB)", "%.2f"},
			{"rss_end_ratio", "RSS after / at start", "%.3f"},
			{"live_heap_start_mib", "server live heap at start (MiB)", "%.2f"},
			{"live_heap_end_mib", "server live heap after the run (MiB)", "%.2f"},
			{"goroutines_start", "server goroutines at start", "%.0f"},
			{"goroutines_end", "server goroutines after the run", "%.0f"},
			{"goroutines_end_ratio", "goroutines after / at start", "%.3f"},
			{"settle_s", "time for them to come back (s)", "%.1f"},
		},
	}
}

// churnConn is one short-lived client.
type churnConn struct {
	gws.BuiltinEventHandler
	subscribed chan struct{}
	once       sync.Once
	failed     chan string
}

func (c *churnConn) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	switch string(frameEvent(m.Bytes())) {
	case "pusher_internal:subscription_succeeded":
		c.once.Do(func() { close(c.subscribed) })
	case "pusher:error", "pusher:subscription_error":
		select {
		case c.failed <- string(m.Bytes()):
		default:
		}
	}
}

// cycle connects, subscribes to channel, waits for subscription_succeeded
// and closes with 1000.
func cycle(ctx context.Context, url, channel string) (time.Duration, error) {
	start := time.Now()
	h := &churnConn{subscribed: make(chan struct{}), failed: make(chan string, 1)}
	conn, _, err := gws.NewClient(h, clientOption(url, nil, 1024))
	if err != nil {
		return 0, err
	}
	go conn.ReadLoop()
	defer func() { _ = conn.WriteClose(1000, nil) }()
	if err := conn.WriteMessage(gws.OpcodeText, subscribeFrame(channel)); err != nil {
		return 0, err
	}
	select {
	case <-h.subscribed:
		return time.Since(start), nil
	case f := <-h.failed:
		return 0, errors.New(f)
	case <-time.After(10 * time.Second):
		return 0, errors.New("no subscription_succeeded within 10s")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

type churner struct {
	ok, failed atomic.Int64
	lat        *hist
	errMu      sync.Mutex
	errs       []string
}

// churn starts rate cycles a second for d, at most inflight at once, and
// waits for them.
func (c *churner) churn(ctx context.Context, url string, rate float64, d time.Duration, channels, inflight int) {
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	start := time.Now()
	total := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < total && ctx.Err() == nil; {
		due := min(int(time.Since(start)/interval)+1, total)
		for ; i < due; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return
			}
			wg.Add(1)
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				lat, err := cycle(ctx, url, channelName(i%channels))
				if err != nil {
					c.failed.Add(1)
					c.errMu.Lock()
					if len(c.errs) < 5 {
						c.errs = append(c.errs, err.Error())
					}
					c.errMu.Unlock()
					return
				}
				c.ok.Add(1)
				c.lat.Record(lat)
			}(i)
		}
		select {
		case <-time.After(time.Until(start.Add(time.Duration(i) * interval))):
		case <-ctx.Done():
		}
	}
	wg.Wait()
}

func runChurn(r *runner, rate, warmRate float64, channels int, duration, warmup, settle time.Duration, inflight int) error {
	c := &churner{lat: new(hist)}
	phase := "starting"
	r.status = func() string {
		sm := r.srv.Sample()
		return fmt.Sprintf("%s: cycles %d failed %d server RSS %.1f MiB threads %d",
			phase, c.ok.Load(), c.failed.Load(), float64(sm.RSS)/(1<<20), sm.Threads)
	}
	r.sleep(time.Second)
	fresh := r.srv.Sample()
	ws, err := startWorkers(r.wsURL(), channels, channels, 1, workerConfig{ReadBuffer: 1024})
	if err != nil {
		return err
	}
	defer ws.Close()
	ready, err := ws.WaitReady(r.ctx)
	if err != nil {
		return fmt.Errorf("holding subscribers: %w %v", err, ready.ErrSample)
	}
	if ready.Subscribed < int64(channels) {
		return fmt.Errorf("holding subscribers: only %d of %d subscribed %v", ready.Subscribed, channels, ready.ErrSample)
	}
	phase = "warm-up"
	c.churn(r.ctx, r.wsURL(), warmRate, warmup, channels, inflight)
	warmCycles := c.ok.Load()
	r.sleep(2 * time.Second)
	s0 := r.srv.Sample()
	d0, haveDbg := r.srv.Stats(false)
	live0, _ := r.srv.Stats(true) // after the RSS reading: a GC does not change RSS at once
	c.ok.Store(0)
	c.failed.Store(0)
	c.lat = new(hist)
	phase = "measuring"
	profDone := make(chan error, 1)
	if r.profile != "" {
		go func() {
			secs := max(int(duration.Seconds()), 1)
			profDone <- r.srv.Profile(fmt.Sprintf("profile?seconds=%d", secs), r.profilePath("cpu"), duration+30*time.Second)
		}()
	}
	self0 := selfCPU()
	t0 := time.Now()
	c.churn(r.ctx, r.wsURL(), rate, duration, channels, inflight)
	el := time.Since(t0).Seconds()
	s1 := r.srv.Sample()
	self1 := selfCPU()
	if r.profile != "" {
		if err := <-profDone; err != nil {
			r.errorf("cpu profile: %v", err)
		} else {
			r.res.Profiles = append(r.res.Profiles, r.profilePath("cpu"))
		}
	}
	phase = "settling"
	end, endDbg := s1, d0
	settleStart := time.Now()
	for time.Since(settleStart) < settle && r.ctx.Err() == nil {
		r.sleep(500 * time.Millisecond)
		end = r.srv.Sample()
		var ok bool
		if endDbg, ok = r.srv.Stats(false); !ok {
			endDbg = d0
		}
		if float64(end.RSS) <= 1.05*float64(s0.RSS) && (!haveDbg || float64(endDbg.Goroutines) <= 1.05*float64(d0.Goroutines)) {
			break
		}
	}
	n := float64(c.ok.Load())
	r.metric("cycles", n)
	r.metric("cycle_errors", float64(c.failed.Load()))
	r.metric("cycles_per_s", n/el)
	h := c.lat.Snap()
	r.metric("cycle_p50_ms", h.Quantile(0.5))
	r.metric("cycle_p99_ms", h.Quantile(0.99))
	r.metric("cycle_max_ms", h.Quantile(1))
	srvCPU := (s1.CPU - s0.CPU).Seconds()
	r.metric("server_cpu_pct", 100*srvCPU/s1.At.Sub(s0.At).Seconds())
	if n > 0 {
		r.metric("server_cpu_us_per_conn", srvCPU*1e6/n)
		r.metric("client_cpu_us_per_conn", (self1-self0).Seconds()*1e6/n)
	}
	r.metric("warmup_cycles", float64(warmCycles))
	r.metric("rss_fresh_mib", float64(fresh.RSS)/(1<<20))
	r.metric("rss_start_mib", float64(s0.RSS)/(1<<20))
	r.metric("rss_end_mib", float64(end.RSS)/(1<<20))
	r.metric("rss_end_ratio", float64(end.RSS)/float64(s0.RSS))
	r.metric("settle_s", time.Since(settleStart).Seconds())
	if haveDbg {
		if live1, ok := r.srv.Stats(true); ok {
			r.metric("live_heap_start_mib", float64(live0.HeapAlloc)/(1<<20))
			r.metric("live_heap_end_mib", float64(live1.HeapAlloc)/(1<<20))
		}
		if r.profile != "" {
			if err := r.srv.Profile("heap?gc=1", r.profilePath("heap-end"), 30*time.Second); err == nil {
				r.res.Profiles = append(r.res.Profiles, r.profilePath("heap-end"))
			}
		}
		r.metric("goroutines_start", float64(d0.Goroutines))
		r.metric("goroutines_end", float64(endDbg.Goroutines))
		r.metric("goroutines_end_ratio", float64(endDbg.Goroutines)/float64(d0.Goroutines))
	}
	if c.failed.Load() > 0 {
		r.errorf("%d cycles failed: %v", c.failed.Load(), c.errs)
	}
	return nil
}
