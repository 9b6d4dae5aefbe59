package herald_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/webhooks"
)

// receiver is a real webhook receiver on 127.0.0.1 that verifies every
// request's key and signature.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	events []webhooks.Event
	fail   int // answer 500 to this many requests first
	posts  int
}

func newReceiver(t *testing.T, fail int) *receiver {
	r := &receiver{t: t, fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := webhooks.Verify(req, "app-key", "app-secret")
		if err != nil {
			t.Errorf("webhook refused: %v", err)
			w.WriteHeader(401)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts++
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(500)
			return
		}
		p, err := webhooks.Parse(body)
		if err != nil || p.TimeMs < time.Now().Add(-time.Minute).UnixMilli() {
			t.Errorf("payload %s: %v (time_ms must be milliseconds)", body, err)
		}
		r.events = append(r.events, p.Events...)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() []webhooks.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhooks.Event(nil), r.events...)
}

// waitEvents waits until n events arrived and returns them.
func (r *receiver) waitEvents(n int) []webhooks.Event {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ev := r.got(); len(ev) >= n {
			return ev
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("got %d webhook events, want %d: %+v", len(r.got()), n, r.got())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type running struct {
	h   *herald.Herald
	ws  string
	api pushertest.API
}

func start(t *testing.T, mut func(*config.Config)) *running {
	t.Helper()
	cfg := config.Default()
	cfg.WebSocket.Listen, cfg.API.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Apps = []config.App{config.DevApp()}
	if mut != nil {
		mut(&cfg)
	}
	h, err := herald.New(cfg, herald.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{h: h, ws: "ws://" + h.WebSocketAddr().String(),
		api: pushertest.API{T: t, Base: "http://" + h.APIAddr().String(), ID: "app-id", Key: "app-key", Secret: "app-secret"}}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.h.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func (r *running) connect(t *testing.T) *pushertest.Client {
	return pushertest.Connect(t, r.ws, "app-key", "app-secret")
}

func withHooks(debounce time.Duration, hooks ...config.Webhook) func(*config.Config) {
	return func(c *config.Config) {
		c.Webhooks.Debounce = debounce
		c.Webhooks.BatchWindow = 20 * time.Millisecond
		c.Apps[0].Webhooks = hooks
	}
}

func TestWebhooksOccupancyMembersAndClientEvents(t *testing.T) {
	rec := newReceiver(t, 0)
	r := start(t, withHooks(300*time.Millisecond, config.Webhook{URL: rec.srv.URL, Format: "pusher"}))
	a, b := r.connect(t), r.connect(t)
	a.SubscribePresence("presence-room", "alice", nil)
	b.SubscribePresence("presence-room", "bob", nil)
	a.Expect(pusher.EventMemberAdded)
	a2 := r.connect(t) // alice's second tab: no second member_added
	a2.SubscribePresence("presence-room", "alice", nil)
	a.Send(map[string]any{"event": "client-hi", "channel": "presence-room", "data": map[string]int{"n": 1}})
	b.Expect("client-hi")

	ev := rec.waitEvents(4)
	want := []webhooks.Event{
		{Name: "channel_occupied", Channel: "presence-room"},
		{Name: "member_added", Channel: "presence-room", UserID: "alice"},
		{Name: "member_added", Channel: "presence-room", UserID: "bob"},
		{Name: "client_event", Channel: "presence-room", Event: "client-hi", Data: `{"n":1}`, SocketID: a.SocketID, UserID: "alice"},
	}
	for i, w := range want {
		if ev[i] != w {
			t.Fatalf("event %d: %+v, want %+v", i, ev[i], w)
		}
	}
	// alice's first tab leaves: nothing. Her last tab and bob leave: member_removed each, then vacated.
	a.Unsubscribe("presence-room")
	time.Sleep(500 * time.Millisecond) // longer than the debounce window: nothing may come
	if n := len(rec.got()); n != 4 {
		t.Fatalf("a tab leaving sent webhooks: %+v", rec.got()[4:])
	}
	a2.Unsubscribe("presence-room")
	b.Unsubscribe("presence-room")
	ev = rec.waitEvents(7)
	rest := map[webhooks.Event]bool{}
	for _, e := range ev[4:] {
		rest[e] = true
	}
	for _, w := range []webhooks.Event{
		{Name: "member_removed", Channel: "presence-room", UserID: "alice"},
		{Name: "member_removed", Channel: "presence-room", UserID: "bob"},
		{Name: "channel_vacated", Channel: "presence-room"},
	} {
		if !rest[w] {
			t.Fatalf("missing %+v in %+v", w, ev[4:])
		}
	}
}

func TestWebhookReloadDoesNotFlap(t *testing.T) {
	rec := newReceiver(t, 0)
	r := start(t, withHooks(time.Second, config.Webhook{URL: rec.srv.URL, Format: "pusher"}))
	c := r.connect(t)
	c.SubscribePresence("presence-page", "u1", nil)
	rec.waitEvents(2) // occupied, member_added

	// A page reload: the socket goes and a new one comes within a second.
	_ = c.Conn.WriteClose(1000, nil)
	c2 := r.connect(t)
	c2.SubscribePresence("presence-page", "u1", nil)
	time.Sleep(1500 * time.Millisecond) // past the window
	if ev := rec.got(); len(ev) != 2 {
		t.Fatalf("reload flapped: %+v", ev)
	}
}

func TestWebhooksRetryUntilDelivered(t *testing.T) {
	rec := newReceiver(t, 2)
	r := start(t, withHooks(100*time.Millisecond, config.Webhook{URL: rec.srv.URL, Format: "pusher"}))
	c := r.connect(t)
	c.Subscribe("orders")
	c.Unsubscribe("orders")
	ev := rec.waitEvents(2)
	if ev[0].Name != "channel_occupied" || ev[1].Name != "channel_vacated" || len(ev) != 2 {
		t.Fatalf("events %+v", ev)
	}
}

func TestWebhooksWebmanFormat(t *testing.T) {
	rec := newReceiver(t, 0)
	r := start(t, withHooks(100*time.Millisecond, config.Webhook{URL: rec.srv.URL, Format: "webman"}))
	c := r.connect(t)
	c.SubscribePresence("presence-w", "7", nil)
	c.Unsubscribe("presence-w")
	ev := rec.waitEvents(4)
	names := map[string]bool{}
	for _, e := range ev {
		names[e.Name] = true
	}
	for _, n := range []string{"channel_added", "user_added", "user_removed", "channel_removed"} {
		if !names[n] {
			t.Fatalf("missing %s in %+v", n, ev)
		}
	}
}

func TestShutdownFlushesWebhooks(t *testing.T) {
	rec := newReceiver(t, 0)
	r := start(t, withHooks(time.Hour, config.Webhook{URL: rec.srv.URL, Format: "pusher"}))
	c := r.connect(t)
	c.Subscribe("x")
	rec.waitEvents(1)
	c.Unsubscribe("x")
	time.Sleep(100 * time.Millisecond) // let the vacated fact reach the webhook actor
	r.stop(t)                          // vacated is held for an hour: shutdown flushes it
	if ev := rec.got(); len(ev) != 2 || ev[1].Name != "channel_vacated" {
		t.Fatalf("events %+v", ev)
	}
}

func TestOneListenerServesBoth(t *testing.T) {
	r := start(t, func(c *config.Config) { c.API.Listen = c.WebSocket.Listen })
	if r.h.WebSocketAddr().String() != r.h.APIAddr().String() {
		t.Fatal("two listeners")
	}
	c := r.connect(t)
	c.Subscribe("one-port")
	r.api.Trigger("one-port", "e", "1", nil)
	c.Expect("e")
}
