package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herald-push/herald/pusher"
	"github.com/lxzan/gws"
)

// The soak scenario runs a mixed, bounded load against one server for
// --duration and watches the server process for growth: its RSS (VmRSS of
// /proc/PID/status), goroutines (bench/benchdebug's /debug/bench) and open
// fds (/proc/PID/fd) at the start (after the warm-up), every --sample-every
// and at the end. The load, all on loopback and all at fixed rates:
//
//   - steady: --conns subscribers over --channels public channels, and
//     --rate signed API publishes a second over those channels; every
//     subscriber checks it receives every accepted event (missing);
//   - churn: connect, subscribe to a public channel, close;
//   - presence: connect, join presence-soak with signed channel_data as a
//     new user, stay --presence-hold, leave (unsubscribe or close); an
//     observer member counts member_added and member_removed;
//   - client events: --chat-clients steady clients on each of
//     --chat-channels private channels send client-soak events to each other;
//   - signin: connect, pusher:signin with signed user_data, drop the TCP
//     connection (every other one right after sending, the others after
//     signin_success);
//   - slow reader: one socket on soak-busy (published at --busy-rate) that
//     stops reading for --slow-stall, through a small receive buffer, so
//     the server cuts it (4100) when its write queue fills; then it reads
//     what it was sent for 2 s, which ends in the close if it was cut (it
//     reconnects after a second, and the cuts are counted), and stalls
//     again. Two fast subscribers of soak-busy check nobody else notices.
//
// Every operation counted includes the warm-up; the samples and growth
// ratios are of the measured phase.

// soakOpts are the soak scenario's flags.
type soakOpts struct {
	duration, warmup, every, drain, settle time.Duration
	conns, channels, payload, publishers   int
	rate                                   float64
	churnRate                              float64
	presenceRate                           float64
	presenceHold                           time.Duration
	clientEvents                           float64
	chatChannels, chatClients              int
	signinRate                             float64
	busyRate                               float64
	busyPayload                            int
	slowStall                              time.Duration
	slowRcvbuf                             int
	inflight                               int
}

func (o *soakOpts) register(fs *flag.FlagSet) {
	fs.DurationVar(&o.duration, "duration", 30*time.Minute, "measured soak time, after the warm-up")
	fs.DurationVar(&o.warmup, "warmup", 30*time.Second, "load before the start sample (its operations are counted)")
	fs.DurationVar(&o.every, "sample-every", time.Minute, "interval of the server samples (RSS, goroutines, fds) during the run")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "longest wait for deliveries after the load stops")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "wait after every client closed before the last sample")
	fs.IntVar(&o.conns, "conns", 500, "steady subscribers receiving the publishes")
	fs.IntVar(&o.channels, "channels", 50, "public channels of the steady subscribers; subscriber i is on channel i mod channels")
	fs.Float64Var(&o.rate, "rate", 200, "signed API publishes per second over the steady channels (event i to channel i mod channels; 0: none)")
	fs.IntVar(&o.payload, "payload", 64, "padding bytes in each steady event's data")
	fs.IntVar(&o.publishers, "publishers", 8, "concurrent HTTP requests at most (keep-alive connections)")
	fs.Float64Var(&o.churnRate, "churn-rate", 50, "connect+subscribe+close cycles per second, half on the steady channels, half on their own (0: none)")
	fs.Float64Var(&o.presenceRate, "presence-rate", 10, "presence joins per second, each by a new user (0: none)")
	fs.DurationVar(&o.presenceHold, "presence-hold", time.Second, "how long a presence member stays before it leaves")
	fs.Float64Var(&o.clientEvents, "client-event-rate", 20, "client events per second over the chat channels (0: none)")
	fs.IntVar(&o.chatChannels, "chat-channels", 5, "private channels carrying the client events")
	fs.IntVar(&o.chatClients, "chat-clients", 2, "steady clients on each chat channel, taking turns to send (>= 2)")
	fs.Float64Var(&o.signinRate, "signin-rate", 10, "pusher:signin then drop cycles per second, each by a new user (0: none)")
	fs.Float64Var(&o.busyRate, "busy-rate", 50, "publishes per second to soak-busy, the slow reader's channel (0: no busy channel, no slow reader)")
	fs.IntVar(&o.busyPayload, "busy-payload", 4096, "padding bytes in each soak-busy event")
	fs.DurationVar(&o.slowStall, "slow-stall", 40*time.Second, "the slow reader stops reading for this long, then reads what it was sent for 2 s, and again")
	fs.IntVar(&o.slowRcvbuf, "slow-rcvbuf", 8192, "the slow reader's socket receive buffer (SO_RCVBUF, bytes; 0: the kernel's)")
	fs.IntVar(&o.inflight, "inflight", 100, "short-lived cycles of each kind in flight at most")
}

func (o *soakOpts) check() error {
	switch {
	case o.duration <= 0 || o.every <= 0 || o.warmup < 0:
		return errors.New("need --duration > 0, --sample-every > 0, --warmup >= 0")
	case o.conns < 1 || o.channels < 1:
		return errors.New("need --conns >= 1 and --channels >= 1")
	case o.clientEvents > 0 && (o.chatChannels < 1 || o.chatClients < 2):
		return errors.New("client events need --chat-channels >= 1 and --chat-clients >= 2")
	case o.clientEvents > 0 && o.clientEvents/float64(o.chatChannels*o.chatClients) > 8:
		// The dev app allows 10 client events a second per connection.
		return fmt.Errorf("--client-event-rate %.0f over %d senders is more than 8/s each: raise --chat-channels or --chat-clients",
			o.clientEvents, o.chatChannels*o.chatClients)
	case o.inflight < 1 || o.publishers < 1:
		return errors.New("need --inflight >= 1 and --publishers >= 1")
	}
	return nil
}

