package herald_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
)

// startLoaded runs a broker on the configuration config.Load makes of
// environ (HERALD_* variables, none for the dev defaults), with the
// listeners on ephemeral loopback ports: one port for both when shared,
// else two.
func startLoaded(t *testing.T, shared bool, environ ...string) (*herald.Herald, config.Config) {
	t.Helper()
	args := []string{"--websocket.listen=127.0.0.1:0", "--api.listen=127.0.0.1:0"}
	if !shared {
		args[1] = "--api.listen=" + freeAddr(t)
	}
	cfg, err := config.Load(args, environ)
	if err != nil {
		t.Fatal(err)
	}
	h, err := herald.New(cfg, herald.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return h, cfg
}

// webmanTrigger posts an event the way webman/push's PHP Api::trigger
// does: to /apps/1024/events, signed with auth_key, auth_timestamp and
// body_md5 but no auth_version.
func webmanTrigger(t *testing.T, api, key, secret, channel, event, data string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": event, "data": data, "channels": []string{channel}})
	const path = "/apps/1024/events"
	q := url.Values{}
	q.Set("auth_key", key)
	q.Set("auth_timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	q.Set("body_md5", pusher.BodyMD5(body))
	q.Set("auth_signature", pusher.RESTSignature(secret, "POST", path, q))
	res, err := http.Post(api+path+"?"+q.Encode(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The dev app takes any app id in API paths, so webman's PHP Api (which
// always posts to /apps/1024) works against `herald` with no configuration,
// as does the documented id app-id.
func TestDevAppAcceptsAnyAppID(t *testing.T) {
	h, cfg := startLoaded(t, false)
	if !cfg.DevMode {
		t.Fatalf("no apps configured, but DevMode is off")
	}
	api := "http://" + h.APIAddr().String()
	c := pushertest.Connect(t, "ws://"+h.WebSocketAddr().String(), "app-key", "app-secret")
	c.Subscribe("user-1")

	if code, body := webmanTrigger(t, api, "app-key", "app-secret", "user-1", "message", `{"from":"webman"}`); code != 200 {
		t.Fatalf("POST /apps/1024/events signed like webman's Api: %d %s", code, body)
	}
	f := c.Expect("message")
	if f["channel"] != "user-1" || f["data"] != `{"from":"webman"}` {
		t.Fatalf("got %v, want the webman event on user-1", f)
	}

	for _, id := range []string{"app-id", "anything"} {
		pushertest.API{T: t, Base: api, ID: id, Key: "app-key", Secret: "app-secret"}.Trigger("user-1", "message", id, nil)
		if f := c.Expect("message"); f["data"] != id {
			t.Fatalf("got %v, want the event sent to /apps/%s", f, id)
		}
	}
	// The id is free, the signature is not.
	if code, body := webmanTrigger(t, api, "app-key", "not-the-secret", "user-1", "message", "x"); code != 401 {
		t.Fatalf("badly signed POST /apps/1024/events: %d %s, want 401", code, body)
	}
	c.Quiet(200 * time.Millisecond)
}

// freeAddr is a loopback address with a port that was free a moment ago.
type page struct {
	status int
	ctype  string
	body   string
}

func get(t *testing.T, method, url string) page {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header.Get("Content-Type"), string(b)}
}

// notFoundJSON checks that p is a 404 with Pusher's JSON error body.
func notFoundJSON(t *testing.T, what string, p page) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	if p.status != 404 || p.ctype != "application/json" || json.Unmarshal([]byte(p.body), &e) != nil || e.Error == "" || e.Code != 404 {
		t.Errorf("%s: %d %q %s, want 404 with a JSON error body", what, p.status, p.ctype, p.body)
	}
}

// GET / answers a short page with the name, the version and links that
// lead somewhere; it answers only /, and unknown paths stay JSON 404s,
// with separate listeners and with one port for both.
func TestHomePage(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run("shared port "+strconv.FormatBool(shared), func(t *testing.T) {
			h, _ := startLoaded(t, shared)
			checkHomePage(t, "http://"+h.APIAddr().String())
			ws := "http://" + h.WebSocketAddr().String() + "/"
			if shared {
				// /app/{key} still upgrades on the shared port.
				pushertest.Connect(t, "ws://"+h.WebSocketAddr().String(), "app-key", "app-secret").Subscribe("user-1")
			} else {
				notFoundJSON(t, "GET / on the WebSocket listener", get(t, "GET", ws))
			}
		})
	}
}

func checkHomePage(t *testing.T, api string) {
	t.Helper()
	home := get(t, "GET", api+"/")
	if home.status != 200 || home.ctype != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", home.status, home.ctype)
	}
	for _, want := range []string{"<h1>Herald</h1>", runtime.Version(), `href="/demo/"`, `href="/push.js"`,
		`href="https://github.com/herald-push/herald"`, `href="/dashboard/"`} {
		if !strings.Contains(home.body, want) {
			t.Errorf("GET / lacks %q:\n%s", want, home.body)
		}
	}
	for _, secret := range []string{"app-secret", "app-key"} {
		if strings.Contains(home.body, secret) {
			t.Errorf("GET / shows %q", secret)
		}
	}
	// Every local link on it answers (the dashboard's page, with a token
	// made for this run: its data wants that token).
	for _, link := range []string{"/demo/", "/push.js", "/dashboard/"} {
		if p := get(t, "GET", api+link); p.status != 200 {
			t.Errorf("GET %s (linked from /): %d", link, p.status)
		}
	}
	if p := get(t, "HEAD", api+"/"); p.status != 200 || p.ctype != "text/html; charset=utf-8" {
		t.Errorf("HEAD /: %d %q", p.status, p.ctype)
	}
	if p := get(t, "POST", api+"/"); p.status != 405 {
		t.Errorf("POST /: %d, want 405", p.status)
	}
	// / shadows nothing.
	if p := get(t, "GET", api+"/healthz"); p.status != 200 || !strings.Contains(p.body, `"ok":true`) {
		t.Errorf("GET /healthz: %d %s", p.status, p.body)
	}
	if p := get(t, "GET", api+"/push.js"); p.ctype != "application/javascript; charset=utf-8" {
		t.Errorf("GET /push.js: %q", p.ctype)
	}
	for _, path := range []string{"/nope", "/index.html", "/healthz/x"} {
		notFoundJSON(t, "GET "+path, get(t, "GET", api+path))
	}
	if p := get(t, "GET", api+"/dashboard/api/overview"); p.status != 401 || p.ctype != "application/json" {
		t.Errorf("GET /dashboard/api/overview without the token: %d %q, want 401 JSON", p.status, p.ctype)
	}
}

// Outside dev mode the page does not link the demo, which is not mounted,
// nor the dashboard without dashboard.token.
func TestHomePageWithoutDemo(t *testing.T) {
	h, cfg := startLoaded(t, false, "HERALD_APP_ID=42", "HERALD_APP_KEY=k", "HERALD_APP_SECRET=s")
	if cfg.DevMode {
		t.Fatal("an app is configured, but DevMode is on")
	}
	api := "http://" + h.APIAddr().String()
	home := get(t, "GET", api+"/")
	if home.status != 200 || strings.Contains(home.body, "/demo/") || !strings.Contains(home.body, `href="/push.js"`) ||
		!strings.Contains(home.body, "enabled with <code>dashboard.token</code>") {
		t.Errorf("GET / outside dev mode: %d\n%s", home.status, home.body)
	}
	notFoundJSON(t, "GET /demo/", get(t, "GET", api+"/demo/"))
	notFoundJSON(t, "GET /dashboard/ (no dashboard.token)", get(t, "GET", api+"/dashboard/"))
}
