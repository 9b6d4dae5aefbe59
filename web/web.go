// Package web serves Herald's JavaScript client, the short home page at /
// (home.go: name, version and links), the dashboard's page (dashboard.go;
// its data comes from the dashboard package) and, in development mode, a
// small demo chat that shows the broker working in a browser.
//
// The client is written once in web/src/push.core.js; web/build.mjs turns
// it into the three files of web/dist, which are committed and embedded
// here: push.js (browser global Push, webman/push's push.js), push-vue.js
// (ES module) and push-uniapp.js (ES module on uni.* APIs).
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/herald-push/herald/pusher"
)

//go:embed dist/push.js dist/push-vue.js dist/push-uniapp.js
var distFS embed.FS

//go:embed demo/index.html demo/demo.js demo/demo.css demo/vue.html demo/vue-demo.js
var demoFS embed.FS

const (
	jsType   = "application/javascript; charset=utf-8"
	htmlType = "text/html; charset=utf-8"
	cssType  = "text/css; charset=utf-8"

	clientCache = "public, max-age=300"
	demoCache   = "no-cache"

	// MaxDemoBody bounds the body of /demo/auth and /demo/publish.
	MaxDemoBody = 16 << 10
	maxUserID   = 64
	maxUserName = 64
)

// asset is one embedded file with its precomputed ETag.
type asset struct {
	body        []byte
	etag        string
	contentType string
	cache       string
	cors        bool
}

func newAsset(body []byte, contentType, cache string) *asset {
	sum := sha256.Sum256(body)
	return &asset{
		body:        body,
		etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
		contentType: contentType,
		cache:       cache,
	}
}

func mustRead(fs embed.FS, name string) []byte {
	b, err := fs.ReadFile(name)
	if err != nil {
		panic("web: embedded file missing: " + name)
	}
	return b
}

func (a *asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", a.cache)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if a.cors {
		// The ES-module builds may be imported from a dev server on another
		// origin (Vite on :5173), which needs CORS; they hold no secret.
		h.Set("Access-Control-Allow-Origin", "*")
	}
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}

// etagMatches implements If-None-Match's weak comparison.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

var clientFiles = map[string]string{
	"push.js":        "dist/push.js",
	"push-vue.js":    "dist/push-vue.js",
	"push-uniapp.js": "dist/push-uniapp.js",
}

func clientAssets() map[string]*asset {
	m := make(map[string]*asset, len(clientFiles))
	for name, file := range clientFiles {
		a := newAsset(mustRead(distFS, file), jsType, clientCache)
		a.cors = true
		m[name] = a
	}
	return m
}

// ClientPaths lists the paths ClientHandler answers, for a mux to register:
// /push.js, /push-vue.js, /push-uniapp.js and the same files under
// /plugin/webman/push/, where webman/push serves its push.js.
func ClientPaths() []string {
	return []string{
		"/push.js", "/push-vue.js", "/push-uniapp.js",
		"/plugin/webman/push/push.js", "/plugin/webman/push/push-vue.js", "/plugin/webman/push/push-uniapp.js",
	}
}