func init() {
	var o soakOpts
	scenarios["soak"] = &scenario{
		flags:   o.register,
		timeout: func() time.Duration { return 3*time.Minute + o.warmup + o.duration + o.drain + o.settle },
		run:     func(r *runner) error { return runSoak(r, o) },
		table: []metricDef{
			{"measured_s", "measured time (s)", "%.0f"},
			{"ops", "operations, warm-up included", "%.0f"},
			{"publishes", "  API publishes accepted (steady channels)", "%.0f"},
			{"busy_publishes", "  API publishes accepted (soak-busy)", "%.0f"},
			{"churn_cycles", "  churn cycles", "%.0f"},
			{"presence_joins", "  presence joins (each left)", "%.0f"},
			{"client_events", "  client events sent", "%.0f"},
			{"signins", "  signin+drop cycles", "%.0f"},
			{"skipped", "operations skipped (generator > 1 s behind)", "%.0f"},
			{"skipped_busy", "  soak-busy publishes", "%.0f"},
			{"skipped_churn", "  churn cycles", "%.0f"},
			{"skipped_presence", "  presence joins", "%.0f"},
			{"skipped_signin", "  signin cycles", "%.0f"},
			{"skipped_client_event", "  client events", "%.0f"},
			{"client_events_unsent", "client events not sent (a chat client reconnecting)", "%.0f"},
			{"errors", "errors", "%.0f"},
			{"missing", "missing deliveries (steady subscribers)", "%.0f"},
			{"duplicates", "duplicate deliveries (steady subscribers)", "%.0f"},
			{"busy_missing", "missing deliveries (soak-busy's fast subscribers)", "%.0f"},
			{"client_events_missing", "missing client events", "%.0f"},
			{"client_events_rejected", "client events rejected", "%.0f"},
			{"presence_missing", "missing member_added/member_removed", "%.0f"},
			{"slow_cuts", "slow-reader cuts (reconnects)", "%.0f"},
			{"slow_cuts_4100", "  with a 4100 close frame", "%.0f"},
			{"slow_cuts_close", "  with another close frame", "%.0f"},
			{"slow_cuts_eof", "  TCP closed without a close frame (EOF)", "%.0f"},
			{"slow_cuts_reset", "  TCP reset", "%.0f"},
			{"slow_cuts_other", "  another error", "%.0f"},
			{"lat_p50_ms", "delivery latency p50 (ms)", "%.3f"},
			{"lat_p99_ms", "delivery latency p99 (ms)", "%.3f"},
			{"lat_max_ms", "delivery latency max (ms)", "%.3f"},
			{"server_cpu_pct", "server CPU (% of one core)", "%.1f"},
			{"client_cpu_pct", "generator CPU (% of one core)", "%.1f"},
			{"rss_start_mib", "server RSS at start (MiB)", "%.1f"},
			{"rss_1m_mib", "server RSS at 1 min, the growth base (MiB)", "%.1f"},
			{"rss_end_mib", "server RSS at the end (MiB)", "%.1f"},
			{"rss_growth", "server RSS end / 1 min", "%.3f"},
			{"goroutines_start", "server goroutines at start", "%.0f"},
			{"goroutines_1m", "server goroutines at 1 min, the growth base", "%.0f"},
			{"goroutines_end", "server goroutines at the end", "%.0f"},
			{"goroutines_growth", "server goroutines end / 1 min", "%.3f"},
			{"fds_start", "server fds at start", "%.0f"},
			{"fds_1m", "server fds at 1 min, the growth base", "%.0f"},
			{"fds_end", "server fds at the end", "%.0f"},
			{"fds_growth", "server fds end / 1 min", "%.3f"},
			{"live_heap_start_mib", "server live heap at start (MiB, after a GC)", "%.2f"},
			{"live_heap_1m_mib", "server live heap at 1 min, the growth base (MiB)", "%.2f"},
			{"live_heap_end_mib", "server live heap at the end (MiB)", "%.2f"},
			{"live_heap_growth", "server live heap end / 1 min", "%.3f"},
			{"client_conns_1m", "generator's open connections at 1 min", "%.0f"},
			{"client_conns_end", "generator's open connections at the end", "%.0f"},
			{"live_heap_fresh_mib", "server live heap fresh (MiB)", "%.2f"},
			{"live_heap_after_mib", "server live heap after every client closed (MiB)", "%.2f"},
			{"goroutines_fresh", "server goroutines fresh, before any client", "%.0f"},
			{"goroutines_after", "server goroutines after every client closed", "%.0f"},
			{"fds_fresh", "server fds fresh", "%.0f"},
			{"fds_after", "server fds after every client closed", "%.0f"},
			{"server_log_warnings", "server log warnings", "%.0f"},
			{"server_log_errors", "server log errors and panics", "%.0f"},
		},
	}
}

// soakKinds are the paced short-lived operations.
var soakKinds = []string{"busy", "churn", "presence", "signin", "client_event"}

// Names of the soak's channels and events.
const (
	soakBusyChannel     = "soak-busy"
	soakBusyEvent       = "soak-busy"
	soakPresenceChannel = "presence-soak"
	soakClientEvent     = "client-soak"
)

func soakChatChannel(i int) string { return "private-soak-chat-" + strconv.Itoa(i) }

// soakSample is one reading of the server: each figure is the median of
// soakReadings readings 400 ms apart, except the live heap, read once
// after them (it forces a GC). 0 means the figure was not available.
type soakSample struct {
	Label      string    `json:"label"`
	At         time.Time `json:"at"`
	T          float64   `json:"t_s"` // seconds since the measured phase began (negative before)
	RSSMiB     float64   `json:"rss_mib"`
	LiveMiB    float64   `json:"live_heap_mib"` // heap_alloc right after a forced GC
	Conns      float64   `json:"client_conns"`  // the generator's open connections to the server
	Goroutines float64   `json:"goroutines"`
	FDs        float64   `json:"fds"`
	Threads    int       `json:"threads"`
	HeapMiB    float64   `json:"heap_inuse_mib"`
	ServerCPU  float64   `json:"server_cpu_s"`
	Ops        int64     `json:"ops"`
	Errors     int64     `json:"errors"`
	Missing    int64     `json:"missing"` // steady deliveries of events accepted ≥ 5 s before
	SlowCuts   int64     `json:"slow_cuts"`
}

// errBook counts errors by kind and keeps a few of each.
type errBook struct {
	mu     sync.Mutex
	n      map[string]int64
	sample map[string][]string
	order  []string
}

func (e *errBook) add(kind, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n, e.sample = map[string]int64{}, map[string][]string{}
	}
	if _, ok := e.n[kind]; !ok {
		e.order = append(e.order, kind)
	}
	e.n[kind]++
	if len(e.sample[kind]) < 3 {
		if len(msg) > 300 {
			msg = msg[:300]
		}
		e.sample[kind] = append(e.sample[kind], msg)
	}
}

func (e *errBook) total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var t int64
	for _, n := range e.n {
		t += n
	}
	return t
}

func (e *errBook) lines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, k := range e.order {
		out = append(out, fmt.Sprintf("%s: %d, e.g. %s", k, e.n[k], strings.Join(e.sample[k], " | ")))
	}
	return out
}

// soaker is one soak run.
type soaker struct {
	r       *runner
	o       soakOpts
	url     string
	pool    *pool
	acc     *accepted
	pub     *publisher
	busyPub *publisher
	errs    errBook
	closing atomic.Bool // teardown: closes are ours
	phase   atomic.Value
	t0      time.Time // start of the measured phase

	churn, presJoins, signins, signinOK   atomic.Int64
	ceSent, ceRecv, ceRejected, ceSkipped atomic.Int64
	busyRecv, presAdded, presRemoved      atomic.Int64
	slowCuts                              atomic.Int64
	open                                  atomic.Int64 // open client connections but the pool's
	cutMu                                 sync.Mutex
	cutHow                                map[string]int64         // slow-reader cuts by cutKind
	skips                                 map[string]*atomic.Int64 // by kind; made before the load
	observerLost, busyWatcherLost         atomic.Bool
	lastMissing                           atomic.Int64
	latest                                atomic.Pointer[soakSample]
	steady                                sync.WaitGroup // goroutines of the steady clients
	chat                                  []*chatClient
	laggedMu                              sync.Mutex
	lagged, recent                        []bitset // accepted snapshots, 5–10 s and 0–5 s old
}

// clientConns is how many connections the generator has open to the
// server: the steady subscribers not lost, and every other client between
// its dial and the end of its read loop.
func (s *soaker) clientConns() int64 {
	n := s.open.Load()
	if s.pool != nil {
		n += s.pool.connected.Load() - s.pool.lost.Load()
		if s.closing.Load() {
			n = s.open.Load()
		}
	}
	return n
}

