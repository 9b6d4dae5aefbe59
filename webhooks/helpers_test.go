package webhooks

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/config"
)

const (
	testKey    = "app-key"
	testSecret = "app-secret"
	waitLimit  = 5 * time.Second
)

// fakeClock is a Clock that moves only when Advance is called. Advance
// runs due callbacks on the caller's goroutine, in due order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	due  time.Time
	f    func()
	done bool // fired or stopped
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, due: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	live := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.done:
		case !t.due.After(c.now):
			t.done = true
			due = append(due, t)
		default:
			live = append(live, t)
		}
	}
	c.timers = live
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.due.Compare(b.due) })
	for _, t := range due {
		t.f()
	}
}

// receiver is a webhook receiver on 127.0.0.1 that checks every request
// with Verify and records what it accepted.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	notify chan struct{}

	mu     sync.Mutex
	status func(n int) int // answer to the nth request (from 1); nil: 200
	gate   chan struct{}   // when set, the first request waits for it
	reqs   int
	posts  []Payload // accepted (2xx) requests, in order
	raw    [][]byte
	hdrs   []http.Header
	bad    []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, notify: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := Verify(req, testKey, testSecret)
	if err == nil && req.Header.Get("Content-Type") != "application/json" {
		err = fmt.Errorf("content type %q", req.Header.Get("Content-Type"))
	}
	var p Payload
	if err == nil {
		p, err = Parse(body)
	}
	r.mu.Lock()
	r.reqs++
	n, gate, status := r.reqs, r.gate, r.status
	if err != nil {
		r.bad = append(r.bad, err.Error())
	}
	r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if gate != nil && n == 1 {
		select {
		case <-gate:
		case <-req.Context().Done():
			return
		}
	}
	code := http.StatusOK
	if status != nil {
		code = status(n)
	}
	if code/100 == 2 {
		r.mu.Lock()
		r.posts = append(r.posts, p)
		r.raw = append(r.raw, body)
		r.hdrs = append(r.hdrs, req.Header.Clone())
		r.mu.Unlock()
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
	w.WriteHeader(code)
}

func (r *receiver) endpoint(format string, events ...string) Endpoint {
	if format == "" {
		format = FormatPusher
	}
	return Endpoint{URL: r.srv.URL + "/hook?token=t0ps3cret", Format: format, Events: events}
}

// events returns every accepted event, in order.
func (r *receiver) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []Event
	for _, p := range r.posts {
		all = append(all, p.Events...)
	}
	return all
}

func (r *receiver) headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hdrs)
}

func (r *receiver) bodies() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.raw)
}

func (r *receiver) setStatus(f func(n int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = f
}

func (r *receiver) setGate(g chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gate = g
}

func (r *receiver) payloads() []Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.posts)
}

// waitEvents waits until n events were accepted and returns them.
func (r *receiver) waitEvents(n int) []Event {
	r.t.Helper()
	deadline := time.After(waitLimit)
	for {
		if ev := r.events(); len(ev) >= n {
			return ev
		}
		select {
		case <-r.notify:
		case <-deadline:
			r.t.Fatalf("waited for %d events, got %v", n, r.events())
		}
	}
}

// check fails the test if any request failed verification.
func (r *receiver) check() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Fatalf("receiver rejected requests: %v", r.bad)
	}
}

// logSink is a slog handler that records every record.
type logSink struct {
	mu      sync.Mutex
	records []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	s.mu.Lock()
	s.records = append(s.records, b.String())
	s.mu.Unlock()
	return nil
}

// matching returns the records containing sub.
func (s *logSink) matching(sub string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.records {
		if strings.Contains(r, sub) {
			out = append(out, r)
		}
	}
	return out
}

func (s *logSink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.records, "\n")
}

// harness is one webhook actor in a fresh actor system.
type harness struct {
	t    *testing.T
	sys  *actor.ActorSystem
	pid  *actor.PID
	logs *logSink
}

// defaults are the production settings, from config, the one place they
// are written down.
var defaults = func() Config {
	w := config.Default().Webhooks
	return Config{Debounce: w.Debounce, BatchWindow: w.BatchWindow, BatchMax: w.BatchMax, Timeout: w.Timeout,
		RetryFor: w.RetryFor, BackoffMin: w.BackoffMin, BackoffMax: w.BackoffMax, QueueSize: w.QueueSize}
}()

// fill gives a test's Config the production settings it leaves at zero. In
// tests, a negative Debounce, BatchWindow or RetryFor asks for zero: the
// feature off.
func fill(cfg Config) Config {
	dur := func(v *time.Duration, d time.Duration) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0
		}
	}
	dur(&cfg.Debounce, defaults.Debounce)
	dur(&cfg.BatchWindow, defaults.BatchWindow)
	dur(&cfg.RetryFor, defaults.RetryFor)
	dur(&cfg.Timeout, defaults.Timeout)
	dur(&cfg.BackoffMin, defaults.BackoffMin)
	dur(&cfg.BackoffMax, defaults.BackoffMax)
	if cfg.BatchMax == 0 {
		cfg.BatchMax = defaults.BatchMax
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = defaults.QueueSize
	}
	return cfg
}

// props is NewProps of fill(cfg).
func props(t *testing.T, cfg Config) *actor.Props {
	t.Helper()
	p, err := NewProps(fill(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start spawns a webhook actor for cfg (see fill), filling Key, Secret and
// Logger.
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	logs := &logSink{}
	cfg.Key, cfg.Secret = testKey, testSecret
	if cfg.Logger == nil {
		cfg.Logger = slog.New(logs)
	}
	h := &harness{t: t, sys: sys, pid: sys.Root.Spawn(props(t, cfg)), logs: logs}
	t.Cleanup(func() { _ = sys.Root.StopFuture(h.pid).Wait() })
	return h
}

func (h *harness) send(msgs ...any) {
	for _, m := range msgs {
		h.sys.Root.Send(h.pid, m)
	}
}

// stats asks for the counters. Being a request from the same root, it
// also waits until every message sent before it was handled.
func (h *harness) stats() *StatsResponse {
	h.t.Helper()
	res, err := h.sys.Root.RequestFuture(h.pid, &StatsRequest{}, waitLimit).Result()
	if err != nil {
		h.t.Fatalf("stats: %v", err)
	}
	return res.(*StatsResponse)
}

func (h *harness) flush(deadline time.Time) *FlushResponse {
	h.t.Helper()
	res, err := h.sys.Root.RequestFuture(h.pid, &FlushRequest{Deadline: deadline}, waitLimit).Result()
	if err != nil {
		h.t.Fatalf("flush: %v", err)
	}
	return res.(*FlushResponse)
}

// names lists the events as "name channel [user]".
// eventually polls cond every 2ms until it holds, or fails the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitLimit)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func names(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = strings.TrimSpace(e.Name + " " + e.Channel + " " + e.UserID)
	}
	return out
}

func expectNames(t *testing.T, got []Event, want ...string) {
	t.Helper()
	if g := names(got); !slices.Equal(g, want) {
		t.Fatalf("events:\n got  %q\n want %q", g, want)
	}
}
