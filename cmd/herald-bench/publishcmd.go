package main

import (
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	var subs, concurrency, payload *int
	var rate *float64
	var duration, warmup *time.Duration
	scenarios["publish"] = &scenario{
		flags: func(fs *flag.FlagSet) {
			subs = fs.Int("subs", 10, "subscribers of the channel published to")
			concurrency = fs.Int("concurrency", 16, "requests in flight (closed loop; with --rate, at most), one keep-alive connection each")
			rate = fs.Float64("rate", 0, "open loop: requests per second on a fixed schedule, whatever the answers (0: closed loop, as fast as answered)")
			duration = fs.Duration("duration", 10*time.Second, "measured time")
			warmup = fs.Duration("warmup", 2*time.Second, "publishing before measuring (not counted)")
			payload = fs.Int("payload", 64, "padding bytes in each event's data")
		},
		timeout: func() time.Duration { return 90*time.Second + *warmup + *duration },
		run: func(r *runner) error {
			return runPublish(r, *subs, *concurrency, *rate, *duration, *warmup, *payload)
		},
		table: []metricDef{
			{"subscribed", "subscribers", "%.0f"},
			{"requests_per_s", "API requests/s", "%.0f"},
			{"published", "requests accepted", "%.0f"},
			{"publish_errors", "request errors", "%.0f"},
			{"offered_per_s", "open loop: requests/s offered", "%.0f"},
			{"publish_lag_max_ms", "open loop: publisher max lag behind schedule (ms)", "%.1f"},
			{"publish_p50_ms", "request latency p50 (ms)", "%.3f"},
			{"publish_p90_ms", "request latency p90 (ms)", "%.3f"},
			{"publish_p99_ms", "request latency p99 (ms)", "%.3f"},
			{"publish_p999_ms", "request latency p99.9 (ms)", "%.3f"},
			{"publish_max_ms", "request latency max (ms)", "%.3f"},
			{"missing", "missing deliveries", "%.0f"},
			{"duplicates", "duplicate deliveries", "%.0f"},
			{"lat_p99_ms", "delivery latency p99 (ms)", "%.3f"},
			{"lat_p999_ms", "delivery latency p99.9 (ms)", "%.3f"},
			{"server_cpu_pct", "server CPU (% of one core)", "%.1f"},
			{"server_cpu_us_per_request", "server CPU per request (µs)", "%.2f"},
			{"client_cpu_pct", "generator CPU (% of one core)", "%.1f"},
		},
	}
}

// runPublish publishes to one channel, in a closed loop (rate 0: each of
// concurrency goroutines publishes, waits for the answer, and publishes
// again) or open loop at rate requests/s (paced, at most concurrency in
// flight).
func runPublish(r *runner, subs, concurrency int, rate float64, duration, warmup time.Duration, payload int) error {
	pub := newPublisher(r.srv.API, r.appID, r.key, r.secret, concurrency, payload)
	var ws *workerSet
	phase := "connecting"
	r.status = func() string {
		if ws == nil {
			return phase
		}
		s := ws.Stat()
		return fmt.Sprintf("%s: accepted %d errors %d delivered %d", phase, pub.ok.Load(), pub.failed.Load(), s.Delivered)
	}
	ws, err := startWorkers(r.wsURL(), subs, 1, 1, workerConfig{ReadBuffer: 4096})
	if err != nil {
		return err
	}
	defer ws.Close()
	ready, err := ws.WaitReady(r.ctx)
	r.metric("subscribed", float64(ready.Subscribed))
	if err != nil {
		return err
	}
	if ready.Subscribed < int64(subs) {
		return fmt.Errorf("only %d of %d connections subscribed: %v", ready.Subscribed, subs, ready.ErrSample)
	}
	var lag time.Duration
	loop := func(name string, d time.Duration, acc *accepted) {
		if rate > 0 {
			_, lag = paced(r.ctx, pub, name, rate, d, 1, 1, concurrency, acc)
			return
		}
		var seq atomic.Int64
		end := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := 0; w < concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) && r.ctx.Err() == nil {
					s := int(seq.Add(1) - 1)
					if pub.publish(name, 0, s) && acc != nil {
						acc.add(0, s)
					}
				}
			}()
		}
		wg.Wait()
	}
	phase = "warm-up"
	loop(eventWarm, warmup, nil)
	r.sleep(300 * time.Millisecond)
	pub.ok.Store(0)
	pub.failed.Store(0)
	pub.lat = new(hist)
	phase = "measuring"
	acc := newAccepted(1)
	profDone := make(chan error, 1)
	if r.profile != "" {
		go func() {
			secs := max(int(duration.Seconds()), 1)
			profDone <- r.srv.Profile(fmt.Sprintf("profile?seconds=%d", secs), r.profilePath("cpu"), duration+30*time.Second)
		}()
	}
	s0, self0, t0 := r.srv.Sample(), selfCPU()+ws.CPU(), time.Now()
	loop(eventMeasured, duration, acc)
	s1, self1, t1 := r.srv.Sample(), selfCPU()+ws.CPU(), time.Now()
	if r.profile != "" {
		if err := <-profDone; err != nil {
			r.errorf("cpu profile: %v", err)
		} else {
			r.res.Profiles = append(r.res.Profiles, r.profilePath("cpu"))
		}
	}
	sets := acc.snapshot()
	expected := int64(sets[0].count()) * int64(subs)
	phase = "draining"
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && r.ctx.Err() == nil && int64(ws.Stat().Delivered) < expected { //nolint:gosec // G115: a count of received frames, far below 2^63
		time.Sleep(20 * time.Millisecond)
	}
	tally, err := ws.Finish(r.ctx, sets)
	if err != nil {
		return err
	}
	if pub.failed.Load() > 0 {
		r.errorf("%d requests failed: %v", pub.failed.Load(), pub.errs)
	}
	ok := float64(pub.ok.Load())
	el := t1.Sub(t0).Seconds()
	r.metric("published", ok)
	r.metric("publish_errors", float64(pub.failed.Load()))
	r.metric("requests_per_s", ok/el)
	ps := pub.lat.Snap()
	r.metric("publish_p50_ms", ps.Quantile(0.5))
	r.metric("publish_p90_ms", ps.Quantile(0.9))
	r.metric("publish_p99_ms", ps.Quantile(0.99))
	r.metric("publish_p999_ms", ps.Quantile(0.999))
	r.metric("publish_max_ms", ps.Quantile(1))
	if rate > 0 {
		r.metric("offered_per_s", rate)
		r.metric("publish_lag_max_ms", float64(lag)/1e6)
	}
	r.metric("expected", float64(expected))
	r.metric("delivered", float64(tally.Unique))
	r.metric("missing", float64(tally.Missing))
	r.metric("duplicates", float64(tally.Dups))
	r.metric("lat_p99_ms", tally.Hist.Quantile(0.99))
	r.metric("lat_p999_ms", tally.Hist.Quantile(0.999))
	srvCPU := (s1.CPU - s0.CPU).Seconds()
	r.metric("server_cpu_pct", 100*srvCPU/s1.At.Sub(s0.At).Seconds())
	if ok > 0 {
		r.metric("server_cpu_us_per_request", srvCPU*1e6/ok)
	}
	r.metric("client_cpu_pct", 100*(self1-self0).Seconds()/el)
	return nil
}