func (s *soaker) ops() int64 {
	n := s.churn.Load() + s.presJoins.Load() + s.signins.Load() + s.ceSent.Load()
	if s.pub != nil {
		n += s.pub.ok.Load()
	}
	if s.busyPub != nil {
		n += s.busyPub.ok.Load()
	}
	return n
}

func (s *soaker) errorCount() int64 {
	n := s.errs.total()
	if s.pub != nil {
		n += s.pub.failed.Load()
	}
	if s.busyPub != nil {
		n += s.busyPub.failed.Load()
	}
	if s.pool != nil {
		s.pool.errMu.Lock()
		n += int64(s.pool.nerrs)
		s.pool.errMu.Unlock()
	}
	return n
}

// fail records an error unless the load is being stopped.
func (s *soaker) fail(ctx context.Context, kind string, err error) {
	if ctx.Err() != nil || s.closing.Load() {
		return
	}
	s.errs.add(kind, err.Error())
}

func runSoak(r *runner, o soakOpts) error {
	if err := o.check(); err != nil {
		return err
	}
	if r.srv.Kind == "baseline" {
		return errors.New("soak needs Herald (presence, signin, client events): --server herald or external")
	}
	s := &soaker{r: r, o: o, url: r.wsURL(), skips: map[string]*atomic.Int64{}, cutHow: map[string]int64{}}
	for _, k := range soakKinds {
		s.skips[k] = new(atomic.Int64)
	}
	s.phase.Store("starting")
	r.status = s.status
	r.sleep(time.Second)
	samples := []soakSample{s.sample("fresh")}

	steadyCtx, stopSteady := context.WithCancel(r.ctx)
	defer stopSteady()
	if err := s.setup(steadyCtx); err != nil {
		s.closing.Store(true)
		stopSteady()
		s.pool.close()
		return err
	}

	// The load.
	loadCtx, stopLoad := context.WithCancel(r.ctx)
	defer stopLoad()
	var load sync.WaitGroup
	run := func(f func()) {
		load.Add(1)
		go func() { defer load.Done(); f() }()
	}
	s.acc = newAccepted(o.channels)
	s.pub = newPublisher(r.srv.API, r.appID, r.key, r.secret, o.publishers, o.payload)
	s.busyPub = newPublisher(r.srv.API, r.appID, r.key, r.secret, 4, 0)
	self0, srv0 := selfCPU(), r.srv.Sample()
	if o.rate > 0 {
		// paced stops at loadCtx's end; its length is only a bound.
		run(func() {
			paced(loadCtx, s.pub, eventMeasured, o.rate, o.warmup+o.duration+time.Hour, o.channels, 1, o.publishers, s.acc)
		})
	}
	if o.busyRate > 0 {
		pad := strings.Repeat("x", o.busyPayload)
		run(func() {
			pace(loadCtx, o.busyRate, 4, s.skips["busy"], func(_ context.Context, i int) {
				now := time.Now()
				s.busyPub.send(busyBody(i, now.UnixNano(), pad), now)
			})
		})
	}
	run(func() { pace(loadCtx, o.churnRate, o.inflight, s.skips["churn"], s.churnCycle) })
	run(func() { pace(loadCtx, o.presenceRate, o.inflight, s.skips["presence"], s.presenceCycle) })
	run(func() { pace(loadCtx, o.signinRate, o.inflight, s.skips["signin"], s.signinCycle) })
	if o.clientEvents > 0 {
		run(func() { pace(loadCtx, o.clientEvents, 16, s.skips["client_event"], s.sendClientEvent) })
	}
	monCtx, stopMon := context.WithCancel(r.ctx)
	defer stopMon()
	go s.monitor(monCtx)

	s.phase.Store("warm-up")
	r.sleep(o.warmup)
	s.t0 = time.Now()
	s.phase.Store("soaking")
	samples = append(samples, s.mark("start", samples))
	if r.profile != "" {
		s.profile("heap", "heap-start")
	}
	end := s.t0.Add(o.duration)
	for k := 1; r.ctx.Err() == nil; k++ {
		at := s.t0.Add(time.Duration(k) * o.every)
		if !at.Before(end) {
			break
		}
		r.sleep(time.Until(at))
		samples = append(samples, s.mark(markLabel(time.Duration(k)*o.every), samples))
	}
	r.sleep(time.Until(end))
	samples = append(samples, s.mark("end", samples))
	measured := time.Since(s.t0).Seconds()
	srv1, self1 := r.srv.Sample(), selfCPU()
	if r.profile != "" {
		s.profile("heap", "heap-end")
		s.profile("goroutine", "goroutine-end")
	}

	// Teardown: stop the load, wait for what is in flight (each cycle is
	// bounded by its 10 s timeouts), let deliveries arrive, count.
	s.phase.Store("stopping")
	stopLoad()
	waitBounded(&load, 30*time.Second)
	stopMon()
	s.phase.Store("draining")
	final := s.acc.snapshot()
	expected := soakExpected(final, o.conns, o.channels)
	deadline := time.Now().Add(o.drain)
	for time.Now().Before(deadline) && r.ctx.Err() == nil && !s.drained(expected) {
		time.Sleep(50 * time.Millisecond)
	}
	tally := s.pool.tally(final)

	s.phase.Store("closing")
	s.closing.Store(true)
	stopSteady()
	s.pool.close()
	waitBounded(&s.steady, 15*time.Second)
	// The publishers' keep-alive connections would count as the server's
	// goroutines and fds.
	s.pub.client.CloseIdleConnections()
	s.busyPub.client.CloseIdleConnections()
	r.sleep(o.settle)
	samples = append(samples, s.sample("after"))
	if r.profile != "" {
		s.profile("heap?gc=1", "heap-after")
		s.profile("goroutine", "goroutine-after")
	}
	for i := range samples {
		samples[i].T = samples[i].At.Sub(s.t0).Seconds()
	}
	r.res.Samples = samples

	// Metrics.
	m := r.metric
	m("measured_s", measured)
	m("ops", float64(s.ops()))
	m("publishes", float64(s.pub.ok.Load()))
	m("busy_publishes", float64(s.busyPub.ok.Load()))
	m("churn_cycles", float64(s.churn.Load()))
	m("presence_joins", float64(s.presJoins.Load()))
	m("client_events", float64(s.ceSent.Load()))
	m("signins", float64(s.signins.Load()))
	var skipped int64
	for _, k := range soakKinds {
		if n := s.skips[k].Load(); n > 0 {
			skipped += n
			m("skipped_"+k, float64(n))
		}
	}
	m("skipped", float64(skipped))
	m("client_events_unsent", float64(s.ceSkipped.Load()))
	m("errors", float64(s.errorCount()))
	m("missing", float64(tally.Missing))
	m("duplicates", float64(tally.Dups))
	watchers := int64(0)
	if o.busyRate > 0 {
		watchers = 2
	}
	m("busy_missing", float64(max(0, s.busyPub.ok.Load()*watchers-s.busyRecv.Load())))
	m("client_events_missing", float64(max(0, s.ceExpected()-s.ceRecv.Load())))
	m("client_events_rejected", float64(s.ceRejected.Load()))
	joins, added, removed := s.presJoins.Load(), s.presAdded.Load(), s.presRemoved.Load()
	m("presence_missing", float64(max(0, joins-added)+max(0, added-removed)))
	m("slow_cuts", float64(s.slowCuts.Load()))
	s.cutMu.Lock()
	for k, n := range s.cutHow {
		m("slow_cuts_"+k, float64(n))
	}
	s.cutMu.Unlock()
	h := tally.Hist
	m("lat_p50_ms", h.Quantile(0.5))
	m("lat_p99_ms", h.Quantile(0.99))
	m("lat_max_ms", h.Quantile(1))
	if w := srv1.At.Sub(srv0.At).Seconds(); w > 0 {
		m("server_cpu_pct", 100*(srv1.CPU-srv0.CPU).Seconds()/w)
		m("client_cpu_pct", 100*(self1-self0).Seconds()/w)
	}
	put := func(name string, i int) {
		if i < 0 {
			return
		}
		sm := samples[i]
		m("rss_"+name+"_mib", sm.RSSMiB)
		if sm.Goroutines > 0 {
			m("goroutines_"+name, sm.Goroutines)
		}
		if sm.FDs > 0 {
			m("fds_"+name, sm.FDs)
		}
		if sm.LiveMiB > 0 {
			m("live_heap_"+name+"_mib", sm.LiveMiB)
		}
		m("client_conns_"+name, sm.Conns)
	}
	base, last := soakGrowthBase(samples), sampleIndex(samples, "end")
	put("fresh", sampleIndex(samples, "fresh"))
	put("start", sampleIndex(samples, "start"))
	put("1m", base)
	put("end", last)
	put("after", sampleIndex(samples, "after"))
	if base >= 0 && last >= 0 {
		b, e := samples[base], samples[last]
		m("rss_growth", ratio(e.RSSMiB, b.RSSMiB))
		if b.Goroutines > 0 {
			m("goroutines_growth", ratio(e.Goroutines, b.Goroutines))
		}
		if b.FDs > 0 {
			m("fds_growth", ratio(e.FDs, b.FDs))
		}
		if b.LiveMiB > 0 {
			m("live_heap_growth", ratio(e.LiveMiB, b.LiveMiB))
		}
	}
	// rss_fresh/after are in the samples table; keep the metric list short.
	delete(r.res.Metrics, "rss_fresh_mib")
	delete(r.res.Metrics, "rss_after_mib")

	if tally.Missing > 0 {
		r.errorf("%d steady deliveries missing", tally.Missing)
	}
	if st := s.pool.lost.Load(); st > 0 {
		r.errorf("%d steady subscribers were closed by the server", st)
	}
	s.pool.errMu.Lock()
	if s.pool.nerrs > 0 {
		r.errorf("steady subscribers: %d errors, e.g. %v", s.pool.nerrs, s.pool.errs)
	}
	s.pool.errMu.Unlock()
	for _, p := range []*publisher{s.pub, s.busyPub} {
		p.errMu.Lock()
		if p.failed.Load() > 0 {
			r.errorf("%d publishes failed: %v", p.failed.Load(), p.errs)
		}
		p.errMu.Unlock()
	}
	for _, l := range s.errs.lines() {
		r.errorf("%s", l)
	}
	if s.observerLost.Load() {
		r.errorf("the presence observer was closed by the server: member counts are incomplete")
	}
	if s.busyWatcherLost.Load() {
		r.errorf("a soak-busy subscriber was closed by the server")
	}
	if r.srv.log != nil {
		lg := scanServerLog(r.srv.log.Name())
		m("server_log_warnings", float64(lg.warnings))
		m("server_log_errors", float64(lg.errors))
		if lg.errors > 0 {
			r.errorf("server log: %d errors, e.g. %s", lg.errors, strings.Join(lg.errorSample, " | "))
		}
		if len(lg.warnMsgs) > 0 && !r.quiet {
			fmt.Fprintf(os.Stderr, "server log: %d warnings: %s\n", lg.warnings, strings.Join(lg.warnMsgs, "; "))
		}
	}
	return nil
}