// ClientHandler serves the client builds at ClientPaths with a JavaScript
// content type, five minutes of caching, an ETag and 304 on If-None-Match.
// Any other path is 404.
func ClientHandler() http.Handler {
	assets := clientAssets()
	byPath := make(map[string]*asset)
	for _, p := range ClientPaths() {
		byPath[p] = assets[p[strings.LastIndexByte(p, '/')+1:]]
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := byPath[r.URL.Path]; ok {
			a.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}

// Demo configures DemoHandler. AppKey and Secret are the development app's
// credentials (the demo signs subscriptions with them, so never mount it in
// production). WebSocketURL is the broker's WebSocket base such as
// "ws://127.0.0.1:3131"; when empty the page uses its own host on port
// 3131. Publish sends an event through the broker, as the HTTP API would.
type Demo struct {
	AppKey       string
	Secret       string
	WebSocketURL string
	Publish      func(channel, event, data string) error
}

// DemoHandler serves the demo chat under /demo/ (mount it at "/demo/"
// without stripping the prefix): the page and its files, the client builds
// again under /demo/, POST /demo/auth which signs private and presence
// subscriptions for whoever asks (refusing any channel whose name contains
// "forbidden"), and POST /demo/publish which hands {channel, event, data}
// to Demo.Publish.
func DemoHandler(d Demo) http.Handler {
	h := &demoHandler{d: d, files: map[string]http.Handler{}}
	page := func(name, ctype string) http.Handler {
		return newAsset(mustRead(demoFS, "demo/"+name), ctype, demoCache)
	}
	h.files["/demo/"] = page("index.html", htmlType)
	h.files["/demo/index.html"] = h.files["/demo/"]
	h.files["/demo/demo.js"] = page("demo.js", jsType)
	h.files["/demo/demo.css"] = page("demo.css", cssType)
	h.files["/demo/vue.html"] = page("vue.html", htmlType)
	h.files["/demo/vue-demo.js"] = page("vue-demo.js", jsType)
	for name, a := range clientAssets() {
		h.files["/demo/"+name] = a
	}
	cfg, _ := json.Marshal(struct {
		AppKey       string `json:"appKey"`
		WebSocketURL string `json:"wsURL"`
	}{d.AppKey, d.WebSocketURL})
	h.files["/demo/config.js"] = newAsset([]byte("window.HERALD_DEMO = "+string(cfg)+";\n"), jsType, demoCache)
	return h
}

type demoHandler struct {
	d     Demo
	files map[string]http.Handler
}

func (h *demoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/demo":
		http.Redirect(w, r, "/demo/", http.StatusMovedPermanently)
		return
	case "/demo/auth":
		h.auth(w, r)
		return
	case "/demo/publish":
		h.publish(w, r)
		return
	}
	f, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hd.Set("Referrer-Policy", "no-referrer")
	f.ServeHTTP(w, r)
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, msg string) error { return &httpError{status, msg} }

// writeError answers with pusher's JSON error body: an *httpError keeps
// its status, any other error is a 400.
func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{http.StatusBadRequest, err.Error()}
	}
	pusher.WriteError(w, he.status, he.msg)
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// decodeJSON reads exactly one JSON value of at most MaxDemoBody bytes.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxDemoBody))
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(http.StatusBadRequest, "body must be one JSON object")
	}
	return nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fail(http.StatusRequestEntityTooLarge, "body larger than 16 KiB")
	}
	return fail(http.StatusBadRequest, "malformed body")
}

var socketIDRe = regexp.MustCompile(`^[0-9]{1,20}\.[0-9]{1,20}$`)

type authRequest struct {
	ChannelName string `json:"channel_name"`
	SocketID    string `json:"socket_id"`
	UserID      string `json:"user_id"`
	UserName    string `json:"user_name"`
}

func (h *demoHandler) auth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, fail(http.StatusMethodNotAllowed, "use POST"))
		return
	}
	resp, err := h.sign(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	pusher.WriteJSON(w, http.StatusOK, resp)
}

func (h *demoHandler) readAuth(w http.ResponseWriter, r *http.Request) (authRequest, error) {
	var req authRequest
	if isJSON(r) {
		if err := decodeJSON(w, r, &req); err != nil {
			return req, err
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, MaxDemoBody)
		if err := r.ParseForm(); err != nil {
			return req, bodyError(err)
		}
		req.ChannelName = r.PostForm.Get("channel_name")
		req.SocketID = r.PostForm.Get("socket_id")
		req.UserID = r.PostForm.Get("user_id")
		req.UserName = r.PostForm.Get("user_name")
	}
	// push.js posts only channel_name and socket_id; the demo page puts
	// who it is in the auth URL's query.
	q := r.URL.Query()
	if req.UserID == "" {
		req.UserID = q.Get("user_id")
	}
	if req.UserName == "" {
		req.UserName = q.Get("user_name")
	}
	return req, nil
}

