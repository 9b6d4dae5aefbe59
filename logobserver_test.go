package herald_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// logBuffer collects log output from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// logLine is one JSON log line, its keys in order.
type logLine struct {
	raw   string
	keys  []string
	attrs map[string]any
}

func parseLine(t *testing.T, raw string) logLine {
	t.Helper()
	l := logLine{raw: raw, attrs: map[string]any{}}
	dec := json.NewDecoder(strings.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("log line %q is not a JSON object", raw)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		key := tok.(string)
		l.keys = append(l.keys, key)
		l.attrs[key] = v
	}
	return l
}

// find returns the lines whose message is msg and whose attributes have
// the given values (compared as printed).
func find(lines []logLine, msg string, attrs ...any) []logLine {
	var out []logLine
next:
	for _, l := range lines {
		if l.attrs["msg"] != msg {
			continue
		}
		for i := 0; i+1 < len(attrs); i += 2 {
			if fmt.Sprint(l.attrs[attrs[i].(string)]) != fmt.Sprint(attrs[i+1]) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// At log.level debug every connection, subscription, API request and
// webhook delivery gets one line, each attribute once, and no line at any
// level holds the app secret, a signature (channel auth, API, webhook) or
// event data.
func TestDebugLogs(t *testing.T) {
	const (
		id, key, secret = "dbg-app", "dbg-key", "dbg-secret-5c1f9e2a"
		dataMarker      = "data-marker-7741"
	)
	var never []string // what no line may contain
	never = append(never, secret, dataMarker)

	// A webhook receiver that checks the signature, records it, and fails
	// the first request (so the retry is logged too).
	var mu sync.Mutex
	var hookEvents []webhooks.Event
	posts := 0
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := webhooks.Verify(req, key, secret)
		if err != nil {
			t.Errorf("webhook: %v", err)
			w.WriteHeader(401)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		never = append(never, req.Header.Get("X-Pusher-Signature"))
		if posts++; posts == 1 {
			w.WriteHeader(500)
			return
		}
		p, _ := webhooks.Parse(body)
		hookEvents = append(hookEvents, p.Events...)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(hooks.Close)

	cfg := config.Default()
	cfg.WebSocket.Listen, cfg.API.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Log = config.Log{Level: "debug", Format: "json"}
	cfg.Webhooks.BatchWindow = 20 * time.Millisecond
	cfg.Apps = []config.App{config.App{ID: id, Key: key, Secret: secret, ClientEvents: true,
		Webhooks: []config.Webhook{{URL: hooks.URL, Format: "pusher"}}}.WithDefaults()}
	var out logBuffer
	h, err := herald.New(cfg, herald.Options{Logger: herald.NewLogger(cfg.Log, &out, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := h.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	c := pushertest.Connect(t, "ws://"+h.WebSocketAddr().String(), key, secret)
	subscribe := func(channel, channelData, auth string) map[string]any {
		data := map[string]string{"channel": channel, "auth": auth}
		if channelData != "" {
			data["channel_data"] = channelData
		}
		c.Send(map[string]any{"event": pusher.EventSubscribe, "data": data})
		return c.Next()
	}
	auth := pusher.ChannelAuth(key, secret, c.SocketID, "private-notes", "")
	never = append(never, strings.TrimPrefix(auth, key+":"))
	if f := subscribe("private-notes", "", auth); f["event"] != pusher.EventSubscriptionSucceeded {
		t.Fatalf("private subscribe: %v", f)
	}
	cd := `{"user_id":"u7","user_info":{"name":"Ann"}}`
	auth = pusher.ChannelAuth(key, secret, c.SocketID, "presence-team", cd)
	never = append(never, strings.TrimPrefix(auth, key+":"))
	if f := subscribe("presence-team", cd, auth); f["event"] != pusher.EventSubscriptionSucceeded {
		t.Fatalf("presence subscribe: %v", f)
	}
	// A forged signature is refused; neither it nor the expected one is logged.
	forged := strings.Repeat("ab", 32)
	never = append(never, forged, strings.TrimPrefix(pusher.ChannelAuth(key, secret, c.SocketID, "private-bad", ""), key+":"))
	if f := subscribe("private-bad", "", key+":"+forged); f["event"] != pusher.EventSubscriptionError {
		t.Fatalf("forged subscribe: %v", f)
	}
	c.Send(map[string]any{"event": "client-note", "channel": "presence-team", "data": map[string]string{"text": dataMarker}})

	// Signed API calls: a trigger (its data marked) and a query.
	api := pushertest.API{T: t, Base: "http://" + h.APIAddr().String(), ID: id, Key: key, Secret: secret}
	call := func(method, path string, body []byte) int {
		q := pusher.SignREST(key, secret, method, path, nil, body, time.Now())
		never = append(never, q.Get("auth_signature"))
		code, _ := api.RawCall(method, path+"?"+q.Encode(), body)
		return code
	}
	body, _ := json.Marshal(map[string]any{"name": "note", "channel": "private-notes", "data": dataMarker})
	if code := call("POST", "/apps/"+id+"/events", body); code != 200 {
		t.Fatalf("trigger: %d", code)
	}
	c.Expect("note")
	if code := call("GET", "/apps/"+id+"/channels", nil); code != 200 {
		t.Fatalf("channels: %d", code)
	}

	// The webhooks (2 channel_occupied, member_added, client_event) arrive
	// after one retry.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(hookEvents)
		mu.Unlock()
		if n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook events: %d, want 4", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = c.Conn.WriteClose(1000, nil)
	// The close reaches the broker, then the lines are all written.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(strings.Join(out.lines(), "\n"), `"connection closed"`); {
		if time.Now().After(deadline) {
			t.Fatal("no connection closed line")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()

	var lines []logLine
	for _, raw := range out.lines() {
		l := parseLine(t, raw)
		seen := map[string]bool{}
		for _, k := range l.keys {
			if seen[k] {
				t.Errorf("attribute %q repeated in %s", k, raw)
			}
			seen[k] = true
		}
		mu.Lock()
		for _, s := range never {
			if s != "" && strings.Contains(raw, s) {
				t.Errorf("log line holds %q (a secret, signature or event data): %s", s, raw)
			}
		}
		mu.Unlock()
		lines = append(lines, l)
	}

	must := func(msg string, attrs ...any) logLine {
		t.Helper()
		got := find(lines, msg, attrs...)
		if len(got) == 0 {
			t.Fatalf("no %q line with %v in:\n%s", msg, attrs, strings.Join(out.lines(), "\n"))
		}
		return got[0]
	}
	open := must("connection opened", "level", "DEBUG", "app", id, "socket_id", c.SocketID)
	if r, _ := open.attrs["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
		t.Errorf("connection opened without the remote address: %s", open.raw)
	}
	closed := must("connection closed", "app", id, "socket_id", c.SocketID, "code", 1000)
	if d, _ := closed.attrs["duration"].(float64); d <= 0 {
		t.Errorf("connection closed without its duration: %s", closed.raw)
	}
	must("subscribed", "app", id, "channel", "private-notes", "socket_id", c.SocketID)
	must("subscribed", "app", id, "channel", "presence-team")
	must("subscription refused", "app", id, "channel", "private-bad", "code", 401)
	must("client event relayed", "app", id, "channel", "presence-team", "event", "client-note")
	must("event published", "app", id, "channel", "private-notes", "event", "note", "fanout", 1)
	for _, l := range []logLine{
		must("api request", "app", id, "method", "POST", "path", "/apps/{app_id}/events", "status", 200),
		must("api request", "app", id, "method", "GET", "path", "/apps/{app_id}/channels", "status", 200),
	} {
		if _, ok := l.attrs["duration"]; !ok {
			t.Errorf("api request without its duration: %s", l.raw)
		}
	}
	must("webhook failed, will retry", "app", id, "status", 500)
	delivered := must("webhook delivered", "app", id, "status", 200)
	if _, ok := delivered.attrs["duration"]; !ok || delivered.attrs["events"] == nil {
		t.Errorf("webhook delivered without duration or events: %s", delivered.raw)
	}
	// The webhook actor's own warning names its component and app once.
	must("webhook delivery failed; will retry", "level", "WARN", "component", "webhooks", "app", id)
}
