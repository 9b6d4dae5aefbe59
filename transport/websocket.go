package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
	"github.com/lxzan/gws"
)

// wsHandler upgrades /app/{key} requests and turns gws callbacks into
// messages to connection actors. gws calls every callback of one socket on
// that socket's read goroutine, in order, so frames reach the actor in the
// order the client sent them. Every callback recovers from a panic, which
// then costs that socket only.
type wsHandler struct {
	broker   *actors.Broker // set by Server.Serve before any upgrade is served
	upgrader *gws.Upgrader
	log      *slog.Logger
	warn     *warnLimiter
	idle     time.Duration          // read deadline: activity + pong timeouts + slack
	seq      atomic.Uint64          // socket id sequence
	live     atomic.Pointer[wsLive] // replaced whole by setLimits
	obs      actors.Observer        // nil: nobody

	mu       sync.Mutex // guards sockets, admitted, byIP, closing and gone
	closing  bool       // closeAll has begun: no new socket is served
	sockets  map[*socket]struct{}
	admitted int            // sockets counted by admit, not yet released
	byIP     map[string]int // admitted sockets per remote IP
	loops    sync.WaitGroup // one per running read loop
	// gone is, by app name, the traffic of the app's sockets that closed.
	gone map[string]*Traffic

	// testHook, when set (by tests in this package), runs at the start of
	// every gws callback with the callback's name: a test makes it panic.
	testHook func(callback string)
}

// wsLive are the handler's limits that Server.Update changes.
type wsLive struct {
	origins  []string
	maxConns int          // process-wide cap on open sockets (0: none)
	maxPerIP int          // cap on open sockets per remote IP (0: none)
	write    *writeLimits // given to each new socket, which keeps it
}

func newWSHandler(cfg Config, log *slog.Logger) *wsHandler {
	h := &wsHandler{log: log, warn: newWarnLimiter(log),
		sockets: make(map[*socket]struct{}), byIP: make(map[string]int), gone: make(map[string]*Traffic),
		idle: cfg.ActivityTimeout + cfg.PongTimeout + 10*time.Second, obs: cfg.Observer}
	h.setLimits(cfg.Limits)
	h.upgrader = gws.NewUpgrader(h, &gws.ServerOption{
		ReadMaxPayloadSize: cfg.MaxMessageSize,
		ReadBufferSize:     cfg.ReadBufferSize,
		CheckUtf8Enabled:   true,
		HandshakeTimeout:   5 * time.Second,
		Logger:             gwsLogger{log},
		NewSession:         func() gws.SessionStorage { return &slot{} },
	})
	return h
}

// setLimits makes l the limits of the next upgrades and sockets.
func (h *wsHandler) setLimits(l Limits) {
	h.live.Store(&wsLive{origins: l.AllowedOrigins, maxConns: l.MaxConnections, maxPerIP: l.MaxConnectionsPerIP,
		write: &writeLimits{frames: l.WriteQueue, bytes: l.WriteQueueBytes,
			onOverflow: h.overflowed}})
}

// appKey finds the key in ".../app/{key}[/...]": any prefix works, so the
// broker can sit behind a proxy path.
func appKey(path string) (string, bool) {
	i := strings.LastIndex(path, "/app/")
	if i < 0 {
		return "", false
	}
	key := path[i+len("/app/"):]
	if j := strings.IndexByte(key, '/'); j >= 0 {
		key = key[:j]
	}
	return key, key != ""
}

