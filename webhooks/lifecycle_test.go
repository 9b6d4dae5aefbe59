package webhooks

import (
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ourGoroutines returns the stacks of goroutines running the package's own
// code: senders and anything the actor started (not the test receivers).
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var ours []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "webhooks.(*sender)") || strings.Contains(g, "webhooks.(*dispatcherActor)") {
			ours = append(ours, g)
		}
	}
	return ours
}

func TestStopEndsEveryGoroutine(t *testing.T) {
	slow, fast := newReceiver(t), newReceiver(t)
	gate := make(chan struct{})
	defer close(gate)
	slow.setGate(gate)

	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	logs := &logSink{}
	before := runtime.NumGoroutine()
	pid := sys.Root.Spawn(props(t, Config{Key: testKey, Secret: testSecret, Logger: slog.New(logs),
		Endpoints: []Endpoint{slow.endpoint(""), fast.endpoint("")}, BatchMax: 1}))

	sys.Root.Send(pid, occupied("a"))
	sys.Root.Send(pid, occupied("b"))
	fast.waitEvents(2)
	senders := 0
	for _, g := range ourGoroutines() {
		if strings.Contains(g, "(*sender).run") {
			senders++
		}
	}
	if senders != 2 {
		t.Fatalf("want 2 sender goroutines:\n%s", strings.Join(ourGoroutines(), "\n\n"))
	}
	// The slow receiver holds the first request: stopping must abort it.
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if g := ourGoroutines(); len(g) != 0 {
		t.Fatalf("goroutines left after stop:\n%s", strings.Join(g, "\n\n"))
	}
	eventually(t, "the goroutine count to settle", func() bool { return runtime.NumGoroutine() <= before })
	if len(logs.matching("reason=actor stopped")) == 0 || len(logs.matching("webhook events discarded")) == 0 {
		t.Errorf("undelivered events not logged:\n%s", logs.all())
	}
}

func TestPoisonAfterFlush(t *testing.T) {
	r := newReceiver(t)
	clk := newFakeClock()
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, Clock: clk})
	h.send(vacated("a"), occupied("b"))
	if res := h.flush(clk.Now().Add(time.Minute)); res.Pending != 0 {
		t.Fatalf("pending %d", res.Pending)
	}
	if err := h.sys.Root.PoisonFuture(h.pid).Wait(); err != nil {
		t.Fatal(err)
	}
	// The flush sends the batch queue first, then the held events.
	expectNames(t, r.events(), "channel_occupied b", "channel_vacated a")
	if len(h.logs.matching("discarded")) != 0 {
		t.Errorf("nothing should be discarded:\n%s", h.logs.all())
	}
	if g := ourGoroutines(); len(g) != 0 {
		t.Fatalf("goroutines left after poison:\n%s", strings.Join(g, "\n\n"))
	}
}

// Config restates no default: a setting the caller left out is refused,
// not silently replaced.
func TestNewPropsRefusesMissingSettings(t *testing.T) {
	for name, change := range map[string]func(*Config){
		"BatchMax":   func(c *Config) { c.BatchMax = 0 },
		"Timeout":    func(c *Config) { c.Timeout = 0 },
		"QueueSize":  func(c *Config) { c.QueueSize = 0 },
		"BackoffMin": func(c *Config) { c.BackoffMin = 0 },
		"BackoffMax": func(c *Config) { c.BackoffMax = c.BackoffMin / 2 },
	} {
		cfg := fill(Config{})
		change(&cfg)
		if _, err := NewProps(cfg); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: NewProps error %v, want one naming it", name, err)
		}
	}
	if _, err := NewProps(fill(Config{Debounce: -1, BatchWindow: -1, RetryFor: -1})); err != nil {
		t.Errorf("zero Debounce, BatchWindow and RetryFor (off): %v", err)
	}
}