// setup connects the steady clients: subscribers, chat clients, the
// presence observer, soak-busy's subscribers and the slow reader.
func (s *soaker) setup(ctx context.Context) error {
	o := s.o
	s.phase.Store("connecting")
	s.pool = &pool{cfg: workerConfig{URL: s.url, Conns: o.conns, Channels: o.channels, ReadBuffer: 4096, DialConcurrency: 16}}
	s.pool.connect(ctx)
	s.pool.waitSubscribed(ctx, 60*time.Second)
	if n := s.pool.subscribed.Load(); n < int64(o.conns) {
		return fmt.Errorf("only %d of %d steady subscribers subscribed: %v", n, o.conns, s.pool.errs)
	}
	var ready []<-chan struct{}
	if o.clientEvents > 0 {
		for c := 0; c < o.chatChannels; c++ {
			for k := 0; k < o.chatClients; k++ {
				cc := &chatClient{ch: c, ready: make(chan struct{})}
				s.chat = append(s.chat, cc)
				ready = append(ready, cc.ready)
				s.steady.Add(1)
				go func() { defer s.steady.Done(); s.runChatClient(ctx, cc) }()
			}
		}
	}
	if o.presenceRate > 0 {
		r := make(chan struct{})
		ready = append(ready, r)
		s.steady.Add(1)
		go func() { defer s.steady.Done(); s.runObserver(ctx, r) }()
	}
	if o.busyRate > 0 {
		for k := 0; k < 2; k++ {
			r := make(chan struct{})
			ready = append(ready, r)
			s.steady.Add(1)
			go func() { defer s.steady.Done(); s.runBusyWatcher(ctx, r) }()
		}
		r := make(chan struct{})
		ready = append(ready, r)
		s.steady.Add(1)
		go func() { defer s.steady.Done(); s.runSlowReader(ctx, r) }()
	}
	timeout := time.After(30 * time.Second)
	for _, r := range ready {
		select {
		case <-r:
		case <-timeout:
			return fmt.Errorf("the steady clients did not all subscribe within 30s: %v", s.errs.lines())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// drained reports whether every delivery the load should cause arrived.
func (s *soaker) drained(expected int64) bool {
	watchers := int64(0)
	if s.o.busyRate > 0 {
		watchers = 2
	}
	delivered := int64(s.pool.delivered.Load()) //nolint:gosec // G115: a count of received frames, far below 2^63
	return delivered >= expected &&
		s.ceRecv.Load() >= s.ceExpected() &&
		s.busyRecv.Load() >= s.busyPub.ok.Load()*watchers &&
		(s.o.presenceRate == 0 || (s.presAdded.Load() >= s.presJoins.Load() && s.presRemoved.Load() >= s.presAdded.Load()))
}

func (s *soaker) ceExpected() int64 {
	return (s.ceSent.Load() - s.ceRejected.Load()) * int64(s.o.chatClients-1)
}

// soakExpected is the steady deliveries due for the accepted events:
// channel c has conns/channels subscribers, one more for c < conns mod
// channels.
func soakExpected(acc []bitset, conns, channels int) int64 {
	var n int64
	for c, set := range acc {
		subs := conns / channels
		if c < conns%channels {
			subs++
		}
		n += int64(set.count()) * int64(subs)
	}
	return n
}

// monitor refreshes the status line's numbers and the interim count of
// missing deliveries every 5 s: events accepted 5–10 s ago must have
// arrived by now.
func (s *soaker) monitor(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.laggedMu.Lock()
		s.lagged, s.recent = s.recent, s.acc.snapshot()
		lagged := s.lagged
		s.laggedMu.Unlock()
		if lagged != nil {
			s.lastMissing.Store(int64(s.pool.tally(lagged).Missing)) //nolint:gosec // G115: at most the deliveries due, far below 2^63
		}
		sm := s.read()
		s.latest.Store(&sm)
	}
}

// read is one reading of the server.
func (s *soaker) read() soakSample {
	sm := soakSample{At: time.Now()}
	p, err := readProc(s.r.srv.PID)
	if err == nil {
		sm.RSSMiB, sm.Threads, sm.ServerCPU = float64(p.RSS)/(1<<20), p.Threads, p.CPU.Seconds()
	}
	if st, ok := s.r.srv.Stats(false); ok {
		sm.Goroutines, sm.HeapMiB = float64(st.Goroutines), float64(st.HeapInuse)/(1<<20)
	}
	if n, err := countFDs(s.r.srv.PID); err == nil {
		sm.FDs = float64(n)
	}
	return sm
}

// soakReadings is how many readings of the server one sample takes.
const soakReadings = 5

// sample is the median of soakReadings readings 400 ms apart, the live
// heap after them, and the run's counters.
func (s *soaker) sample(label string) soakSample {
	var rss, gor, fds, heap, conns []float64
	var last soakSample
	at := time.Now()
	for k := 0; k < soakReadings; k++ {
		if k > 0 {
			s.r.sleep(400 * time.Millisecond)
		}
		last = s.read()
		rss, gor, fds, heap = append(rss, last.RSSMiB), append(gor, last.Goroutines), append(fds, last.FDs), append(heap, last.HeapMiB)
		conns = append(conns, float64(s.clientConns()))
	}
	sm := last
	sm.Label, sm.At = label, at
	sm.RSSMiB, sm.Goroutines, sm.FDs, sm.HeapMiB = median(rss), median(gor), median(fds), median(heap)
	sm.Conns = median(conns)
	// After the RSS readings: a GC does not change RSS at once, but it
	// would change the heap figures.
	if st, ok := s.r.srv.Stats(true); ok {
		sm.LiveMiB = float64(st.HeapAlloc) / (1 << 20)
	}
	sm.Ops, sm.Errors, sm.Missing, sm.SlowCuts = s.ops(), s.errorCount(), s.lastMissing.Load(), s.slowCuts.Load()
	s.latest.Store(&sm)
	return sm
}

// mark takes a sample of the measured phase and prints it as a progress
// line, with its growth since the first mark at or after one minute.
func (s *soaker) mark(label string, before []soakSample) soakSample {
	sm := s.sample(label)
	sm.T = sm.At.Sub(s.t0).Seconds()
	if s.r.quiet {
		return sm
	}
	line := fmt.Sprintf("[%s %s %4.0fs] %s: RSS %.1f MiB, goroutines %s, fds %s, threads %d, heap %.1f MiB, live heap %.2f MiB, client conns %.0f; ops %d, errors %d, missing %d, slow-reader cuts %d",
		s.r.name, s.r.srv.Kind, time.Since(s.r.res.Started).Seconds(), label, sm.RSSMiB, orDash(sm.Goroutines), orDash(sm.FDs), sm.Threads, sm.HeapMiB,
		sm.LiveMiB, sm.Conns, sm.Ops, sm.Errors, sm.Missing, sm.SlowCuts)
	if b := soakGrowthBase(before); b >= 0 && sm.T > before[b].T {
		base := before[b]
		line += fmt.Sprintf(" | since %s: RSS ×%.3f goroutines ×%.3f fds ×%.3f live heap ×%.3f", base.Label,
			ratio(sm.RSSMiB, base.RSSMiB), ratio(sm.Goroutines, base.Goroutines), ratio(sm.FDs, base.FDs), ratio(sm.LiveMiB, base.LiveMiB))
	}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		line = "\r\033[K" + line
	}
	fmt.Fprintln(os.Stderr, line)
	return sm
}

func (s *soaker) status() string {
	ph, _ := s.phase.Load().(string)
	line := fmt.Sprintf("%s: ops %d errors %d missing %d cuts %d", ph, s.ops(), s.errorCount(), s.lastMissing.Load(), s.slowCuts.Load())
	if sm := s.latest.Load(); sm != nil {
		line += fmt.Sprintf(" | server RSS %.1f MiB goroutines %s fds %s", sm.RSSMiB, orDash(sm.Goroutines), orDash(sm.FDs))
	}
	return line
}

func (s *soaker) profile(kind, name string) {
	if err := s.r.srv.Profile(kind, s.r.profilePath(name), 30*time.Second); err != nil {
		s.r.errorf("%s profile: %v", kind, err)
		return
	}
	s.r.res.Profiles = append(s.r.res.Profiles, s.r.profilePath(name))
}

// ---- the short-lived cycles ----

func (s *soaker) churnCycle(ctx context.Context, i int) {
	ch := channelName(i % s.o.channels)
	if i%2 == 1 {
		ch = "soak-churn-" + strconv.Itoa(i%20) // channels that come and go
	}
	s.open.Add(1)
	_, err := cycle(ctx, s.url, ch)
	s.open.Add(-1)
	if err != nil {
		s.fail(ctx, "churn", err)
		return
	}
	s.churn.Add(1)
}

// presenceCycle joins presence-soak as a new user, stays, and leaves:
// every other one unsubscribes first, the others just close.
func (s *soaker) presenceCycle(ctx context.Context, i int) {
	conn, h, sid, err := soakDial(ctx, clientOption(s.url, nil, 1024), &s.open, nil)
	if err != nil {
		s.fail(ctx, "presence", err)
		return
	}
	defer func() { _ = conn.WriteClose(1000, nil) }()
	data := `{"user_id":"soak-m-` + strconv.Itoa(i) + `","user_info":{"n":` + strconv.Itoa(i) + `}}`
	auth := pusher.ChannelAuth(s.r.key, s.r.secret, sid, soakPresenceChannel, data)
	if err := conn.WriteMessage(gws.OpcodeText, soakSubscribeFrame(soakPresenceChannel, auth, data)); err != nil {
		s.fail(ctx, "presence", err)
		return
	}
	if _, err := h.await(ctx, pusher.EventSubscriptionSucceeded); err != nil {
		s.fail(ctx, "presence", err)
		return
	}
	s.presJoins.Add(1)
	select {
	case <-time.After(s.o.presenceHold):
	case <-ctx.Done():
	case <-h.closed:
		s.fail(ctx, "presence", fmt.Errorf("member closed by the server: %w", h.err))
		return
	}
	if i%2 == 0 {
		_ = conn.WriteMessage(gws.OpcodeText, []byte(`{"event":"pusher:unsubscribe","data":{"channel":"`+soakPresenceChannel+`"}}`))
	}
}

// signinCycle signs in as a new user and drops the TCP connection (no
// close frame): every other one right after sending the signin, the others
// after pusher:signin_success.
func (s *soaker) signinCycle(ctx context.Context, i int) {
	conn, h, sid, err := soakDial(ctx, clientOption(s.url, nil, 1024), &s.open, nil)
	if err != nil {
		s.fail(ctx, "signin", err)
		return
	}
	defer func() { _ = conn.NetConn().Close() }() // the drop is the test
	ud := `{"id":"soak-s-` + strconv.Itoa(i) + `"}`
	if err := conn.WriteMessage(gws.OpcodeText, soakSigninFrame(pusher.UserAuth(s.r.key, s.r.secret, sid, ud), ud)); err != nil {
		s.fail(ctx, "signin", err)
		return
	}
	if i%2 == 0 {
		if _, err := h.await(ctx, pusher.EventSigninSuccess); err != nil {
			s.fail(ctx, "signin", err)
			return
		}
		s.signinOK.Add(1)
	}
	s.signins.Add(1)
}

// ---- the steady clients ----

// chatClient is one steady client of a private chat channel.
type chatClient struct {
	ch    int
	conn  atomic.Pointer[gws.Conn] // nil while (re)connecting
	ready chan struct{}            // closed once first subscribed
	once  sync.Once
}

// runChatClient keeps one chat client subscribed, reconnecting after a
// second when the server closes it.
func (s *soaker) runChatClient(ctx context.Context, c *chatClient) {
	ch := soakChatChannel(c.ch)
	for ctx.Err() == nil {
		subscribed := make(chan struct{})
		var once sync.Once
		on := func(ev string, b []byte) {
			switch ev {
			case soakClientEvent:
				s.ceRecv.Add(1)
			case pusher.EventSubscriptionSucceeded:
				once.Do(func() { close(subscribed) })
			case pusher.EventError:
				if errorCode(b) == pusher.ErrCodeClientEventRejected {
					s.ceRejected.Add(1)
				}
				s.fail(ctx, "client event", errors.New(string(b)))
			case pusher.EventSubscriptionError:
				s.fail(ctx, "chat subscribe", errors.New(string(b)))
			}
		}
		conn, h, sid, err := soakDial(ctx, clientOption(s.url, nil, 1024), &s.open, on)
		if err == nil {
			err = conn.WriteMessage(gws.OpcodeText, soakSubscribeFrame(ch, pusher.ChannelAuth(s.r.key, s.r.secret, sid, ch, ""), ""))
			if err == nil {
				select {
				case <-subscribed:
				case <-h.closed:
					err = fmt.Errorf("closed before subscribed: %w", h.err)
				case <-time.After(10 * time.Second):
					err = errors.New("no subscription_succeeded within 10s")
				case <-ctx.Done():
				}
			}
			if err != nil {
				_ = conn.NetConn().Close()
			}
		}
		if err != nil {
			s.fail(ctx, "chat connect", err)
			s.r.sleep(time.Second)
			continue
		}
		c.conn.Store(conn)
		c.once.Do(func() { close(c.ready) })
		select {
		case <-h.closed:
			c.conn.Store(nil)
			s.fail(ctx, "chat client closed by the server", h.err)
			s.r.sleep(time.Second)
		case <-ctx.Done():
			c.conn.Store(nil)
			_ = conn.WriteClose(1000, nil)
		}
	}
}

// sendClientEvent sends event i from chat client i mod clients, when every
// client of its channel is connected (so that all of them must get it).
func (s *soaker) sendClientEvent(ctx context.Context, i int) {
	c := s.chat[i%len(s.chat)]
	first := c.ch * s.o.chatClients
	for _, p := range s.chat[first : first+s.o.chatClients] {
		if p.conn.Load() == nil {
			s.ceSkipped.Add(1)
			return
		}
	}
	conn := c.conn.Load()
	if conn == nil {
		s.ceSkipped.Add(1)
		return
	}
	frame := `{"event":"` + soakClientEvent + `","channel":"` + soakChatChannel(c.ch) + `","data":{"s":` + strconv.Itoa(i) + `}}`
	if err := conn.WriteMessage(gws.OpcodeText, []byte(frame)); err != nil {
		s.fail(ctx, "client event", err)
		return
	}
	s.ceSent.Add(1)
}

// runObserver holds a presence member that counts the others' comings and
// goings.
func (s *soaker) runObserver(ctx context.Context, ready chan struct{}) {
	subscribed := make(chan struct{})
	var once sync.Once
	on := func(ev string, b []byte) {
		switch ev {
		case pusher.EventMemberAdded:
			s.presAdded.Add(1)
		case pusher.EventMemberRemoved:
			s.presRemoved.Add(1)
		case pusher.EventSubscriptionSucceeded:
			once.Do(func() { close(subscribed) })
		case pusher.EventError, pusher.EventSubscriptionError:
			s.fail(ctx, "presence observer", errors.New(string(b)))
		}
	}
	conn, h, sid, err := soakDial(ctx, clientOption(s.url, nil, 4096), &s.open, on)
	if err != nil {
		s.fail(ctx, "presence observer", err)
		return
	}
	data := `{"user_id":"soak-observer"}`
	auth := pusher.ChannelAuth(s.r.key, s.r.secret, sid, soakPresenceChannel, data)
	if err := conn.WriteMessage(gws.OpcodeText, soakSubscribeFrame(soakPresenceChannel, auth, data)); err != nil {
		s.fail(ctx, "presence observer", err)
		_ = conn.NetConn().Close()
		return
	}
	s.holdSteady(ctx, conn, h, subscribed, ready, &s.observerLost, "presence observer")
}

// runBusyWatcher holds a fast subscriber of soak-busy.
func (s *soaker) runBusyWatcher(ctx context.Context, ready chan struct{}) {
	subscribed := make(chan struct{})
	var once sync.Once
	on := func(ev string, b []byte) {
		switch ev {
		case soakBusyEvent:
			s.busyRecv.Add(1)
		case pusher.EventSubscriptionSucceeded:
			once.Do(func() { close(subscribed) })
		case pusher.EventError, pusher.EventSubscriptionError:
			s.fail(ctx, "soak-busy subscriber", errors.New(string(b)))
		}
	}
	conn, h, _, err := soakDial(ctx, clientOption(s.url, nil, 4096), &s.open, on)
	if err != nil {
		s.fail(ctx, "soak-busy subscriber", err)
		return
	}
	if err := conn.WriteMessage(gws.OpcodeText, subscribeFrame(soakBusyChannel)); err != nil {
		s.fail(ctx, "soak-busy subscriber", err)
		_ = conn.NetConn().Close()
		return
	}
	s.holdSteady(ctx, conn, h, subscribed, ready, &s.busyWatcherLost, "soak-busy subscriber")
}

// holdSteady waits for a steady client's subscription, then holds it until
// ctx ends (closing it with 1000) or the server closes it (lost).
func (s *soaker) holdSteady(ctx context.Context, conn *gws.Conn, h *soakConn, subscribed <-chan struct{}, ready chan struct{}, lost *atomic.Bool, kind string) {
	select {
	case <-subscribed:
		close(ready)
	case <-h.closed:
		s.fail(ctx, kind, fmt.Errorf("closed before subscribed: %w", h.err))
		lost.Store(true)
		return
	case <-time.After(10 * time.Second):
		s.fail(ctx, kind, errors.New("no subscription_succeeded within 10s"))
		_ = conn.NetConn().Close()
		return
	case <-ctx.Done():
		_ = conn.NetConn().Close()
		return
	}
	select {
	case <-h.closed:
		if !s.closing.Load() {
			lost.Store(true)
			s.fail(ctx, kind, fmt.Errorf("closed by the server: %w", h.err))
		}
	case <-ctx.Done():
		_ = conn.WriteClose(1000, nil)
	}
}

// runSlowReader keeps one slow reader on soak-busy and counts how often
// the server cuts it.
func (s *soaker) runSlowReader(ctx context.Context, ready chan struct{}) {
	var readyOnce sync.Once
	for ctx.Err() == nil {
		subscribed := make(chan struct{})
		var once sync.Once
		// On the read goroutine: while it waits, nothing is read.
		stalled, phaseEnd := false, time.Time{}
		on := func(ev string, b []byte) {
			switch ev {
			case soakBusyEvent:
				for ctx.Err() == nil {
					now := time.Now()
					if now.Before(phaseEnd) {
						if !stalled {
							return
						}
						t := time.NewTimer(phaseEnd.Sub(now))
						select {
						case <-t.C:
						case <-ctx.Done():
							t.Stop()
						}
						continue
					}
					stalled = !stalled
					phaseEnd = now.Add(map[bool]time.Duration{true: s.o.slowStall, false: 2 * time.Second}[stalled])
				}
			case pusher.EventSubscriptionSucceeded:
				once.Do(func() { close(subscribed) })
			case pusher.EventError, pusher.EventSubscriptionError:
				s.fail(ctx, "slow reader", errors.New(string(b)))
			}
		}
		conn, h, _, err := soakDial(ctx, slowClientOption(s.url, s.o.slowRcvbuf), &s.open, on)
		if err == nil {
			err = conn.WriteMessage(gws.OpcodeText, subscribeFrame(soakBusyChannel))
			if err == nil {
				select {
				case <-subscribed:
				case <-h.closed:
					err = fmt.Errorf("closed before subscribed: %w", h.err)
				case <-time.After(10 * time.Second):
					err = errors.New("no subscription_succeeded within 10s")
				case <-ctx.Done():
				}
			}
			if err != nil {
				_ = conn.NetConn().Close()
			}
		}
		if err != nil {
			s.fail(ctx, "slow reader connect", err)
			s.r.sleep(time.Second)
			continue
		}
		readyOnce.Do(func() { close(ready) })
		select {
		case <-h.closed:
			if s.closing.Load() || ctx.Err() != nil {
				return
			}
			s.cutMu.Lock()
			s.cutHow[cutKind(h.err)]++
			s.cutMu.Unlock()
			s.slowCuts.Add(1)
			s.r.sleep(time.Second)
		case <-ctx.Done():
			_ = conn.WriteClose(1000, nil)
			return
		}
	}
}

// ---- one client connection ----

// soakConn is the handler of one soak client: it answers pings, hands the
// socket id over, and passes every other frame to on (on the read
// goroutine) or, when on is nil, into frames (copies; dropped when full).
type soakConn struct {
	gws.BuiltinEventHandler
	sid    chan string
	frames chan []byte
	on     func(ev string, b []byte)
	closed chan struct{}
	err    error // why it closed; read after closed
	once   sync.Once
	open   *atomic.Int64 // counts the connection from its dial to its close
}

func (c *soakConn) OnClose(_ *gws.Conn, err error) {
	c.once.Do(func() {
		c.err = err
		c.open.Add(-1)
		close(c.closed)
	})
}

func (c *soakConn) OnMessage(conn *gws.Conn, m *gws.Message) {
	defer m.Close()
	b := m.Bytes()
	ev := string(frameEvent(b))
	switch ev {
	case pusher.EventConnectionEstablished:
		select {
		case c.sid <- socketIDOf(b):
		default:
		}
		return
	case pusher.EventPing:
		conn.WriteAsync(gws.OpcodeText, pongFrame, nil)
		return
	}
	if c.on != nil {
		c.on(ev, b)
		return
	}
	select {
	case c.frames <- append([]byte(nil), b...):
	default:
	}
}

// await waits for a frame of event want; a pusher:error or
// pusher:subscription_error, a close or 10 s end it with an error.
func (c *soakConn) await(ctx context.Context, want string) ([]byte, error) {
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case b := <-c.frames:
			switch string(frameEvent(b)) {
			case want:
				return b, nil
			case pusher.EventError, pusher.EventSubscriptionError:
				return nil, errors.New(string(b))
			}
		case <-c.closed:
			return nil, fmt.Errorf("closed while waiting for %s: %w", want, c.err)
		case <-timeout.C:
			return nil, fmt.Errorf("no %s within 10s", want)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// soakDial connects and waits for pusher:connection_established.
// open counts the connection while it is open.
func soakDial(ctx context.Context, opt *gws.ClientOption, open *atomic.Int64, on func(string, []byte)) (*gws.Conn, *soakConn, string, error) {
	h := &soakConn{sid: make(chan string, 1), frames: make(chan []byte, 16), on: on, closed: make(chan struct{}), open: open}
	conn, _, err := gws.NewClient(h, opt)
	if err != nil {
		return nil, nil, "", err
	}
	open.Add(1) // until OnClose, which the read loop always calls
	go conn.ReadLoop()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	select {
	case sid := <-h.sid:
		if sid == "" {
			_ = conn.NetConn().Close()
			return nil, nil, "", errors.New("connection_established without a socket_id")
		}
		return conn, h, sid, nil
	case <-h.closed:
		return nil, nil, "", fmt.Errorf("closed before connection_established: %w", h.err)
	case <-timeout.C:
		_ = conn.NetConn().Close()
		return nil, nil, "", errors.New("no connection_established within 10s")
	case <-ctx.Done():
		_ = conn.NetConn().Close()
		return nil, nil, "", ctx.Err()
	}
}

// slowClientOption is clientOption with a small receive buffer (set before
// connect, so the window stays small), so the server's queue fills sooner.
func slowClientOption(addr string, rcvbuf int) *gws.ClientOption {
	o := clientOption(addr, nil, 1024)
	if rcvbuf > 0 {
		o.NewDialer = func() (gws.Dialer, error) {
			return &net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
				}); err != nil {
					return err
				}
				return serr
			}}, nil
		}
	}
	return o
}