func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := appKey(r.URL.Path)
	if !ok {
		pusher.WriteError(w, http.StatusNotFound, "not found: connect to /app/{app_key}")
		return
	}
	live := h.live.Load()
	if !live.originAllowed(r.Header.Get("Origin")) {
		h.warn.note("websocket: upgrade refused, origin not allowed", "origin")
		pusher.WriteError(w, http.StatusForbidden, "origin not allowed")
		h.refused(key, r.RemoteAddr, http.StatusForbidden, "origin not allowed")
		return
	}
	ip := remoteIP(r.RemoteAddr)
	if cause := h.admit(live, ip); cause != "" {
		h.warn.note("websocket: upgrade refused, "+cause, cause)
		pusher.WriteError(w, http.StatusServiceUnavailable, "too many connections ("+cause+"): try again later")
		h.refused(key, r.RemoteAddr, http.StatusServiceUnavailable, cause)
		return
	}
	conn, err := h.upgrader.Upgrade(w, r)
	if err != nil {
		h.release(ip)
		return // gws has answered the request
	}
	s := newSocket(conn.NetConn(), live.write)
	s.ip, s.remote = ip, r.RemoteAddr
	if app, found := h.broker.App(key); found {
		s.app = app
	} else {
		s.refuse, s.refuseMsg = pusher.CloseAppNotFound, "Application does not exist"
	}
	if v := r.URL.Query().Get("protocol"); v != "" {
		if p, err := strconv.Atoi(v); err != nil || p < 5 || p > 7 {
			s.refuse, s.refuseMsg = pusher.CloseUnsupportedProtocol, "Unsupported protocol version"
		}
	}
	conn.Session().Store("", s)
	h.mu.Lock()
	if h.closing { // shutting down: no new read loop once closeAll waits for them
		h.mu.Unlock()
		h.release(ip)
		_ = conn.NetConn().Close()
		return
	}
	h.sockets[s] = struct{}{}
	h.loops.Add(1)
	h.mu.Unlock()
	go func() { // owned by wsHandler: counted in loops, ended by closing the socket
		defer h.loops.Done()
		conn.ReadLoop()
	}()
}

// admit counts a new socket of ip, or names the cap it would pass (by its
// configuration key).
func (h *wsHandler) admit(live *wsLive, ip string) (cause string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case live.maxConns > 0 && h.admitted >= live.maxConns:
		return actors.QuotaConnections
	case live.maxPerIP > 0 && h.byIP[ip] >= live.maxPerIP:
		return actors.QuotaConnectionsPerIP
	}
	h.admitted++
	h.byIP[ip]++
	return ""
}

// release uncounts a socket of ip.
func (h *wsHandler) release(ip string) {
	h.mu.Lock()
	h.admitted--
	if h.byIP[ip] <= 1 {
		delete(h.byIP, ip)
	} else {
		h.byIP[ip]--
	}
	h.mu.Unlock()
}

