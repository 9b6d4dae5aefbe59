package web_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/web"
)

func do(t *testing.T, h http.Handler, method, target string, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestClientHandler(t *testing.T) {
	h := web.ClientHandler()
	dist, err := os.ReadFile("dist/push.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range web.ClientPaths() {
		w := do(t, h, "GET", p, nil, nil)
		if w.Code != 200 {
			t.Fatalf("%s: %d", p, w.Code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/javascript; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("%s: Cache-Control %q", p, cc)
		}
		etag := w.Header().Get("ETag")
		if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
			t.Errorf("%s: ETag %q", p, etag)
		}
		if !strings.Contains(w.Body.String(), "Herald push client") {
			t.Errorf("%s: unexpected body", p)
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			w2 := do(t, h, "GET", p, nil, map[string]string{"If-None-Match": inm})
			if w2.Code != http.StatusNotModified || w2.Body.Len() != 0 {
				t.Errorf("%s If-None-Match %s: %d", p, inm, w2.Code)
			}
		}
		if w3 := do(t, h, "GET", p, nil, map[string]string{"If-None-Match": `"stale"`}); w3.Code != 200 {
			t.Errorf("%s stale etag: %d", p, w3.Code)
		}
	}
	for _, p := range []string{"/push.js", "/plugin/webman/push/push.js"} {
		if w := do(t, h, "GET", p, nil, nil); w.Body.String() != string(dist) {
			t.Errorf("%s is not dist/push.js", p)
		}
	}
	if w := do(t, h, "GET", "/push-vue.js", nil, nil); !strings.Contains(w.Body.String(), "export default Push;") {
		t.Error("push-vue.js is not the ES module")
	}
	if w := do(t, h, "GET", "/push-uniapp.js", nil, nil); !strings.Contains(w.Body.String(), "uni.connectSocket") {
		t.Error("push-uniapp.js is not the uni-app build")
	}
	if w := do(t, h, "HEAD", "/push.js", nil, nil); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := do(t, h, "POST", "/push.js", nil, nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
	if w := do(t, h, "GET", "/push.jsx", nil, nil); w.Code != 404 {
		t.Errorf("unknown path: %d", w.Code)
	}
}

type published struct{ channel, event, data string }

func demo(pub *[]published, err error) http.Handler {
	return web.DemoHandler(web.Demo{
		AppKey:       "app-key",
		Secret:       "app-secret",
		WebSocketURL: "ws://127.0.0.1:3131",
		Publish: func(c, e, d string) error {
			*pub = append(*pub, published{c, e, d})
			return err
		},
	})
}

func form(v url.Values) (io.Reader, map[string]string) {
	return strings.NewReader(v.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
}

// decode reads a JSON answer's string fields. An error body must be
// pusher's {"error": msg, "code": status}, with code equal to the status.
func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	if _, isErr := m["error"]; isErr {
		if code, _ := m["code"].(float64); int(code) != w.Code {
			t.Errorf("error body %s: code, want %d", w.Body, w.Code)
		}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func TestDemoPages(t *testing.T) {
	h := demo(new([]published), nil)
	for path, ctype := range map[string]string{
		"/demo/":            "text/html; charset=utf-8",
		"/demo/demo.js":     "application/javascript; charset=utf-8",
		"/demo/demo.css":    "text/css; charset=utf-8",
		"/demo/vue.html":    "text/html; charset=utf-8",
		"/demo/vue-demo.js": "application/javascript; charset=utf-8",
		"/demo/push.js":     "application/javascript; charset=utf-8",
		"/demo/push-vue.js": "application/javascript; charset=utf-8",
		"/demo/config.js":   "application/javascript; charset=utf-8",
	} {
		w := do(t, h, "GET", path, nil, nil)
		if w.Code != 200 || w.Header().Get("Content-Type") != ctype {
			t.Errorf("%s: %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
		if w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP", path)
		}
	}
	w := do(t, h, "GET", "/demo/config.js", nil, nil)
	if got := w.Body.String(); got != `window.HERALD_DEMO = {"appKey":"app-key","wsURL":"ws://127.0.0.1:3131"};`+"\n" {
		t.Errorf("config.js = %q", got)
	}
	if w := do(t, h, "GET", "/demo", nil, nil); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/demo/" {
		t.Errorf("/demo: %d %q", w.Code, w.Header().Get("Location"))
	}
	if w := do(t, h, "GET", "/demo/nope", nil, nil); w.Code != 404 {
		t.Errorf("/demo/nope: %d", w.Code)
	}
}

func TestDemoAuthPrivate(t *testing.T) {
	h := demo(new([]published), nil)
	body, hdr := form(url.Values{"channel_name": {"private-room"}, "socket_id": {"1.42"}})
	w := do(t, h, "POST", "/demo/auth", body, hdr)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	if want := pusher.ChannelAuth("app-key", "app-secret", "1.42", "private-room", ""); m["auth"] != want {
		t.Errorf("auth %q, want %q", m["auth"], want)
	}
	if _, ok := m["channel_data"]; ok {
		t.Error("channel_data on a private channel")
	}
	// JSON bodies work too (WeChat mini programs send JSON).
	w = do(t, h, "POST", "/demo/auth", strings.NewReader(`{"channel_name":"private-room","socket_id":"1.42"}`), map[string]string{"Content-Type": "application/json"})
	if w.Code != 200 || decode(t, w)["auth"] != m["auth"] {
		t.Errorf("JSON body: %d %s", w.Code, w.Body)
	}
}

func TestDemoAuthPresence(t *testing.T) {
	h := demo(new([]published), nil)
	body, hdr := form(url.Values{"channel_name": {"presence-demo"}, "socket_id": {"3.4"}})
	w := do(t, h, "POST", "/demo/auth?user_id=alice&user_name=Alice+%3Cb%3E", body, hdr)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := decode(t, w)
	var cd struct {
		UserID   string `json:"user_id"`
		UserInfo struct {
			Name string `json:"name"`
		} `json:"user_info"`
	}
	if err := json.Unmarshal([]byte(m["channel_data"]), &cd); err != nil {
		t.Fatal(err)
	}
	if cd.UserID != "alice" || cd.UserInfo.Name != "Alice <b>" {
		t.Errorf("channel_data %q", m["channel_data"])
	}
	if want := pusher.ChannelAuth("app-key", "app-secret", "3.4", "presence-demo", m["channel_data"]); m["auth"] != want {
		t.Errorf("auth %q, want %q", m["auth"], want)
	}
	// Without a user_id the socket becomes a guest.
	body, hdr = form(url.Values{"channel_name": {"presence-demo"}, "socket_id": {"3.4"}})
	w = do(t, h, "POST", "/demo/auth", body, hdr)
	if !strings.Contains(decode(t, w)["channel_data"], `"user_id":"guest-3-4"`) {
		t.Errorf("guest: %s", w.Body)
	}
}

func TestDemoAuthRefusals(t *testing.T) {
	h := demo(new([]published), nil)
	cases := []struct {
		name   string
		target string
		values url.Values
		status int
	}{
		{"forbidden", "/demo/auth", url.Values{"channel_name": {"private-forbidden"}, "socket_id": {"1.1"}}, 403},
		{"forbidden presence", "/demo/auth?user_id=a", url.Values{"channel_name": {"presence-forbidden-x"}, "socket_id": {"1.1"}}, 403},
		{"dm of others", "/demo/auth?user_id=carol", url.Values{"channel_name": {"private-dm-alice-bob"}, "socket_id": {"1.1"}}, 403},
		{"dm no user", "/demo/auth", url.Values{"channel_name": {"private-dm-alice-bob"}, "socket_id": {"1.1"}}, 403},
		{"bad socket", "/demo/auth", url.Values{"channel_name": {"private-a"}, "socket_id": {"1.1; x"}}, 400},
		{"bad channel", "/demo/auth", url.Values{"channel_name": {"private-a b"}, "socket_id": {"1.1"}}, 400},
		{"public", "/demo/auth", url.Values{"channel_name": {"news"}, "socket_id": {"1.1"}}, 400},
		{"encrypted", "/demo/auth", url.Values{"channel_name": {"private-encrypted-x"}, "socket_id": {"1.1"}}, 400},
		{"bad user id", "/demo/auth?user_id=a%20b", url.Values{"channel_name": {"presence-x"}, "socket_id": {"1.1"}}, 400},
		{"long name", "/demo/auth?user_id=a&user_name=" + strings.Repeat("x", 65), url.Values{"channel_name": {"presence-x"}, "socket_id": {"1.1"}}, 400},
		{"control name", "/demo/auth?user_id=a&user_name=%07", url.Values{"channel_name": {"presence-x"}, "socket_id": {"1.1"}}, 400},
	}
	for _, c := range cases {
		body, hdr := form(c.values)
		w := do(t, h, "POST", c.target, body, hdr)
		if w.Code != c.status {
			t.Errorf("%s: %d, want %d (%s)", c.name, w.Code, c.status, w.Body)
			continue
		}
		if decode(t, w)["error"] == "" {
			t.Errorf("%s: no error message", c.name)
		}
	}
	// the members of a conversation are let in
	body, hdr := form(url.Values{"channel_name": {"private-dm-alice-bob"}, "socket_id": {"1.1"}})
	if w := do(t, h, "POST", "/demo/auth?user_id=bob", body, hdr); w.Code != 200 {
		t.Errorf("dm member: %d", w.Code)
	}
	big := strings.NewReader("channel_name=private-a&socket_id=1.1&pad=" + strings.Repeat("x", 17<<10))
	if w := do(t, h, "POST", "/demo/auth", big, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("big body: %d", w.Code)
	}
	if w := do(t, h, "POST", "/demo/auth", strings.NewReader(`{"channel_name":`), map[string]string{"Content-Type": "application/json"}); w.Code != 400 {
		t.Errorf("bad JSON: %d", w.Code)
	}
	if w := do(t, h, "GET", "/demo/auth", nil, nil); w.Code != http.StatusMethodNotAllowed || w.Body.String() != `{"code":405,"error":"use POST"}` {
		t.Errorf("GET: %d %s", w.Code, w.Body)
	}
}

func TestDemoPublish(t *testing.T) {
	var pub []published
	h := demo(&pub, nil)
	jsonHdr := map[string]string{"Content-Type": "application/json"}
	ok := []struct{ body, data string }{
		{`{"channel":"demo-room","event":"message","data":"{\"text\":\"hi\"}"}`, `{"text":"hi"}`},
		{`{"channel":"demo-room","event":"message","data":{"text": "hi"}}`, `{"text":"hi"}`},
		{`{"channel":"demo-room","event":"message"}`, ``},
	}
	for _, c := range ok {
		w := do(t, h, "POST", "/demo/publish", strings.NewReader(c.body), jsonHdr)
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "{}" {
			t.Errorf("%s: %d %s", c.body, w.Code, w.Body)
			continue
		}
		if got := pub[len(pub)-1]; got != (published{"demo-room", "message", c.data}) {
			t.Errorf("%s: published %+v", c.body, got)
		}
	}
	bad := []struct {
		body   string
		hdr    map[string]string
		status int
	}{
		{`{"channel":"demo-room","event":"message","data":"x"}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{`{"channel":"demo room","event":"message","data":"x"}`, jsonHdr, 400},
		{`{"channel":"","event":"message","data":"x"}`, jsonHdr, 400},
		{`{"channel":"c","event":"pusher:x","data":"x"}`, jsonHdr, 400},
		{`{"channel":"c","event":"","data":"x"}`, jsonHdr, 400},
		{`{"channel":"c","event":"e","data":"` + strings.Repeat("x", 11000) + `"}`, jsonHdr, 413},
		{`{"channel":"c","event":"e","data":"` + strings.Repeat("x", 17000) + `"}`, jsonHdr, 413},
		{`{"channel":"c","event":"e"} {}`, jsonHdr, 400},
		{`nope`, jsonHdr, 400},
	}
	n := len(pub)
	for _, c := range bad {
		w := do(t, h, "POST", "/demo/publish", strings.NewReader(c.body), c.hdr)
		if w.Code != c.status {
			t.Errorf("%.60s: %d, want %d (%s)", c.body, w.Code, c.status, w.Body)
		}
	}
	if len(pub) != n {
		t.Errorf("rejected requests were published: %+v", pub[n:])
	}
	failing := demo(new([]published), errors.New("broker down"))
	w := do(t, failing, "POST", "/demo/publish", strings.NewReader(`{"channel":"c","event":"e","data":"x"}`), jsonHdr)
	if w.Code != http.StatusBadGateway || !strings.Contains(decode(t, w)["error"], "broker down") {
		t.Errorf("failing publish: %d %s", w.Code, w.Body)
	}
	unwired := web.DemoHandler(web.Demo{AppKey: "k", Secret: "s"})
	if w := do(t, unwired, "POST", "/demo/publish", strings.NewReader(`{"channel":"c","event":"e","data":"x"}`), jsonHdr); w.Code != http.StatusServiceUnavailable {
		t.Errorf("unwired: %d", w.Code)
	}
}

// TestDistCurrent fails when web/dist does not match web/src: run
// `node web/build.mjs` and commit web/dist.
func TestDistCurrent(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	out, err := exec.Command(node, "build.mjs", "--check").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