// ---- frames and pure helpers ----

func soakSubscribeFrame(channel, auth, channelData string) []byte {
	b, _ := json.Marshal(struct {
		Event string               `json:"event"`
		Data  pusher.SubscribeData `json:"data"`
	}{pusher.EventSubscribe, pusher.SubscribeData{Channel: channel, Auth: auth, ChannelData: channelData}})
	return b
}

func soakSigninFrame(auth, userData string) []byte {
	b, _ := json.Marshal(struct {
		Event string            `json:"event"`
		Data  pusher.SigninData `json:"data"`
	}{pusher.EventSignin, pusher.SigninData{Auth: auth, UserData: userData}})
	return b
}

// busyBody is one /events request to soak-busy.
func busyBody(seq int, t int64, pad string) []byte {
	data := `{"s":` + strconv.Itoa(seq) + `,"t":` + strconv.FormatInt(t, 10) + `,"p":"` + pad + `"}`
	b := append([]byte(`{"name":`), pusher.AppendString(nil, soakBusyEvent)...)
	b = append(b, `,"channel":`...)
	b = pusher.AppendString(b, soakBusyChannel)
	b = append(b, `,"data":`...)
	b = pusher.AppendString(b, data)
	return append(b, '}')
}

// socketIDOf reads the socket_id of pusher:connection_established, whose
// data is a JSON string holding an object (or, leniently, the object).
func socketIDOf(frame []byte) string {
	var f struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(frame, &f) != nil || len(f.Data) == 0 {
		return ""
	}
	var d struct {
		SocketID string `json:"socket_id"`
	}
	var s string
	if json.Unmarshal(f.Data, &s) == nil {
		_ = json.Unmarshal([]byte(s), &d)
	} else {
		_ = json.Unmarshal(f.Data, &d)
	}
	return d.SocketID
}