// originAllowed: a browser's Origin must be on the list (when there is
// one); clients that send no Origin (server SDKs, pusher-js under Node,
// mobile SDKs) are not browsers and are let through.
func (l *wsLive) originAllowed(origin string) bool {
	if len(l.origins) == 0 || origin == "" {
		return true
	}
	for _, o := range l.origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func remoteIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

func sock(c *gws.Conn) *socket {
	v, _ := c.Session().Load("")
	s, _ := v.(*socket)
	return s
}

// contain ends a callback that panicked: the panic is logged with the
// socket and the socket is closed with 4200, so the client reconnects and
// nothing else is touched.
func (h *wsHandler) contain(c *gws.Conn, callback string) {
	r := recover()
	if r == nil {
		return
	}
	s := sock(c)
	attrs := []any{"callback", callback, "panic", fmt.Sprint(r)}
	if s != nil && s.app != nil {
		attrs = append(attrs, "app", s.app.Name(), "socket_id", s.id)
	}
	h.log.Error("websocket: callback panicked", attrs...)
	if s != nil {
		s.Close(pusher.CloseReconnect, "Internal error")
	}
}

func (h *wsHandler) hook(callback string) {
	if h.testHook != nil {
		h.testHook(callback)
	}
}

// OnOpen spawns the connection actor, which sends connection_established.
func (h *wsHandler) OnOpen(c *gws.Conn) {
	defer h.contain(c, "OnOpen")
	_ = c.SetDeadline(time.Time{}) // clear what net/http set before the hijack
	_ = c.SetReadDeadline(time.Now().Add(h.idle))
	s := sock(c)
	h.hook("OnOpen")
	if s.refuse != 0 {
		h.refuse(s, s.refuse, s.refuseMsg, s.refuseMsg)
		return
	}
	s.id = pusher.NewSocketID(h.seq.Add(1))
	pid, err := h.broker.Connect(s.app, s.id, s)
	var refused *actors.RefusedError
	switch {
	case errors.As(err, &refused):
		h.warn.note("websocket: connection refused, over "+refused.Reason, refused.Reason)
		h.refuse(s, refused.Code, refused.Message, refused.Reason)
	case err != nil:
		h.log.Error("websocket: cannot start connection", "err", err)
		s.Close(pusher.CloseOverCapacity, "Server busy")
		h.observe(s, actors.ObservedError, int(pusher.CloseOverCapacity), "the app did not start the connection in time")
	default:
		s.pid = pid
		s.opened = time.Now()
		h.observe(s, actors.ObservedConnect, 0, "")
	}
}

// observe tells the observer about socket s.
func (h *wsHandler) observe(s *socket, kind actors.ObservationKind, code int, detail string) {
	if h.obs == nil {
		return
	}
	o := actors.Observation{Kind: kind, SocketID: s.id, Remote: s.remote, Code: code, Detail: detail}
	if s.app != nil {
		o.App = s.app.Name()
	}
	if kind == actors.ObservedDisconnect {
		o.Duration = time.Since(s.opened)
	}
	actors.Tell(h.obs, o)
}

// refused observes an upgrade refused with an HTTP status (a cause).
func (h *wsHandler) refused(key, remote string, status int, cause string) {
	if h.obs == nil {
		return
	}
	o := actors.Observation{Kind: actors.ObservedError, Remote: remote, Code: status, Detail: cause}
	if app, ok := h.broker.App(key); ok {
		o.App = app.Name()
	}
	actors.Tell(h.obs, o)
}

// overflowed logs and observes a socket cut for over capacity (4100). The
// socket's app and id are set before any frame can be queued to it.
func (h *wsHandler) overflowed(s *socket) {
	h.warn.note("websocket: socket cut, over capacity (4100)", "write_queue")
	h.observe(s, actors.ObservedError, int(pusher.CloseOverCapacity), actors.QuotaWriteQueue)
}

// refuse answers a socket that will not get a connection: Pusher's
// clients act on the close code; the error frame is for the others (and
// for people reading a capture). detail is what the observer is told: the
// message, or the quota that refused.
func (h *wsHandler) refuse(s *socket, code pusher.CloseCode, msg, detail string) {
	s.Send(pusher.AppendError(nil, int(code), msg))
	s.Close(code, msg)
	h.observe(s, actors.ObservedError, int(code), detail)
}

// OnClose tells the connection actor, which stops and so leaves its
// channels, and keeps the socket's traffic in its app's total.
func (h *wsHandler) OnClose(c *gws.Conn, err error) {
	defer h.contain(c, "OnClose")
	s := sock(c)
	code := s.closed()
	_ = s.nc.Close()
	h.mu.Lock()
	delete(h.sockets, s)
	if s.app != nil {
		t := h.gone[s.app.Name()]
		if t == nil {
			t = &Traffic{}
			h.gone[s.app.Name()] = t
		}
		t.add(s)
	}
	h.mu.Unlock()
	h.release(s.ip)
	h.hook("OnClose")
	if s.pid != nil {
		h.broker.SocketClosed(s.pid, &actors.SocketClosed{From: s})
		if code == 0 {
			code = closeCodeOf(err)
		}
		h.observe(s, actors.ObservedDisconnect, int(code), "")
	}
}

// closeCodeOf is the code of the close frame the client sent, or 1006
// (closed abnormally) when there was none.
func closeCodeOf(err error) pusher.CloseCode {
	var ce *gws.CloseError
	if errors.As(err, &ce) && ce.Code != 0 {
		return pusher.CloseCode(ce.Code)
	}
	return 1006
}

// OnPing answers a WebSocket ping through the socket's queue, so a client
// that pings without reading fills it and is cut like any other.
func (h *wsHandler) OnPing(c *gws.Conn, payload []byte) {
	defer h.contain(c, "OnPing")
	h.hook("OnPing")
	sock(c).pong(payload)
	h.activity(c)
}

// OnPong counts a WebSocket pong as activity.
func (h *wsHandler) OnPong(c *gws.Conn, _ []byte) {
	defer h.contain(c, "OnPong")
	h.hook("OnPong")
	h.activity(c)
}

// activity refreshes the read deadline and tells the connection actor,
// at most once a second: a client that floods control frames does not
// flood its actor's mailbox.
func (h *wsHandler) activity(c *gws.Conn) {
	now := time.Now()
	_ = c.SetReadDeadline(now.Add(h.idle))
	if s := sock(c); s.pid != nil && now.Sub(s.activitySent) >= time.Second {
		s.activitySent = now
		h.broker.Activity(s.pid, &actors.Activity{From: s})
	}
}

// OnMessage copies the frame out of gws's pooled buffer and hands it to
// the connection actor, which decodes it. Nothing deep runs on the read
// goroutine, so its stack stays small while the socket idles. When the
// actor is behind by more than the inbound bounds, the read loop waits
// here: the client's sends back up in TCP instead of in memory.
func (h *wsHandler) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	defer h.contain(c, "OnMessage")
	h.hook("OnMessage")
	s := sock(c)
	if s.pid == nil || s.shut.Load() {
		return // not connected, or closing: the client's last frames are read and dropped
	}
	if msg.Opcode != gws.OpcodeText {
		s.received.Add(1)
		h.broker.BadFrame(s.pid, &actors.BadFrame{Reason: "binary frames are not supported", From: s})
		return
	}
	s.received.Add(1)
	raw := append([]byte(nil), msg.Bytes()...)
	s.admitFrame(len(raw))
	h.broker.ClientFrame(s.pid, &actors.ClientFrame{Raw: raw, Ack: s.ack, From: s})
	s.waitInbound()
	_ = c.SetReadDeadline(time.Now().Add(h.idle))
}

