package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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

// Config configures the listeners. It restates no default: the caller
// (herald.New, from config) gives every value, and New refuses a zero
// where one is required.
type Config struct {
	// WebSocketListen serves the Pusher protocol at /app/{key}.
	WebSocketListen string
	// APIListen serves the HTTP API, /healthz, /readyz and Mounts. It may
	// equal WebSocketListen: one port then serves both.
	APIListen string
	// WebSocketTLS and APITLS serve wss:// and https://; zero serves
	// plain. With one listener (equal addresses) they must be equal.
	WebSocketTLS, APITLS TLSFiles
	// MaxMessageSize bounds one inbound WebSocket frame; required.
	MaxMessageSize int
	// ReadBufferSize is gws's per-socket read buffer; required.
	ReadBufferSize int
	// ActivityTimeout and PongTimeout give the read deadline of a silent
	// socket; required.
	ActivityTimeout, PongTimeout time.Duration
	// HTTP timeouts of both listeners; required.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Limits are the settings Update can change while the server runs.
	Limits Limits
	// Mounts are extra handlers on the API listener, by ServeMux pattern
	// (the JavaScript client, the demo).
	Mounts map[string]http.Handler
	// Logger receives the listeners' logs; nil discards them.
	Logger *slog.Logger
	// Observer is told of connections, refused upgrades and API requests
	// (metrics, debug logs, the dashboard), from the sockets' read loops,
	// the HTTP handlers and whoever queued the frame that overflowed a
	// socket (4100); nil: nobody.
	Observer actors.Observer
	// Metrics, when set, answers GET /metrics: on the API listener (and
	// APIHandler), or, when MetricsListen is set, on a plain-HTTP listener
	// of its own that Listen opens, with the same timeouts. It is served
	// from Listen on, ready or not.
	Metrics       http.Handler
	MetricsListen string
}

// Limits are the listeners' settings that Update changes while they run.
type Limits struct {
	// WriteQueue and WriteQueueBytes bound one socket's queue (frames,
	// bytes); required. A socket keeps the bounds it opened with.
	WriteQueue, WriteQueueBytes int
	// MaxConnections caps the open sockets of the process (0: no cap);
	// upgrades past it are answered 503.
	MaxConnections int
	// MaxConnectionsPerIP caps the open sockets of one remote IP (0: no cap).
	MaxConnectionsPerIP int
	// AllowedOrigins limits browsers' Origin; empty allows any.
	AllowedOrigins []string
	// MaxBodySize bounds an API request body; required.
	MaxBodySize int64
}

func (l Limits) check() error {
	if l.WriteQueue <= 0 || l.WriteQueueBytes <= 0 || l.MaxBodySize <= 0 {
		return errors.New("transport: WriteQueue, WriteQueueBytes and MaxBodySize must be > 0")
	}
	return nil
}

func (c Config) check() error {
	switch {
	case c.MaxMessageSize <= 0 || c.ReadBufferSize <= 0:
		return errors.New("transport: MaxMessageSize and ReadBufferSize must be > 0")
	case c.ActivityTimeout <= 0 || c.PongTimeout <= 0:
		return errors.New("transport: ActivityTimeout and PongTimeout must be > 0")
	case c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("transport: every HTTP timeout must be > 0")
	case c.WebSocketListen == c.APIListen && c.WebSocketTLS != c.APITLS:
		return errors.New("transport: one listener serves both: WebSocketTLS and APITLS must be equal")
	}
	return c.Limits.check()
}

// Server runs the WebSocket and API listeners over a Broker.
//
// Lifecycle: New, then Listen opens the listeners (/healthz answers 200,
// /readyz and everything else 503 while the broker starts), Serve hands
// them the broker (ready: /readyz 200), Drain turns /readyz back to 503,
// stops new upgrades and closes every socket with 4200, and Shutdown
// closes the listeners. Start is Listen and Serve.
type Server struct {
	cfg     Config
	ws      *wsHandler
	api     *apiHandler
	apiMux  *http.ServeMux // the API listener's routes (APIHandler)
	wsCert  *certificate   // nil: plain ws://
	apiCert *certificate   // nil: plain http://; wsCert when one listener serves both
	wsOnly  *http.Server   // the WebSocket listener's server, nil when one listener serves both
	servers []*http.Server
	addrs   []net.Addr // WebSocket, API, then metrics when it has its own
	serving sync.WaitGroup
	ready   atomic.Bool // the broker is attached and the server is not draining: /readyz
	drain   sync.Once
	drained int        // sockets closed by Drain
	update  sync.Mutex // one Update or ReloadCertificates at a time
}

