package transport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
)

// Config configures the listeners. Zero values mean the defaults given.
type Config struct {
	// WebSocketListen serves the Pusher protocol at /app/{key}.
	WebSocketListen string
	// APIListen serves the HTTP API, /healthz and Mounts. It may equal
	// WebSocketListen: one port then serves both.
	APIListen string
	// MaxMessageSize bounds one inbound WebSocket frame (default 32 KiB).
	MaxMessageSize int
	// ReadBufferSize is gws's per-socket read buffer (default 1024).
	ReadBufferSize int
	// WriteQueue is the most frames queued for one socket (default 1024).
	WriteQueue int
	// WriteQueueBytes is the most bytes queued for one socket (default 1 MiB).
	WriteQueueBytes int
	// MaxConnections caps the open sockets of the process (0: no cap);
	// upgrades past it are answered 503.
	MaxConnections int
	// MaxConnectionsPerIP caps the open sockets of one remote IP (0: no cap).
	MaxConnectionsPerIP int
	// AllowedOrigins limits browsers' Origin; empty allows any.
	AllowedOrigins []string
	// ActivityTimeout and PongTimeout give the read deadline of a silent socket.
	ActivityTimeout, PongTimeout time.Duration
	// MaxBodySize bounds an API request body (default 256 KiB).
	MaxBodySize int64
	// HTTP timeouts of both listeners (defaults 5s, 10s, 10s, 60s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Mounts are extra handlers on the API listener, by ServeMux pattern
	// (the JavaScript client, the demo).
	Mounts map[string]http.Handler
	Logger *slog.Logger
	// Observer is told of connections, refused upgrades and API requests
	// (metrics, debug logs, the dashboard), from the sockets' read loops,
	// the HTTP handlers and whoever queued the frame that overflowed a
	// socket (4100); nil: nobody.
	Observer actors.Observer
	// Metrics, when set, answers GET /metrics: on the API listener, or on
	// a listener of its own at MetricsListen (with the same timeouts).
	Metrics       http.Handler
	MetricsListen string
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxMessageSize, 32*1024)
	def(&c.ReadBufferSize, 1024)
	def(&c.WriteQueue, 1024)
	def(&c.WriteQueueBytes, 1<<20)
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	dur(&c.ActivityTimeout, 30*time.Second)
	dur(&c.PongTimeout, 30*time.Second)
	dur(&c.ReadHeaderTimeout, 5*time.Second)
	dur(&c.ReadTimeout, 10*time.Second)
	dur(&c.WriteTimeout, 10*time.Second)
	dur(&c.IdleTimeout, 60*time.Second)
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = 256 * 1024
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Server runs the WebSocket and API listeners over a Broker.
type Server struct {
	cfg     Config
	ws      *wsHandler
	api     *apiHandler
	servers []*http.Server
	addrs   []net.Addr // WebSocket, API, then metrics when it has its own
	serving sync.WaitGroup
	ready   atomic.Bool // the listeners are up and not draining: /readyz
}

// New prepares a server; Start opens its listeners.
func New(b *actors.Broker, cfg Config) *Server {
	cfg = cfg.withDefaults()
	return &Server{cfg: cfg, ws: newWSHandler(b, cfg, cfg.Logger), api: newAPIHandler(b, cfg)}
}

// Start listens on both addresses (one, if they are equal) and serves in
// the background.
func (s *Server) Start() error {
	apiMux := http.NewServeMux()
	apiMux.Handle("/apps/", s.api)
	apiMux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		pusher.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	// Readiness: the broker (and, in a cluster, this node's membership)
	// started before the listeners opened, so it is ready from then until
	// Shutdown begins.
	apiMux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			pusher.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false})
			return
		}
		pusher.WriteJSON(w, http.StatusOK, map[string]any{"ready": true})
	})
	for pattern, h := range s.cfg.Mounts {
		apiMux.Handle(pattern, h)
	}
	var metricsLn net.Listener
	switch {
	case s.cfg.Metrics != nil && s.cfg.MetricsListen == "":
		apiMux.Handle("GET /metrics", s.cfg.Metrics)
	case s.cfg.Metrics != nil:
		ln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return err
		}
		metricsLn = ln
	}
	if err := s.listen(apiMux); err != nil {
		if metricsLn != nil {
			_ = metricsLn.Close()
		}
		return err
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.cfg.Metrics)
		s.serve(metricsLn, http.MaxBytesHandler(mux, 4<<10))
		s.addrs = append(s.addrs, metricsLn.Addr())
	}
	s.ready.Store(true)
	return nil
}

// listen opens the WebSocket and API listeners (one, if their addresses
// are equal) and serves them.
func (s *Server) listen(apiMux *http.ServeMux) error {
	if s.cfg.WebSocketListen == s.cfg.APIListen {
		both := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/app/") {
				s.ws.ServeHTTP(w, r)
				return
			}
			apiMux.ServeHTTP(w, r)
		})
		ln, err := net.Listen("tcp", s.cfg.WebSocketListen)
		if err != nil {
			return err
		}
		s.serve(ln, both)
		s.addrs = []net.Addr{ln.Addr(), ln.Addr()}
		return nil
	}
	wsLn, err := net.Listen("tcp", s.cfg.WebSocketListen)
	if err != nil {
		return err
	}
	apiLn, err := net.Listen("tcp", s.cfg.APIListen)
	if err != nil {
		_ = wsLn.Close()
		return err
	}
	s.serve(wsLn, s.ws)
	s.serve(apiLn, apiMux)
	s.addrs = []net.Addr{wsLn.Addr(), apiLn.Addr()}
	return nil
}

func (s *Server) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
	ln = warnListener{Listener: ln, warn: s.ws.warn}
	s.servers = append(s.servers, srv)
	s.serving.Add(1)
	go func() { // owned by Server: Shutdown ends it and waits
		defer s.serving.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// WebSocketAddr is the address the WebSocket listener is bound to.
func (s *Server) WebSocketAddr() net.Addr { return s.addrs[0] }

// APIAddr is the address the API listener is bound to.
func (s *Server) APIAddr() net.Addr { return s.addrs[1] }

// MetricsAddr is the address /metrics is served at: the API listener's
// unless it has a listener of its own.
func (s *Server) MetricsAddr() net.Addr { return s.addrs[len(s.addrs)-1] }

// Traffic returns every app's WebSocket traffic so far, by app name.
func (s *Server) Traffic() map[string]Traffic { return s.ws.traffic() }

// Shutdown stops accepting, closes every socket with 4200 (clients
// reconnect at once) and waits for their read loops, then for the
// listeners, or until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	s.ws.closeAll(pusher.CloseReconnect, "Server is restarting", deadline)
	s.serving.Wait()
	return errors.Join(errs...)
}
