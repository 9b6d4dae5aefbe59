package actors

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/pusher"
)

// probe is an actor that hands every message it receives to the test.
type probe struct {
	pid *actor.PID
	ch  chan any
}

func newProbe(t *testing.T, system *actor.ActorSystem) *probe {
	p := &probe{ch: make(chan any, 256)}
	p.pid = system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped:
			return
		}
		p.ch <- ctx.Message()
	}))
	return p
}

// expect returns the next message of type T, failing on anything else.
func expect[T any](t *testing.T, p *probe) T {
	t.Helper()
	select {
	case m := <-p.ch:
		v, ok := m.(T)
		if !ok {
			t.Fatalf("got %T %+v, want %T", m, m, *new(T))
		}
		return v
	case <-time.After(3 * time.Second):
		t.Fatalf("no %T within 3s", *new(T))
	}
	panic("unreachable")
}

// outbox is an Outbound that records frames.
type outbox struct {
	frames chan string
	mu     sync.Mutex
	closed pusher.CloseCode
}

func newOutbox() *outbox { return &outbox{frames: make(chan string, 256)} }

func (o *outbox) Send(f []byte)       { o.frames <- string(f) }
func (o *outbox) SendShared(s Shared) { o.frames <- string(s.(PlainShared)) }
func (o *outbox) Close(c pusher.CloseCode, _ string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed == 0 {
		o.closed = c
	}
}

// next returns the next frame decoded, with its data decoded into data
// when data is not nil.
func (o *outbox) next(t *testing.T, data any) map[string]any {
	t.Helper()
	select {
	case s := <-o.frames:
		var f map[string]any
		if err := json.Unmarshal([]byte(s), &f); err != nil {
			t.Fatalf("frame %q: %v", s, err)
		}
		if data != nil {
			if err := json.Unmarshal([]byte(f["data"].(string)), data); err != nil {
				t.Fatalf("data of %q: %v", s, err)
			}
		}
		return f
	case <-time.After(3 * time.Second):
		t.Fatal("no frame within 3s")
	}
	return nil
}

func (o *outbox) empty(t *testing.T) {
	t.Helper()
	select {
	case s := <-o.frames:
		t.Fatalf("unexpected frame %s", s)
	default:
	}
}

// warnings records the actors' warn-level log lines ("unexpected message"),
// with the attributes of the logger (With) first. A line that names an
// attribute twice is recorded as a "repeated attribute" line, which fails
// the test like any unexpected line.
type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) Handle(ctx context.Context, r slog.Record) error {
	return withAttrs{w: w}.Handle(ctx, r)
}
func (w *warnings) WithAttrs(as []slog.Attr) slog.Handler { return withAttrs{w: w, attrs: as} }
func (w *warnings) WithGroup(string) slog.Handler         { return w }

// withAttrs is a warnings handler under a logger's With attributes.
type withAttrs struct {
	w     *warnings
	attrs []slog.Attr
}

func (h withAttrs) Enabled(context.Context, slog.Level) bool { return true }
func (h withAttrs) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	seen := map[string]bool{}
	var repeated []string
	add := func(a slog.Attr) bool {
		if seen[a.Key] {
			repeated = append(repeated, a.Key)
		}
		seen[a.Key] = true
		b.WriteString(" " + a.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.w.lines = append(h.w.lines, b.String())
	for _, k := range repeated {
		h.w.lines = append(h.w.lines, "repeated attribute "+k+" in: "+b.String())
	}
	return nil
}
func (h withAttrs) WithAttrs(as []slog.Attr) slog.Handler {
	return withAttrs{w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h withAttrs) WithGroup(string) slog.Handler { return h }
func (w *warnings) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

type testEnv struct {
	system *actor.ActorSystem
	broker *Broker
	warn   *warnings
	hooks  *probe
}

func newEnv(t *testing.T, mut func(*AppConfig)) *testEnv {
	t.Helper()
	w := &warnings{}
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	hooks := newProbe(t, system)
	app := AppConfig{ID: "1", Key: "key", Secret: "secret", ClientEvents: true, Hooks: hooks.pid}
	if mut != nil {
		mut(&app)
	}
	b, err := Start(system, testConfig(Config{Apps: []AppConfig{app}, Logger: slog.New(w)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Stop(context.Background())
		system.Shutdown()
		if l := w.get(); len(l) > 0 {
			t.Errorf("warnings logged: %v", l)
		}
	})
	return &testEnv{system: system, broker: b, warn: w, hooks: hooks}
}

func (e *testEnv) app() *App { a, _ := e.broker.App("key"); return a }

// testConfig fills in the settings a test leaves at zero with the
// production defaults, from config, the one place they are written down.
func testConfig(c Config) Config {
	d := config.Default()
	if c.Timing == (Timing{}) {
		c.Timing = Timing{ActivityTimeout: d.WebSocket.ActivityTimeout, PongTimeout: d.WebSocket.PongTimeout}
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.API.RequestTimeout
	}
	for i := range c.Apps {
		c.Apps[i] = testApp(c.Apps[i])
	}
	return c
}

// testApp fills in the per-app limits a test leaves at zero with the
// defaults of config.
func testApp(a AppConfig) AppConfig {
	d := config.App{}.WithDefaults()
	if a.ClientEventRate == 0 {
		a.ClientEventRate = d.ClientEventRate
	}
	if a.MaxPresenceMembers == 0 {
		a.MaxPresenceMembers = d.MaxPresenceMembers
	}
	if a.MaxChannelsPerConnection == 0 {
		a.MaxChannelsPerConnection = d.MaxChannelsPerConnection
	}
	if a.CacheTTL == 0 {
		a.CacheTTL = d.CacheTTL
	}
	return a
}