// New prepares a server; Listen opens its listeners. A certificate that
// cannot be read is an error here.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, ws: newWSHandler(cfg, cfg.Logger), api: newAPIHandler(cfg.Limits, cfg.Observer)}
	s.apiMux = s.newAPIMux()
	var err error
	if cfg.WebSocketTLS.enabled() {
		if s.wsCert, err = loadCertificate(cfg.WebSocketTLS); err != nil {
			return nil, fmt.Errorf("websocket listener: %w", err)
		}
	}
	switch {
	case cfg.WebSocketListen == cfg.APIListen:
		s.apiCert = s.wsCert
	case cfg.APITLS.enabled():
		if s.apiCert, err = loadCertificate(cfg.APITLS); err != nil {
			return nil, fmt.Errorf("api listener: %w", err)
		}
	}
	return s, nil
}

// Start is Listen, then Serve.
func (s *Server) Start(b *actors.Broker) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.Serve(b)
	return nil
}

// newAPIMux routes the API listener: the API, /healthz at once,
// /readyz, and the mounts once Serve has run.
func (s *Server) newAPIMux() *http.ServeMux {
	apiMux := http.NewServeMux()
	apiMux.Handle("/apps/", s.whenReady(s.api))
	apiMux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		pusher.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	apiMux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			pusher.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false})
			return
		}
		pusher.WriteJSON(w, http.StatusOK, map[string]any{"ready": true})
	})
	for pattern, h := range s.cfg.Mounts {
		apiMux.Handle(pattern, s.whenReady(h))
	}
	if s.cfg.Metrics != nil && s.cfg.MetricsListen == "" {
		apiMux.Handle("GET /metrics", s.cfg.Metrics)
	}
	return apiMux
}

// Handler is the WebSocket endpoint (/app/{key} under any path prefix),
// for a program that serves it on its own http.Server instead of Listen's
// listener. Like the listener it answers 503 until Serve and from Drain
// on; Drain closes its sockets too.
func (s *Server) Handler() http.Handler { return s.whenReady(s.ws) }

// APIHandler is what the API listener serves (the HTTP API, /healthz,
// /readyz, the mounts and /metrics without a listener of its own), for a
// program that serves it on its own
// http.Server instead of Listen's listener.
func (s *Server) APIHandler() http.Handler { return s.apiMux }

// Listen listens on both addresses (one, if they are equal), and on
// MetricsListen when set, and serves in the background: /healthz and
// /metrics at once, everything else once Serve has run. A program that
// serves Handler and APIHandler itself does not call it.
func (s *Server) Listen() error {
	var metricsLn net.Listener
	if s.cfg.Metrics != nil && s.cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			return err
		}
		metricsLn = ln
	}
	if err := s.listen(); err != nil {
		if metricsLn != nil {
			_ = metricsLn.Close()
		}
		return err
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.cfg.Metrics)
		s.serve(metricsLn, http.MaxBytesHandler(mux, 4<<10), nil)
		s.addrs = append(s.addrs, metricsLn.Addr())
	}
	return nil
}

// listen opens the WebSocket and API listeners (one, if their addresses
// are equal) and serves them.
func (s *Server) listen() error {
	apiMux := s.apiMux
	ws := s.Handler()
	if s.cfg.WebSocketListen == s.cfg.APIListen {
		both := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/app/") {
				ws.ServeHTTP(w, r)
				return
			}
			apiMux.ServeHTTP(w, r)
		})
		ln, err := net.Listen("tcp", s.cfg.WebSocketListen)
		if err != nil {
			return err
		}
		s.serve(ln, both, s.wsCert)
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
	s.wsOnly = s.serve(wsLn, ws, s.wsCert)
	s.serve(apiLn, apiMux, s.apiCert)
	s.addrs = []net.Addr{wsLn.Addr(), apiLn.Addr()}
	return nil
}

// Serve hands the listeners the broker: from now on they serve it and
// /readyz answers 200.
func (s *Server) Serve(b *actors.Broker) {
	s.ws.broker = b
	s.api.attach(b)
	// The handlers read the broker only after they see ready, so this
	// store publishes it to them.
	s.ready.Store(true)
}