// cutKind classifies how the server ended a connection, as the client's
// read loop saw it: "4100" (that close frame), "close" (another close
// frame), "eof", "reset" or "other".
func cutKind(err error) string {
	var ce *gws.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code == uint16(pusher.CloseOverCapacity):
		return "4100"
	case errors.As(err, &ce):
		return "close"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	}
	return "other"
}

// errorCode is the code of a pusher:error frame (0 when it has none).
func errorCode(frame []byte) int {
	var f struct {
		Data struct {
			Code *int `json:"code"`
		} `json:"data"`
	}
	if json.Unmarshal(frame, &f) != nil || f.Data.Code == nil {
		return 0
	}
	return *f.Data.Code
}

// pace calls fn(ctx, i) for i = 0, 1, 2, … at rate calls a second until
// ctx ends, each on its own goroutine with at most inflight running, then
// waits for them. A call due while inflight are running waits; when the
// calls fall more than a second behind, the late ones are skipped (counted
// in skipped) so that a server that stalled is not hit by a burst after.
func pace(ctx context.Context, rate float64, inflight int, skipped *atomic.Int64, fn func(context.Context, int)) {
	if rate <= 0 {
		return
	}
	interval := max(time.Duration(float64(time.Second)/rate), time.Microsecond)
	maxBehind := max(int(rate), 1)
	sem := make(chan struct{}, max(inflight, 1))
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	for i := 0; ; {
		due := int(time.Since(start)/interval) + 1
		if due-i > maxBehind {
			skipped.Add(int64(due - 1 - i))
			i = due - 1
		}
		for ; i < due; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				fn(ctx, i)
			}(i)
		}
		t := time.NewTimer(time.Until(start.Add(time.Duration(i) * interval)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// waitBounded waits for wg at most d.
func waitBounded(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// serverLog is what scanServerLog found.
type serverLog struct {
	warnings, errors int
	warnMsgs         []string // distinct msg= of the warnings, with counts
	errorSample      []string
}

// scanServerLog counts the warnings and errors (and panics) in the
// server's log (slog text or JSON lines).
func scanServerLog(path string) serverLog {
	var l serverLog
	b, err := os.ReadFile(path)
	if err != nil {
		return l
	}
	counts := map[string]int{}
	var order []string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, "level=WARN") || strings.Contains(line, `"level":"WARN"`):
			l.warnings++
			msg := logMsg(line)
			if counts[msg] == 0 {
				order = append(order, msg)
			}
			counts[msg]++
		case strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`) ||
			strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:"):
			l.errors++
			if len(l.errorSample) < 3 {
				l.errorSample = append(l.errorSample, truncateStr(line, 300))
			}
		}
	}
	for i, msg := range order {
		if i == 5 {
			l.warnMsgs = append(l.warnMsgs, "…")
			break
		}
		l.warnMsgs = append(l.warnMsgs, fmt.Sprintf("%d× %s", counts[msg], msg))
	}
	return l
}

// logMsg is the msg of a slog line (text or JSON), or the line.
func logMsg(line string) string {
	for _, key := range []string{"msg=", `"msg":`} {
		i := strings.Index(line, key)
		if i < 0 {
			continue
		}
		rest := line[i+len(key):]
		if strings.HasPrefix(rest, `"`) {
			if s, err := strconv.QuotedPrefix(rest); err == nil {
				if u, err := strconv.Unquote(s); err == nil {
					return u
				}
			}
		}
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			return rest[:j]
		}
		return rest
	}
	return truncateStr(line, 200)
}

