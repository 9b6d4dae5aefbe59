package herald_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/pushertest"
)

const dashToken = "root-dashboard-token-81c3e0"

// startWithLog runs a broker on cfg (listeners on ephemeral loopback
// ports) that logs at debug level into the returned buffer.
func startWithLog(t *testing.T, cfg config.Config) (*herald.Herald, *logBuffer) {
	t.Helper()
	cfg.WebSocket.Listen, cfg.API.Listen = "127.0.0.1:0", "127.0.0.1:0"
	logs := &logBuffer{}
	h, err := herald.New(cfg, herald.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return h, logs
}

func dashGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close() //nolint:errcheck // a test's response
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func configuredApp() config.Config {
	cfg := config.Default()
	cfg.Apps = []config.App{config.App{ID: "app-id", Key: "app-key", Secret: "app-secret", ClientEvents: true}.WithDefaults()}
	return cfg
}

// Without dashboard.token (and not in dev mode) there is no dashboard.
func TestDashboardOffWithoutToken(t *testing.T) {
	h, logs := startWithLog(t, configuredApp())
	base := "http://" + h.APIAddr().String()
	if code, body := dashGet(t, base+"/dashboard/", ""); code != http.StatusNotFound {
		t.Errorf("/dashboard/ without a token configured: %d %s, want 404", code, body)
	}
	if _, body := dashGet(t, base+"/", ""); !strings.Contains(body, "enabled with <code>dashboard.token</code>") {
		t.Errorf("the home page does not say how to turn the dashboard on:\n%s", body)
	}
	if strings.Contains(logs.String(), "/dashboard/") {
		t.Errorf("the log mentions a dashboard that is off:\n%s", logs)
	}
}

// In dev mode with no token Herald makes one and logs the dashboard's URL
// with it; the URL works.
func TestDashboardDevModeMakesAToken(t *testing.T) {
	cfg, err := config.Load(nil, nil)
	if err != nil || !cfg.DevMode {
		t.Fatalf("config.Load() = dev mode %v, %v", cfg.DevMode, err)
	}
	h, logs := startWithLog(t, cfg)
	m := regexp.MustCompile(`level=INFO msg="dashboard[^"]*" url="?(http://([^/ ]+)/dashboard/)#token=([A-Za-z0-9]+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no dashboard URL with a token at info level in the log:\n%s", logs)
	}
	if m[2] != h.APIAddr().String() || len(m[3]) < config.MinDashboardTokenLength {
		t.Errorf("dashboard URL %s (token of %d characters), want the API address %s and a token of %d or more", m[1], len(m[3]), h.APIAddr(), config.MinDashboardTokenLength)
	}
	if code, body := dashGet(t, m[1]+"api/overview", m[3]); code != http.StatusOK || !strings.Contains(body, `"key":"app-key"`) {
		t.Errorf("overview with the logged token: %d %s", code, body)
	}
	if code, _ := dashGet(t, m[1]+"api/overview", ""); code != http.StatusUnauthorized {
		t.Errorf("overview without the token: %d, want 401", code)
	}
	if code, body := dashGet(t, m[1], ""); code != http.StatusOK || !strings.Contains(body, "Herald dashboard") {
		t.Errorf("the page: %d", code)
	}
	if _, body := dashGet(t, "http://"+h.APIAddr().String()+"/", ""); !strings.Contains(body, `href="/dashboard/"`) {
		t.Errorf("the home page does not link the dashboard:\n%s", body)
	}
}

// streamEvents opens the event stream with the token in the query and
// returns its data lines, ended when the stream ends.
func streamEvents(t *testing.T, url string) <-chan map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", res.StatusCode)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	out := make(chan map[string]any, 1024)
	go func() { // owned by the test: ends when the stream ends or its body is closed
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var o map[string]any
				if json.Unmarshal([]byte(data), &o) == nil {
					out <- o
				}
			}
		}
	}()
	return out
}

// expectObserved waits for an observation of kind whose field has value.
func expectObserved(t *testing.T, events <-chan map[string]any, kind, field, value string) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case o, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before a %s with %s=%s", kind, field, value)
			}
			if o["kind"] == kind && o[field] == value {
				return o
			}
		case <-timeout:
			t.Fatalf("no %s with %s=%s", kind, field, value)
		}
	}
}

// With dashboard.token set, a real client's connection and client event
// and an API publish reach the console; the counts and the channel list
// follow; the token is never logged.
func TestDashboardSeesTheBroker(t *testing.T) {
	cfg := configuredApp()
	cfg.Dashboard.Token = dashToken
	h, logs := startWithLog(t, cfg)
	base := "http://" + h.APIAddr().String() + "/dashboard/"
	events := streamEvents(t, base+"api/events?token="+dashToken+"&app=app-id")

	ws := "ws://" + h.WebSocketAddr().String()
	alice := pushertest.Connect(t, ws, "app-key", "app-secret")
	expectObserved(t, events, "connect", "socket_id", alice.SocketID)
	bob := pushertest.Connect(t, ws, "app-key", "app-secret")
	alice.Subscribe("private-room")
	bob.Subscribe("private-room")
	bob.SubscribePresence("presence-lobby", "bob", nil)

	alice.Send(map[string]any{"event": "client-typing", "channel": "private-room", "data": map[string]any{"secret": "not shown"}})
	o := expectObserved(t, events, "client_event", "event", "client-typing")
	if o["channel"] != "private-room" || o["socket_id"] != alice.SocketID || o["app"] != "app-id" {
		t.Errorf("client event observed as %v", o)
	}
	api := pushertest.API{T: t, Base: "http://" + h.APIAddr().String(), ID: "app-id", Key: "app-key", Secret: "app-secret"}
	api.Trigger("news", "headline", `{"text":"hello"}`, nil)
	expectObserved(t, events, "publish", "event", "headline")

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := dashGet(t, base+"api/overview?fresh=1", dashToken)
		var ov struct {
			Apps []struct {
				Channels int
				Stats    struct{ Connections int }
			}
		}
		_ = json.Unmarshal([]byte(body), &ov)
		if len(ov.Apps) == 1 && ov.Apps[0].Stats.Connections == 2 && ov.Apps[0].Channels == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overview never showed 2 connections and 2 channels: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := dashGet(t, base+"api/channels?app=app-id&fresh=1", dashToken)
	if code != http.StatusOK || !strings.Contains(body, `{"name":"private-room","subscriptions":2}`) ||
		!strings.Contains(body, `{"name":"presence-lobby","subscriptions":1,"users":1}`) {
		t.Errorf("channels: %d %s", code, body)
	}

	bob.Conn.NetConn().Close() //nolint:errcheck,gosec // the client goes away
	expectObserved(t, events, "disconnect", "socket_id", bob.SocketID)

	if strings.Contains(logs.String(), dashToken) {
		t.Errorf("the log shows the dashboard token:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `url=http://`+h.APIAddr().String()+`/dashboard/`) {
		t.Errorf("the log does not say where the dashboard is:\n%s", logs)
	}
}

// Shutdown ends open event streams first, so an open dashboard never
// holds it up.
func TestDashboardShutdownEndsStreams(t *testing.T) {
	cfg := configuredApp()
	cfg.Dashboard.Token = dashToken
	cfg.WebSocket.Listen, cfg.API.Listen = "127.0.0.1:0", "127.0.0.1:0"
	h, err := herald.New(cfg, herald.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	events := streamEvents(t, "http://"+h.APIAddr().String()+"/dashboard/api/events?token="+dashToken)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a dashboard stream open: %v", err)
	}
	for range events { // drained until the stream ends, which it must have
	}
}

// The dashboard is fed by the real call sites: a subscription, API
// requests and webhook deliveries reach its console as the kinds its
// filter offers, and its counts are the metrics' (API requests and their
// rate, webhook events delivered).
func TestDashboardCountsAgreeWithMetrics(t *testing.T) {
	rec := newReceiver(t, 0)
	cfg := configuredApp()
	cfg.Dashboard.Token = dashToken
	cfg.Apps[0].Webhooks = []config.Webhook{{URL: rec.srv.URL, Format: "pusher"}}
	cfg.Webhooks.BatchWindow = 20 * time.Millisecond
	h, _ := startWithLog(t, cfg)
	base := "http://" + h.APIAddr().String() + "/dashboard/"
	events := streamEvents(t, base+"api/events?token="+dashToken+"&kind=subscribe,api,webhook")

	c := pushertest.Connect(t, "ws://"+h.WebSocketAddr().String(), "app-key", "app-secret")
	c.Subscribe("room")
	if o := expectObserved(t, events, "subscribe", "channel", "room"); o["socket_id"] != c.SocketID || o["app"] != "app-id" {
		t.Errorf("subscribe observed as %v", o)
	}
	api := pushertest.API{T: t, Base: "http://" + h.APIAddr().String(), ID: "app-id", Key: "app-key", Secret: "app-secret"}
	for range 3 {
		api.Trigger("room", "tick", "1", nil)
		c.Expect("tick")
	}
	if o := expectObserved(t, events, "api", "path", "/apps/{app_id}/events"); o["method"] != "POST" || o["code"] != float64(200) {
		t.Errorf("API request observed as %v", o)
	}
	rec.waitEvents(1) // channel_occupied room
	if o := expectObserved(t, events, "webhook", "app", "app-id"); o["count"] != float64(1) || o["code"] != float64(200) {
		t.Errorf("webhook observed as %v", o)
	}

	type rate struct {
		Total     float64 `json:"total"`
		PerSecond float64 `json:"per_second"`
	}
	var stats struct {
		API      rate `json:"api_requests"`
		Webhooks rate `json:"webhooks"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := dashGet(t, base+"api/overview", dashToken)
		var ov struct {
			Apps []struct {
				Stats json.RawMessage `json:"stats"`
			} `json:"apps"`
		}
		if json.Unmarshal([]byte(body), &ov) == nil && len(ov.Apps) == 1 {
			_ = json.Unmarshal(ov.Apps[0].Stats, &stats)
		}
		// The rate counts whole seconds: it shows once the second of the
		// requests has passed.
		if stats.API.Total == 3 && stats.API.PerSecond > 0 && stats.Webhooks.Total == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overview: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	expectMetrics(t, "http://"+h.MetricsAddr().String()+"/metrics", []want{
		{app("herald_api_requests_total"), stats.API.Total},
		{app("herald_webhook_events_sent_total"), stats.Webhooks.Total},
	})
}
