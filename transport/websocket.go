package transport

import (
	"log/slog"
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

// maxInbound bounds a socket's frames waiting for its connection actor, so
// a client that floods frames costs a bounded amount of memory: past it the
// socket is closed with 4100 (the client backs off and reconnects).
const maxInbound = 256

// wsHandler upgrades /app/{key} requests and turns gws callbacks into
// messages to connection actors. gws calls every callback of one socket on
// that socket's read goroutine, in order, so frames reach the actor in the
// order the client sent them.
type wsHandler struct {
	broker   *actors.Broker
	upgrader *gws.Upgrader
	log      *slog.Logger
	origins  []string
	idle     time.Duration // read deadline: activity + pong timeouts + slack
	seq      atomic.Uint64 // socket id sequence

	mu      sync.Mutex // guards sockets
	sockets map[*socket]struct{}
	loops   sync.WaitGroup // one per running read loop
	limit   int
}

func newWSHandler(b *actors.Broker, cfg Config, log *slog.Logger) *wsHandler {
	h := &wsHandler{broker: b, log: log, origins: cfg.AllowedOrigins, sockets: make(map[*socket]struct{}),
		idle: cfg.ActivityTimeout + cfg.PongTimeout + 10*time.Second, limit: cfg.WriteQueue}
	h.upgrader = gws.NewUpgrader(h, &gws.ServerOption{
		ReadMaxPayloadSize: cfg.MaxMessageSize,
		ReadBufferSize:     cfg.ReadBufferSize,
		CheckUtf8Enabled:   true,
		HandshakeTimeout:   5 * time.Second,
		Recovery:           gws.Recovery,
		Logger:             gwsLogger{log},
		NewSession:         func() gws.SessionStorage { return &slot{} },
	})
	return h
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
		writeError(w, http.StatusNotFound, "not found: connect to /app/{app_key}")
		return
	}
	if !h.originAllowed(r.Header.Get("Origin")) {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	conn, err := h.upgrader.Upgrade(w, r)
	if err != nil {
		return // gws has answered the request
	}
	s := newSocket(conn, h.limit)
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
	h.sockets[s] = struct{}{}
	h.loops.Add(1)
	h.mu.Unlock()
	go func() { // owned by wsHandler: counted in loops, ended by closing the socket
		defer h.loops.Done()
		conn.ReadLoop()
	}()
}

func (h *wsHandler) originAllowed(origin string) bool {
	if len(h.origins) == 0 {
		return true
	}
	for _, o := range h.origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func sock(c *gws.Conn) *socket {
	v, _ := c.Session().Load("")
	s, _ := v.(*socket)
	return s
}

// OnOpen spawns the connection actor, which sends connection_established.
func (h *wsHandler) OnOpen(c *gws.Conn) {
	_ = c.SetDeadline(time.Time{}) // clear what net/http set before the hijack
	_ = c.SetReadDeadline(time.Now().Add(h.idle))
	s := sock(c)
	if s.refuse != 0 {
		// Pusher's clients act on the close code; the error frame is for
		// the others (and for people reading a capture).
		s.Send(pusher.AppendError(nil, int(s.refuse), s.refuseMsg))
		s.Close(s.refuse, s.refuseMsg)
		return
	}
	pid, err := h.broker.Connect(s.app, pusher.NewSocketID(h.seq.Add(1)), s)
	if err != nil {
		h.log.Error("websocket: cannot start connection", "err", err)
		s.Close(pusher.CloseOverCapacity, "Server busy")
		return
	}
	s.pid = pid
}

// OnClose tells the connection actor, which stops and so leaves its channels.
func (h *wsHandler) OnClose(c *gws.Conn, _ error) {
	s := sock(c)
	s.closing.Store(true)
	if s.pid != nil {
		h.broker.Tell(s.pid, &actors.SocketClosed{})
	}
	h.mu.Lock()
	delete(h.sockets, s)
	h.mu.Unlock()
}

// OnPing answers a WebSocket ping through the socket's queue (so it never
// interleaves with a frame being written) and counts it as activity.
func (h *wsHandler) OnPing(c *gws.Conn, payload []byte) {
	p := append([]byte(nil), payload...)
	c.Async(func() { _ = c.WritePong(p) })
	h.activity(c)
}

// OnPong counts a WebSocket pong as activity.
func (h *wsHandler) OnPong(c *gws.Conn, _ []byte) { h.activity(c) }

func (h *wsHandler) activity(c *gws.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(h.idle))
	if s := sock(c); s.pid != nil {
		h.broker.Tell(s.pid, &actors.Activity{})
	}
}

// OnMessage copies the frame out of gws's pooled buffer and hands it to
// the connection actor, which decodes it. Nothing deep runs on the read
// goroutine, so its stack stays small while the socket idles.
func (h *wsHandler) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	_ = c.SetReadDeadline(time.Now().Add(h.idle))
	s := sock(c)
	if s.pid == nil {
		return
	}
	if msg.Opcode != gws.OpcodeText {
		h.broker.Tell(s.pid, &actors.BadFrame{Reason: "binary frames are not supported"})
		return
	}
	if s.inbound.Add(1) > maxInbound {
		s.abort(pusher.CloseOverCapacity, "Too many frames: the client sends faster than it is served")
		return
	}
	h.broker.Tell(s.pid, &actors.ClientFrame{Raw: append([]byte(nil), msg.Bytes()...), Pending: &s.inbound})
}

// closeAll closes every socket with code and waits for their read loops to
// end, or for the deadline.
func (h *wsHandler) closeAll(code pusher.CloseCode, reason string, deadline time.Time) {
	h.mu.Lock()
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
	case <-time.After(time.Until(deadline)):
	}
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

func (g gwsLogger) Error(v ...any) { g.l.Error("gws", "err", v) }