func truncateStr(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// countFDs counts the open file descriptors of a process.
func countFDs(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // a directory, only read
	names, err := f.Readdirnames(-1)
	return len(names), err
}

// median of v (0 for none).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratio is a/b, or 0 when b is 0 (a figure that was not available).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// flat reports whether a growth ratio is within tol (0.05: 5 %) of 1.
func flat(r, tol float64) bool { return r > 0 && math.Abs(r-1) <= tol+1e-9 }

// markLabel names a sample time: "1m", "90s", "1m30s".
func markLabel(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	s := d.String() // "1m30s", "1h30m0s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

func sampleIndex(samples []soakSample, label string) int {
	for i, s := range samples {
		if s.Label == label {
			return i
		}
	}
	return -1
}

// soakGrowthBase is the sample growth is measured from: the first one of
// the measured phase at or after one minute (not the end's), else the
// start's; -1 when there is neither.
func soakGrowthBase(samples []soakSample) int {
	for i, s := range samples {
		switch s.Label {
		case "fresh", "start", "end", "after":
			continue
		}
		if s.T >= 59 {
			return i
		}
	}
	return sampleIndex(samples, "start")
}

func orDash(v float64) string {
	if v == 0 {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// printSamples prints the server's samples and whether each figure stayed
// flat between one minute and the end.
func printSamples(samples []soakSample) {
	fmt.Printf("\n  %-7s %6s %8s %10s %5s %7s %8s %8s %6s %8s %6s %7s %9s\n",
		"sample", "t (s)", "RSS MiB", "goroutines", "fds", "threads", "heap MiB", "live MiB", "conns", "ops", "errors", "missing", "slow cuts")
	for _, s := range samples {
		fmt.Printf("  %-7s %6.0f %8.1f %10s %5s %7d %8.1f %8.2f %6.0f %8d %6d %7d %9d\n",
			s.Label, s.T, s.RSSMiB, orDash(s.Goroutines), orDash(s.FDs), s.Threads, s.HeapMiB, s.LiveMiB, s.Conns, s.Ops, s.Errors, s.Missing, s.SlowCuts)
	}
	fmt.Println("  (conns: the generator's open connections; heap: in use; live: allocated right after a forced GC)")
	b, e := soakGrowthBase(samples), sampleIndex(samples, "end")
	if b < 0 || e < 0 {
		return
	}
	base, end := samples[b], samples[e]
	verdict := func(name string, a, z float64) string {
		r := ratio(z, a)
		if r == 0 {
			return name + " –"
		}
		ok := "flat"
		if !flat(r, 0.05) {
			ok = "NOT flat"
		}
		return fmt.Sprintf("%s ×%.3f (%s)", name, r, ok)
	}
	fmt.Printf("\n  growth %s (t=%.0fs) → end (t=%.0fs), flat = within 5 %%: %s, %s, %s; live heap ×%.3f\n", base.Label, base.T, end.T,
		verdict("RSS", base.RSSMiB, end.RSSMiB), verdict("goroutines", base.Goroutines, end.Goroutines), verdict("fds", base.FDs, end.FDs),
		ratio(end.LiveMiB, base.LiveMiB))
	if base.Goroutines > 0 && base.FDs > 0 {
		fmt.Printf("  less the generator's open connections: goroutines %.0f → %.0f, fds %.0f → %.0f\n",
			base.Goroutines-base.Conns, end.Goroutines-end.Conns, base.FDs-base.Conns, end.FDs-end.Conns)
	}
}
