package main

import (
	"flag"
	"fmt"
	"time"
)

func init() {
	var conns, channels, payload, publishers, subsPerConn, perEvent *int
	var rate *float64
	var duration, warmup, drain *time.Duration
	scenarios["fanout"] = &scenario{
		flags: func(fs *flag.FlagSet) {
			conns = fs.Int("conns", 2000, "subscribed connections")
			channels = fs.Int("channels", 10, "channels; connection i subscribes to channel i mod channels (and the next ones, --subs-per-conn)")
			subsPerConn = fs.Int("subs-per-conn", 1, "channels per connection: connection i subscribes to channels i, i+1, …, i+k-1 mod channels")
			perEvent = fs.Int("channels-per-event", 1, "channels each API event names (\"channels\": [...]); the channels are cut into groups of this many consecutive ones and event i goes to group i mod groups; must divide --channels")
			rate = fs.Float64("rate", 200, "API events per second, over all channels (event i goes to channel i mod channels)")
			duration = fs.Duration("duration", 10*time.Second, "measured publishing time")
			warmup = fs.Duration("warmup", 2*time.Second, "publishing at the same rate before measuring (not counted)")
			drain = fs.Duration("drain", 5*time.Second, "longest wait for deliveries after the last publish")
			payload = fs.Int("payload", 64, "padding bytes in each event's data")
			publishers = fs.Int("publishers", 16, "concurrent HTTP requests at most (keep-alive connections)")
		},
		timeout: func() time.Duration {
			return 90*time.Second + *warmup + *duration + *drain + time.Duration(*conns)*5*time.Millisecond
		},
		cluster: true,
		run: func(r *runner) error {
			return runFanout(r, fanoutOpts{conns: *conns, channels: *channels, subsPerConn: *subsPerConn, perEvent: *perEvent,
				rate: *rate, duration: *duration, warmup: *warmup, drain: *drain, payload: *payload, publishers: *publishers})
		},
		table: []metricDef{
			{"subscribed", "connections subscribed", "%.0f"},
			{"connect_s", "connect+subscribe time (s)", "%.2f"},
			{"published", "events published (accepted)", "%.0f"},
			{"publish_errors", "publish errors", "%.0f"},
			{"publish_lag_max_ms", "publisher max lag behind schedule (ms)", "%.1f"},
			{"expected", "deliveries expected", "%.0f"},
			{"delivered", "deliveries received (unique)", "%.0f"},
			{"missing", "missing deliveries", "%.0f"},
			{"duplicates", "duplicate deliveries", "%.0f"},
			{"unexpected", "unexpected deliveries (failed publishes)", "%.0f"},
			{"deliveries_per_s", "deliveries/s", "%.0f"},
			{"throughput_per_s", "deliveries/s until the last arrived (throughput)", "%.0f"},
			{"lat_p50_ms", "delivery latency p50 (ms)", "%.3f"},
			{"lat_p90_ms", "delivery latency p90 (ms)", "%.3f"},
			{"lat_p99_ms", "delivery latency p99 (ms)", "%.3f"},
			{"lat_p999_ms", "delivery latency p99.9 (ms)", "%.3f"},
			{"lat_max_ms", "delivery latency max (ms)", "%.3f"},
			{"publish_p50_ms", "API request latency p50 (ms)", "%.3f"},
			{"publish_p99_ms", "API request latency p99 (ms)", "%.3f"},
			{"server_cpu_pct", "server CPU (% of one core)", "%.1f"},
			{"server_cpu_us_per_delivery", "server CPU per delivery (µs)", "%.2f"},
			{"client_cpu_us_per_delivery", "generator CPU per delivery (µs)", "%.2f"},
			{"client_cpu_pct", "generator CPU (% of one core)", "%.1f"},
			{"server_rss_mib", "server RSS at the end (MiB)", "%.1f"},
			{"frames_per_burst", "frames per socket per event (a burst)", "%.2f"},
			{"server_write_syscalls", "server write syscalls (syscw)", "%.0f"},
			{"write_syscalls_per_delivery_raw", "write syscalls per delivery (all)", "%.3f"},
			{"write_syscalls_per_delivery", "write syscalls per delivery (less one per API response)", "%.3f"},
			{"write_syscalls_per_burst", "write syscalls per burst (less one per API response)", "%.3f"},
			{"nodes", "nodes (server CPU, RSS: their sums)", "%.0f"},
			{"node_cpu_pct_max", "busiest node CPU (% of one core)", "%.1f"},
			{"node_cpu_pct_min", "least busy node CPU (% of one core)", "%.1f"},
			{"etcd_cpu_pct", "etcd CPU (% of one core, not summed)", "%.1f"},
		},
	}
}

// fanoutOpts are the fanout scenario's flags.
type fanoutOpts struct {
	conns, channels, subsPerConn, perEvent int
	rate                                   float64
	duration, warmup, drain                time.Duration
	payload, publishers                    int
}