// whenReady answers 503 with a JSON body until Serve has run and again
// once Drain has begun.
func (s *Server) whenReady(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			w.Header().Set("Retry-After", "1")
			pusher.WriteError(w, http.StatusServiceUnavailable, "not ready: the broker is starting or shutting down")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) serve(ln net.Listener, h http.Handler, cert *certificate) *http.Server {
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
	if cert != nil {
		// The handshake runs on the connection's goroutine, under the
		// server's read timeouts.
		ln = tls.NewListener(ln, cert.config())
	}
	s.servers = append(s.servers, srv)
	s.serving.Add(1)
	go func() { // owned by Server: Shutdown ends it and waits
		defer s.serving.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return srv
}

// Update applies new limits: the connection caps and allowed origins at
// once, the write queue bounds to sockets opened from now on, the body
// size to the next request; it also reads the apps' API quotas from the
// broker again (after Broker.Reload), keeping the state of those whose
// rate did not change.
func (s *Server) Update(l Limits) error {
	if err := l.check(); err != nil {
		return err
	}
	s.update.Lock()
	defer s.update.Unlock()
	s.ws.setLimits(l)
	s.api.setLimits(l)
	return nil
}

// ReloadCertificates reads the certificate files of the listeners that
// serve TLS again (files may name new paths) and serves them from the next
// handshake on; open connections keep theirs. On error a listener keeps
// the certificate it had. TLS cannot be turned on or off here.
func (s *Server) ReloadCertificates(ws, api TLSFiles) error {
	s.update.Lock()
	defer s.update.Unlock()
	var errs []error
	if s.wsCert != nil {
		if err := s.wsCert.reload(ws); err != nil {
			errs = append(errs, fmt.Errorf("websocket listener: %w", err))
		}
	}
	if s.apiCert != nil && s.apiCert != s.wsCert {
		if err := s.apiCert.reload(api); err != nil {
			errs = append(errs, fmt.Errorf("api listener: %w", err))
		}
	}
	return errors.Join(errs...)
}

// WebSocketAddr is the address the WebSocket listener is bound to (nil
// before Listen).
func (s *Server) WebSocketAddr() net.Addr {
	if s.addrs == nil {
		return nil
	}
	return s.addrs[0]
}

// APIAddr is the address the API listener is bound to (nil before Listen).
func (s *Server) APIAddr() net.Addr {
	if s.addrs == nil {
		return nil
	}
	return s.addrs[1]
}

// MetricsAddr is the address /metrics is served at: the API listener's
// unless it has a listener of its own (nil before Listen or without
// Metrics).
func (s *Server) MetricsAddr() net.Addr {
	if s.addrs == nil || s.cfg.Metrics == nil {
		return nil
	}
	return s.addrs[len(s.addrs)-1]
}

// MetricsURL is the base URL /metrics is served under: APIURL, or
// http://host:port of its own listener (never TLS).
func (s *Server) MetricsURL() string {
	if s.cfg.MetricsListen != "" {
		return "http://" + s.MetricsAddr().String()
	}
	return s.APIURL()
}

// Traffic returns every app's WebSocket traffic so far, by app name.
func (s *Server) Traffic() map[string]Traffic { return s.ws.traffic() }

// WebSocketURL is the WebSocket listener's base URL: ws://host:port, or
// wss:// with TLS.
func (s *Server) WebSocketURL() string {
	if s.wsCert != nil {
		return "wss://" + s.addrs[0].String()
	}
	return "ws://" + s.addrs[0].String()
}

// APIURL is the API listener's base URL: http://host:port, or https://
// with TLS.
func (s *Server) APIURL() string {
	if s.apiCert != nil {
		return "https://" + s.addrs[1].String()
	}
	return "http://" + s.addrs[1].String()
}

// Drain begins a shutdown while the API listener keeps serving /healthz:
// /readyz turns 503 (so does everything but /healthz), the WebSocket
// listener stops accepting, and every socket is closed with 4200 (clients
// reconnect at once, elsewhere); it waits for their read loops, or for
// ctx. It returns how many sockets it closed. Calling it again does
// nothing.
func (s *Server) Drain(ctx context.Context) (sockets int, err error) {
	s.drain.Do(func() {
		s.ready.Store(false)
		if s.wsOnly != nil {
			err = s.wsOnly.Shutdown(ctx)
		}
		s.drained = s.ws.closeAll(ctx, pusher.CloseReconnect, "Server is restarting")
	})
	return s.drained, err
}

// Shutdown drains (if Drain has not run) and closes the listeners, waiting
// for them, or until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	_, err := s.Drain(ctx)
	errs := []error{err}
	for _, srv := range s.servers {
		if srv != s.wsOnly {
			errs = append(errs, srv.Shutdown(ctx))
		}
	}
	s.serving.Wait()
	return errors.Join(errs...)
}