// closeAll closes every socket with code and waits for their read loops to
// end, or for ctx. It returns how many sockets it closed.
func (h *wsHandler) closeAll(ctx context.Context, code pusher.CloseCode, reason string) int {
	h.mu.Lock()
	h.closing = true
	n := len(h.sockets)
	for s := range h.sockets {
		s.Close(code, reason)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { // owned by closeAll, which waits for it below or gives up at the deadline
		h.loops.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return n
}

// Traffic counts an app's WebSocket frames since the server started.
type Traffic struct {
	MessagesIn  uint64 // frames clients sent (and the server read)
	MessagesOut uint64 // frames written to clients: events, errors, pongs (not close frames)
	BytesOut    uint64 // the bytes of those frames, WebSocket framing included
}

func (t *Traffic) add(s *socket) {
	t.MessagesIn += s.received.Load()
	t.MessagesOut += s.sent.Load()
	t.BytesOut += s.sentBytes.Load()
}

// traffic is every app's Traffic: that of its closed sockets plus what its
// open ones counted so far. It costs a lock and three atomic loads per open
// socket, once per scrape.
func (h *wsHandler) traffic() map[string]Traffic {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]Traffic, len(h.gone))
	for app, t := range h.gone {
		out[app] = *t
	}
	for s := range h.sockets {
		if s.app != nil {
			t := out[s.app.Name()]
			t.add(s)
			out[s.app.Name()] = t
		}
	}
	return out
}

// slot is a one-value gws.SessionStorage holding the socket, instead of
// gws's default mutex-guarded map per connection.
type slot struct{ v any }

func (m *slot) Len() int                       { return 1 }
func (m *slot) Load(string) (any, bool)        { return m.v, m.v != nil }
func (m *slot) Delete(string)                  { m.v = nil }
func (m *slot) Store(_ string, v any)          { m.v = v }
func (m *slot) Range(f func(string, any) bool) { f("", m.v) }

// gwsLogger routes gws's errors to slog.
type gwsLogger struct{ l *slog.Logger }

func (g gwsLogger) Error(v ...any) { g.l.Error("gws", "err", fmt.Sprint(v...)) }