func runFanout(r *runner, o fanoutOpts) error {
	conns, channels, rate, duration, warmup, drain := o.conns, o.channels, o.rate, o.duration, o.warmup, o.drain
	o.subsPerConn, o.perEvent = max(o.subsPerConn, 1), max(o.perEvent, 1)
	switch {
	case conns < 1 || channels < 1 || rate <= 0:
		return fmt.Errorf("need conns ≥ 1, channels ≥ 1, rate > 0")
	case o.subsPerConn > channels:
		return fmt.Errorf("--subs-per-conn %d is more than the %d channels", o.subsPerConn, channels)
	case channels%o.perEvent != 0 || o.perEvent > 100:
		return fmt.Errorf("--channels-per-event %d must divide --channels %d and be at most 100", o.perEvent, channels)
	}
	payload, publishers := o.payload, o.publishers
	var phase string
	var acc *accepted
	var ws *workerSet
	pub := newPublisher(r.srv.API, r.appID, r.key, r.secret, publishers, payload)
	cluster := len(r.fleet.nodes) > 1
	if cluster {
		pub.spread(r.apiAddrs())
	}
	r.status = func() string {
		if ws == nil {
			return "starting"
		}
		s := ws.Stat()
		sm := r.fleet.Sample()
		return fmt.Sprintf("%s: subscribed %d/%d published %d (err %d) delivered %d server RSS %.0f MiB",
			phase, s.Subscribed, conns, pub.ok.Load(), pub.failed.Load(), s.Delivered, float64(sm.RSS)/(1<<20))
	}
	phase = "connecting"
	ws, err := startWorkers(r.wsURL(), conns, channels, r.procs, workerConfig{ReadBuffer: 4096, URLs: r.wsURLs(), SubsPerConn: o.subsPerConn})
	if err != nil {
		return err
	}
	defer ws.Close()
	ready, err := ws.WaitReady(r.ctx)
	r.metric("subscribed", float64(ready.Subscribed))
	r.metric("connect_s", ready.ConnectSecs)
	if err != nil {
		return err
	}
	if ready.Subscribed < int64(conns) {
		return fmt.Errorf("only %d of %d connections subscribed (failed %d, lost %d): %v",
			ready.Subscribed, conns, ready.Failed, ready.Lost, ready.ErrSample)
	}
	phase = "warm-up"
	paced(r.ctx, pub, eventWarm, rate, warmup, channels, o.perEvent, publishers, nil)
	r.sleep(500 * time.Millisecond)
	pub.ok.Store(0)
	pub.failed.Store(0)
	pub.lat = new(hist)

	phase = "measuring"
	acc = newAccepted(channels)
	nodes0, c0 := r.fleet.Samples(), ws.CPU()+selfCPU()
	var etcd0 procSample
	if r.fleet.etcd != nil {
		etcd0, _ = readProc(r.fleet.etcd.PID)
	}
	profNames := []string{"cpu"}
	if cluster {
		profNames = nil
		for i := range r.fleet.nodes {
			profNames = append(profNames, fmt.Sprintf("cpu-node%d", i+1))
		}
	}
	profDone := make(chan error, len(profNames))
	if r.profile != "" {
		for i, pn := range profNames {
			go func() {
				secs := int(duration.Seconds())
				if secs < 1 {
					secs = 1
				}
				profDone <- r.fleet.nodes[i].Profile(fmt.Sprintf("profile?seconds=%d", secs), r.profilePath(pn), duration+30*time.Second)
			}()
		}
	}
	sent, lag := paced(r.ctx, pub, eventMeasured, rate, duration, channels, o.perEvent, publishers, acc)
	pubEnd := time.Now()
	sets := acc.snapshot()
	subs := subscribersOf(conns, channels, o.subsPerConn)
	var expected int64
	for c, s := range sets {
		expected += int64(s.count()) * int64(subs[c])
	}
	bursts := burstsOf(sets, conns, channels, o.subsPerConn, o.perEvent)
	phase = "draining"
	deadline := pubEnd.Add(drain)
	for time.Now().Before(deadline) && r.ctx.Err() == nil {
		if int64(ws.Stat().Delivered) >= expected { //nolint:gosec // G115: a count of received frames, far below 2^63
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	nodes1, c1 := r.fleet.Samples(), ws.CPU()+selfCPU()
	var etcd1 procSample
	if r.fleet.etcd != nil {
		etcd1, _ = readProc(r.fleet.etcd.PID)
	}
	s0, s1 := sumSamples(nodes0), sumSamples(nodes1)
	if r.profile != "" {
		failed := false
		for range profNames {
			if err := <-profDone; err != nil {
				r.errorf("cpu profile: %v", err)
				failed = true
			}
		}
		if !failed {
			for _, pn := range profNames {
				r.res.Profiles = append(r.res.Profiles, r.profilePath(pn))
			}
		}
	}
	phase = "tallying"
	tally, err := ws.Finish(r.ctx, sets)
	if err != nil {
		return err
	}
	st := ws.Stat()
	if st.Lost > 0 {
		r.errorf("%d connections were closed by the server during the run: %v", st.Lost, st.ErrSample)
	}
	if pub.failed.Load() > 0 {
		r.errorf("%d publishes failed: %v", pub.failed.Load(), pub.errs)
	}
	delivered := float64(tally.Unique)
	srvCPU := (s1.CPU - s0.CPU).Seconds()
	r.metric("sent", float64(sent))
	r.metric("published", float64(pub.ok.Load()))
	r.metric("publish_errors", float64(pub.failed.Load()))
	r.metric("publish_lag_max_ms", float64(lag)/1e6)
	r.metric("expected", float64(expected))
	r.metric("delivered", delivered)
	r.metric("missing", float64(tally.Missing))
	r.metric("duplicates", float64(tally.Dups))
	r.metric("unexpected", float64(tally.Unexpected))
	r.metric("misrouted", float64(tally.Misrouted))
	r.metric("deliveries_per_s", delivered/duration.Seconds())
	h := tally.Hist
	r.metric("lat_p50_ms", h.Quantile(0.50))
	r.metric("lat_p90_ms", h.Quantile(0.90))
	r.metric("lat_p99_ms", h.Quantile(0.99))
	r.metric("lat_p999_ms", h.Quantile(0.999))
	r.metric("lat_max_ms", h.Quantile(1))
	ps := pub.lat.Snap()
	r.metric("publish_p50_ms", ps.Quantile(0.5))
	r.metric("publish_p99_ms", ps.Quantile(0.99))
	window := s1.At.Sub(s0.At).Seconds()
	r.metric("server_cpu_pct", 100*srvCPU/window)
	// From the first measured publish until every delivery arrived (or the
	// drain gave up): what the server delivered when it falls behind.
	r.metric("throughput_per_s", delivered/window)
	if delivered > 0 {
		r.metric("server_cpu_us_per_delivery", srvCPU*1e6/delivered)
		r.metric("client_cpu_us_per_delivery", (c1-c0).Seconds()*1e6/delivered)
	}
	r.metric("client_cpu_pct", 100*(c1-c0).Seconds()/window)
	r.metric("server_rss_mib", float64(s1.RSS)/(1<<20))
	if s0.SyscW >= 0 && s1.SyscW >= 0 && delivered > 0 {
		// Every API request is answered with one write; what remains is
		// the frames' writes (and the rare write of the Go runtime's
		// netpoller wake-up, an eventfd).
		w := float64(s1.SyscW - s0.SyscW)
		net := w - float64(pub.ok.Load()+pub.failed.Load())
		r.metric("server_write_syscalls", w)
		r.metric("write_syscalls_per_delivery_raw", w/delivered)
		r.metric("write_syscalls_per_delivery", net/delivered)
		if bursts > 0 {
			r.metric("frames_per_burst", float64(expected)/float64(bursts))
			r.metric("write_syscalls_per_burst", net/float64(bursts))
		}
	}
	if cluster {
		r.metric("nodes", float64(len(nodes1)))
		for i := range nodes1 {
			if !r.fleet.nodes[i].Alive() { // no reading at the end; the run reports its exit
				continue
			}
			pct := 100 * (nodes1[i].CPU - nodes0[i].CPU).Seconds() / window
			r.metric(fmt.Sprintf("node%d_cpu_pct", i+1), pct)
			r.metric(fmt.Sprintf("node%d_rss_mib", i+1), float64(nodes1[i].RSS)/(1<<20))
			if mx, ok := r.res.Metrics["node_cpu_pct_max"]; !ok || pct > mx {
				r.metric("node_cpu_pct_max", pct)
			}
			if mn, ok := r.res.Metrics["node_cpu_pct_min"]; !ok || pct < mn {
				r.metric("node_cpu_pct_min", pct)
			}
		}
		r.metric("etcd_cpu_pct", 100*(etcd1.CPU-etcd0.CPU).Seconds()/window)
	}
	return nil
}

// burstsOf counts the bursts of the accepted events: an event to a group
// of perEvent channels reaches every connection subscribed to one of them
// or more, with as many frames at once as it has channels in the group.
func burstsOf(sets []bitset, conns, channels, subsPerConn, perEvent int) int64 {
	groups := channels / perEvent
	reached := make([]int64, groups)
	seen := make([]int, groups) // the last connection counted per group, +1
	for i := 0; i < conns; i++ {
		for _, c := range channelsOf(i, channels, subsPerConn) {
			if g := c / perEvent; seen[g] != i+1 {
				seen[g] = i + 1
				reached[g]++
			}
		}
	}
	var n int64
	for g := range reached {
		n += int64(sets[g*perEvent].count()) * reached[g]
	}
	return n
}

// sumSamples adds the CPU, RSS and threads of several processes read at
// about the same time (At is the first one's).
func sumSamples(ps []procSample) procSample {
	var sum procSample
	for i, p := range ps {
		if i == 0 {
			sum.At = p.At
		}
		sum.CPU += p.CPU
		sum.RSS += p.RSS
		sum.Threads += p.Threads
		if p.SyscW < 0 || sum.SyscW < 0 {
			sum.SyscW = -1
		} else {
			sum.SyscW += p.SyscW
		}
	}
	return sum
}