func (h *demoHandler) sign(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	req, err := h.readAuth(w, r)
	if err != nil {
		return nil, err
	}
	ch, sid := req.ChannelName, req.SocketID
	if !socketIDRe.MatchString(sid) {
		return nil, fail(http.StatusBadRequest, "socket_id must look like 123.456")
	}
	if !pusher.ValidChannelName(ch) {
		return nil, fail(http.StatusBadRequest, "channel_name must be 1-200 characters of A-Z a-z 0-9 _ - = @ , . ;")
	}
	kind := pusher.Kind(ch)
	if kind != pusher.Private && kind != pusher.Presence {
		return nil, fail(http.StatusBadRequest, "only private- and presence- channels are signed here")
	}
	if strings.Contains(ch, "forbidden") {
		return nil, fail(http.StatusForbidden, "the demo refuses channels named *forbidden*")
	}
	if req.UserID == "" && kind == pusher.Presence {
		req.UserID = "guest-" + strings.ReplaceAll(sid, ".", "-")
	}
	if req.UserID != "" && !validUserID(req.UserID) {
		return nil, fail(http.StatusBadRequest, "user_id must be 1-64 characters of A-Z a-z 0-9 _ - = @ , . ;")
	}
	if rest, ok := strings.CutPrefix(ch, "private-dm-"); ok {
		// A conversation private-dm-<a>-<b> is open to a and b only.
		a, b, ok := strings.Cut(rest, "-")
		if !ok || a == "" || b == "" || strings.Contains(b, "-") || (req.UserID != a && req.UserID != b) {
			return nil, fail(http.StatusForbidden, "not a member of this conversation")
		}
	}
	out := map[string]string{}
	channelData := ""
	if kind == pusher.Presence {
		name := strings.TrimSpace(req.UserName)
		if name == "" {
			name = req.UserID
		}
		if !validUserName(name) {
			return nil, fail(http.StatusBadRequest, "user_name must be at most 64 printable characters")
		}
		var info struct {
			UserID   string `json:"user_id"`
			UserInfo struct {
				Name string `json:"name"`
			} `json:"user_info"`
		}
		info.UserID = req.UserID
		info.UserInfo.Name = name
		b, _ := json.Marshal(info)
		channelData = string(b)
		out["channel_data"] = channelData
	}
	out["auth"] = pusher.ChannelAuth(h.d.AppKey, h.d.Secret, sid, ch, channelData)
	return out, nil
}

func validUserID(id string) bool {
	return len(id) <= maxUserID && pusher.ValidChannelName(id)
}

func validUserName(name string) bool {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxUserName {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

type publishRequest struct {
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
}

func (h *demoHandler) publish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, fail(http.StatusMethodNotAllowed, "use POST"))
		return
	}
	if err := h.doPublish(w, r); err != nil {
		writeError(w, err)
		return
	}
	pusher.WriteJSON(w, http.StatusOK, struct{}{})
}

func (h *demoHandler) doPublish(w http.ResponseWriter, r *http.Request) error {
	// Requiring JSON also keeps other origins out: a cross-site form cannot
	// send application/json without a CORS preflight, which is never granted.
	if !isJSON(r) {
		return fail(http.StatusUnsupportedMediaType, "send application/json")
	}
	var req publishRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !pusher.ValidChannelName(req.Channel) {
		return fail(http.StatusBadRequest, "channel must be 1-200 characters of A-Z a-z 0-9 _ - = @ , . ;")
	}
	if !pusher.ValidEventName(req.Event) || strings.HasPrefix(req.Event, "pusher:") || strings.HasPrefix(req.Event, "pusher_internal:") {
		return fail(http.StatusBadRequest, "event must be 1-200 characters and not start with pusher:")
	}
	data, err := eventData(req.Data)
	if err != nil {
		return err
	}
	if len(data) > pusher.MaxDataSize {
		return fail(http.StatusRequestEntityTooLarge, "data larger than 10 KB")
	}
	if h.d.Publish == nil {
		return fail(http.StatusServiceUnavailable, "publishing is not wired to a broker")
	}
	if err := h.d.Publish(req.Channel, req.Event, data); err != nil {
		return fail(http.StatusBadGateway, "publish failed: "+err.Error())
	}
	return nil
}

// eventData is data as the API's "data" string: a JSON string as is, any
// other JSON value as its compact text, nothing as "".
func eventData(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fail(http.StatusBadRequest, "malformed data")
		}
		return s, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", fail(http.StatusBadRequest, "malformed data")
	}
	return b.String(), nil
}
