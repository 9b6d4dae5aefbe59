package herald_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/webhooks"
)

// logSink collects the broker's JSON log lines.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines decodes every line; a line that repeats a key, or that shows one
// of secrets, fails the test.
func (l *logSink) lines(t *testing.T, secrets ...string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line shows a secret: %s", line)
			}
		}
		if key := repeatedKey(t, line); key != "" {
			t.Errorf("log line repeats %q: %s", key, line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// repeatedKey returns a key that appears twice at the top of a JSON
// object ("" if none): encoding/json would keep only the last.
func repeatedKey(t *testing.T, line string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		t.Fatalf("log line %q: %v", line, err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		key := tok.(string)
		if seen[key] {
			return key
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
	}
	return ""
}

// withMsg returns the lines whose msg is msg.
func withMsg(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startLogged runs a broker with two listeners on loopback (set in cfg),
// logging JSON at info into the returned sink.
func startLogged(t *testing.T, cfg *config.Config) (*herald.Herald, *logSink) {
	t.Helper()
	h, logs, _ := startLeveled(t, cfg)
	return h, logs
}

// startLeveled is startLogged that also returns the logger's level.
func startLeveled(t *testing.T, cfg *config.Config) (*herald.Herald, *logSink, *slog.LevelVar) {
	t.Helper()
	cfg.WebSocket.Listen, cfg.API.Listen = freeAddr(t), freeAddr(t)
	cfg.Log.Format = "json"
	logs, level := &logSink{}, new(slog.LevelVar)
	h, err := herald.New(*cfg, herald.Options{Logger: herald.NewLogger(cfg.Log, logs, level), LogLevel: level})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	return h, logs, level
}

// Start-up logs every listener with its full URL (the demo's in dev
// mode, /metrics'); shutdown logs each step; no line repeats an attribute or shows
// the app secret.
func TestStartAndShutdownLogs(t *testing.T) {
	cfg := config.Default()
	cfg.Apps, cfg.DevMode = []config.App{config.DevApp()}, true
	h, logs := startLogged(t, &cfg)
	ws, api := h.WebSocketAddr().String(), h.APIAddr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	lines := logs.lines(t, "app-secret")
	var urls []string
	for _, l := range withMsg(lines, "listening") {
		urls = append(urls, l["listener"].(string)+" "+l["url"].(string))
	}
	want := []string{"websocket ws://" + ws + "/app/{key}", "api http://" + api + "/", "demo http://" + api + "/demo/",
		"metrics http://" + api + "/metrics"} // metrics.enabled by default, on the API listener
	if !slices.Equal(urls, want) {
		t.Errorf("listeners logged %q, want %q", urls, want)
	}
	var msgs []string
	for _, l := range lines {
		if l["level"] == "INFO" {
			msgs = append(msgs, l["msg"].(string))
		}
	}
	steps := []string{"ready", "shutdown: started", "shutdown: not ready; websockets closed with 4200",
		"shutdown: actors stopped", "shutdown: webhooks flushed", "shutdown: listeners closed", "shutdown: done"}
	at := 0
	for _, m := range msgs {
		if at < len(steps) && m == steps[at] {
			at++
		}
	}
	if at != len(steps) {
		t.Errorf("info lines %q lack, in order, %q", msgs, steps[at:])
	}
}

// hookReceiver is a webhook receiver on loopback that checks signatures
// with secret, and can be made to fail or to hold requests.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	failed bool          // answer 500
	hold   chan struct{} // when set, requests wait for it to close
	events []webhooks.Event
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	r := &hookReceiver{t: t, secret: secret}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		secret, hold := r.secret, r.hold
		r.mu.Unlock()
		if hold != nil {
			<-hold
		}
		body, err := webhooks.Verify(req, "app-key", secret)
		if err != nil {
			t.Errorf("webhook refused: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.failed {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		p, err := webhooks.Parse(body)
		if err != nil {
			t.Errorf("payload %s: %v", body, err)
		}
		r.events = append(r.events, p.Events...)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) set(f func(r *hookReceiver)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// wait waits until the receiver has n events and returns them.
func (r *hookReceiver) wait(n int) []webhooks.Event {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r.mu.Lock()
		ev := slices.Clone(r.events)
		r.mu.Unlock()
		if len(ev) >= n {
			return ev
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("got webhook events %+v, want %d", ev, n)
		}
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url) //nolint:gosec // G107: a loopback URL this test made
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// While a shutdown drains (here: webhooks being flushed to a receiver that
// holds them), /readyz answers 503 and /healthz 200; the sockets were
// closed with 4200 first.
func TestShutdownDrainIsNotReadyButLive(t *testing.T) {
	rec := newHookReceiver(t, "app-secret")
	cfg := config.Default()
	app := config.DevApp()
	app.Webhooks = []config.Webhook{{URL: rec.srv.URL, Format: config.WebhookFormatPusher}}
	cfg.Apps = []config.App{app.WithDefaults()}
	cfg.Webhooks.BatchWindow = 0
	h, _ := startLogged(t, &cfg)
	api := "http://" + h.APIAddr().String()
	if status(t, api+"/readyz") != http.StatusOK {
		t.Fatal("not ready after Start")
	}
	hold := make(chan struct{})
	rec.set(func(r *hookReceiver) { r.hold = hold })
	c := pushertest.Connect(t, "ws://"+h.WebSocketAddr().String(), "app-key", "app-secret")
	c.Subscribe("drain") // channel_occupied: held by the receiver

	done := make(chan error, 1)
	go func() { // owned by this test: ends when Shutdown returns, after hold is closed
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- h.Shutdown(ctx)
	}()
	if e := c.WaitClose(); e.Code != uint16(pusher.CloseReconnect) {
		t.Fatalf("closed with %d, want 4200", e.Code)
	}
	for i := 0; i < 3; i++ { // the flush is still waiting for the receiver
		if r, l := status(t, api+"/readyz"), status(t, api+"/healthz"); r != http.StatusServiceUnavailable || l != http.StatusOK {
			t.Fatalf("draining: /readyz %d, /healthz %d; want 503, 200", r, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the webhook was delivered", err)
	default:
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ev := rec.wait(1); ev[0].Name != "channel_occupied" {
		t.Fatalf("events %+v", ev)
	}
	if status(t, api+"/healthz") != 0 {
		t.Fatal("/healthz answers after Shutdown")
	}
}

// Reload in process: a changed secret applies to the next API request;
// the app's webhook actor is rebuilt for the new URL and secret while the
// old one still delivers what it held (nothing is lost); an added app
// serves; the open connection stays.
func TestReloadAppsAndWebhooks(t *testing.T) {
	old, neu := newHookReceiver(t, "app-secret"), newHookReceiver(t, "new-secret")
	old.set(func(r *hookReceiver) { r.failed = true }) // the first deliveries fail: events wait in the old actor
	cfg := config.Default()
	app := config.DevApp()
	app.Webhooks = []config.Webhook{{URL: old.srv.URL, Format: config.WebhookFormatPusher}}
	cfg.Apps = []config.App{app.WithDefaults()}
	cfg.Webhooks.BatchWindow, cfg.Webhooks.Debounce = 0, 0
	cfg.Webhooks.BackoffMin, cfg.Webhooks.BackoffMax = 50*time.Millisecond, 100*time.Millisecond
	h, logs, level := startLeveled(t, &cfg)
	base := "ws://" + h.WebSocketAddr().String()
	api := pushertest.API{T: t, Base: "http://" + h.APIAddr().String(), ID: "app-id", Key: "app-key", Secret: "app-secret"}
	c := pushertest.Connect(t, base, "app-key", "app-secret")
	c.Subscribe("before") // channel_occupied "before": the old receiver refuses it for now

	next := cfg
	next.Apps = []config.App{app, {Key: "added-key", Secret: "added-secret"}}
	next.Apps[0].Secret = "new-secret"
	next.Apps[0].Webhooks = []config.Webhook{{URL: neu.srv.URL, Format: config.WebhookFormatPusher}}
	for i := range next.Apps {
		next.Apps[i] = next.Apps[i].WithDefaults()
	}
	next.Log.Level = "debug"
	next.WebSocket.Listen = "127.0.0.1:1" // not reloadable: warned, ignored
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Reload(ctx, next); err != nil {
		t.Fatal(err)
	}

	if level.Level() != slog.LevelDebug {
		t.Errorf("log level %s after a reload to debug", level.Level())
	}
	if code, _ := api.Call(http.MethodGet, "/apps/app-id/channels", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("old secret: %d, want 401", code)
	}
	api.Secret = "new-secret"
	if code, res := api.Call(http.MethodGet, "/apps/app-id/channels", nil, nil); code != http.StatusOK {
		t.Fatalf("new secret: %d %v", code, res)
	}
	c.Subscribe("after") // the open connection stays; its event goes to the new actor
	if ev := neu.wait(1); ev[0] != (webhooks.Event{Name: "channel_occupied", Channel: "after"}) {
		t.Fatalf("new receiver got %+v", ev)
	}
	old.set(func(r *hookReceiver) { r.failed = false }) // the old actor, retrying, now delivers
	if ev := old.wait(1); ev[0] != (webhooks.Event{Name: "channel_occupied", Channel: "before"}) {
		t.Fatalf("old receiver got %+v", ev)
	}
	pushertest.Connect(t, base, "added-key", "added-secret").Subscribe("new-app")

	lines := logs.lines(t, "new-secret", "added-secret")
	done := withMsg(lines, "reload: done")
	if len(done) != 1 || done[0]["apps_added"] != "added-key" || done[0]["apps_changed"] != "app-key" ||
		done[0]["webhooks_rebuilt"] != "app-key" || !strings.Contains(done[0]["changed"].(string), "log.level") {
		t.Errorf("reload logged %+v", done)
	}
	if w := withMsg(lines, "reload: setting not reloadable, ignored until restart"); len(w) != 1 || w[0]["key"] != "websocket.listen" {
		t.Errorf("ignored keys logged %+v", w)
	}
	// log.level debug turns the debug lines on: the subscription made
	// after the reload is logged, the one made before is not.
	subscribed := func(lines []map[string]any, channel string) bool {
		for _, l := range withMsg(lines, "subscribed") {
			if l["channel"] == channel && l["level"] == "DEBUG" {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); !subscribed(lines, "after"); lines = logs.lines(t, "new-secret", "added-secret") {
		if time.Now().After(deadline) {
			t.Fatal("no debug line for the subscription made after the reload to debug")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if subscribed(lines, "before") {
		t.Error("a debug line for a subscription made at info level")
	}

	// An invalid configuration is refused and changes nothing.
	bad := next
	bad.Apps = []config.App{{Key: "x"}}
	if err := h.Reload(ctx, bad); err == nil || !strings.Contains(err.Error(), "apps[0].secret") {
		t.Fatalf("invalid reload: %v", err)
	}
	if code, _ := api.Call(http.MethodGet, "/apps/app-id/channels", nil, nil); code != http.StatusOK {
		t.Fatalf("after a refused reload: %d", code)
	}
}
