package herald

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/dashboard"
	"github.com/herald-push/herald/transport"
	"github.com/herald-push/herald/web"
	"github.com/herald-push/herald/webhooks"
)

// Options are the optional parts of New.
type Options struct {
	// System is an ActorSystem the program already runs; nil makes one,
	// which Shutdown then shuts down.
	System *actor.ActorSystem
	// Logger receives every log line; nil writes text or JSON to stderr
	// at cfg.Log's level.
	Logger *slog.Logger
	// LogLevel is Logger's level, which Reload sets from log.level (see
	// NewLogger). With a Logger and no LogLevel, Reload leaves the level
	// alone.
	LogLevel *slog.LevelVar
	// Mounts are extra handlers on the API listener, by ServeMux pattern.
	// The JavaScript client is always served (/push.js and webman's
	// /plugin/webman/push/push.js), and a home page at / that answers any
	// other unknown path with a JSON 404; in dev mode so is the demo at
	// /demo/.
	Mounts map[string]http.Handler
	// Observers are told of what happens in the broker (connections,
	// subscriptions, API requests, publishes, client events, webhook
	// deliveries), from the goroutine where it happens: each must be quick
	// and never block. The metrics (metrics.enabled), the debug log lines
	// (at debug level) and the dashboard's hub (when it is on) are
	// observers New adds.
	Observers []actors.Observer
	// NoListeners makes Start open neither the WebSocket nor the API
	// listener, nor metrics.listen's (websocket.listen, api.listen and
	// metrics.listen are then unused): the
	// program serves Handler, and APIHandler if it wants the HTTP API, on
	// its own http.Server. Everything else is the same.
	NoListeners bool
	// Authorizer, when set, authorizes private and presence subscriptions
	// and user sign-ins in-process, at POST /auth/{app key} on the API
	// listener and through AuthHandler (see Authorizer).
	Authorizer Authorizer
}

// Herald is a configured broker.
type Herald struct {
	log        *slog.Logger
	level      *slog.LevelVar // nil: the level is the embedding program's
	system     *actor.ActorSystem
	ownSystem  bool
	server     *transport.Server
	broker     *actors.Broker  // set by Start, before the listeners serve it
	observer   actors.Observer // Options.Observers, the metrics, the debug lines and the dashboard's hub as one; nil when none
	metrics    *metrics        // GET /metrics; nil when metrics.enabled is false
	dash       *dashboard.Hub  // nil when the dashboard is off
	dashToken  string          // the dashboard's token, logged only when made here (dev mode)
	dashMade   bool
	listen     bool        // Start opens the listeners (not Options.NoListeners)
	authorizer Authorizer  // Options.Authorizer
	gateway    *actor.PID  // PID: spawned by Start once the broker runs
	running    atomic.Bool // from the end of Start to the start of Shutdown: the embedding API works

	mu       sync.Mutex // held by Reload and Shutdown: one at a time
	cfg      config.Config
	hooks    map[string]hook // the webhook actor of each app that has webhooks, by key
	retiring sync.WaitGroup  // webhook actors a reload replaced, flushing
	stopped  bool            // Shutdown has run: Reload refuses
	stopOnce sync.Once
	stopErr  error
}

// hook is an app's webhook actor and the settings it was made with.
type hook struct {
	pid *actor.PID
	cfg webhooks.Config
}

// New builds a broker from cfg — loaded by config.Load, or built in code
// from config.Default() — checked as Load checks a file: each app's
// per-app defaults are filled in (config.App.WithDefaults), then
// cfg.Validate must pass. Start opens its listeners. An unreadable
// certificate is an error here.
func New(cfg config.Config, opts Options) (*Herald, error) {
	cfg = withAppDefaults(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Herald{cfg: cfg, log: opts.Logger, level: opts.LogLevel, system: opts.System, hooks: map[string]hook{},
		listen: !opts.NoListeners, authorizer: opts.Authorizer}
	if h.log == nil {
		h.level = new(slog.LevelVar)
		h.log = NewLogger(cfg.Log, nil, h.level)
	}
	observers := append([]actors.Observer(nil), opts.Observers...)
	if cfg.Metrics.Enabled {
		h.metrics = newMetrics(cfg.Apps)
		observers = append(observers, h.metrics)
	}
	if h.dashToken, h.dashMade = dashboardToken(cfg); h.dashToken != "" {
		h.dash = dashboard.NewHub(dashboard.HubConfig{})
		observers = append(observers, h.dash)
	}
	// The debug lines, when the level is debug or Reload may make it so.
	if h.level != nil || h.log.Enabled(context.Background(), slog.LevelDebug) {
		observers = append(observers, logObserver{h.log})
	}
	switch len(observers) { // none: each report is then a nil check
	case 0:
	case 1:
		h.observer = observers[0]
	default:
		h.observer = actors.Observers(observers)
	}
	if h.system == nil {
		actorLog := slog.New(minLevel{h.log.Handler(), slog.LevelWarn}).With("component", "actor")
		h.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }))
		h.ownSystem = true
	}
	for _, a := range cfg.Apps {
		if len(a.Webhooks) == 0 {
			continue
		}
		hk, err := h.spawnHook(cfg, a)
		if err != nil {
			h.stopHooks(time.Now())
			return nil, err
		}
		h.hooks[a.Key] = hk
	}
	mounts := map[string]http.Handler{"/": homePage(cfg, h.dash != nil)}
	if h.dash != nil {
		mounts["/dashboard/"] = dashboard.NewHandler(h.dash, dashboard.Config{Token: h.dashToken,
			Broker: startedBroker{h}, Page: web.DashboardHandler()})
	}
	client := web.ClientHandler()
	for _, p := range web.ClientPaths() {
		mounts[p] = client
	}
	if cfg.DevMode && len(cfg.Apps) > 0 {
		app := cfg.Apps[0]
		mounts["/demo/"] = web.DemoHandler(web.Demo{AppKey: app.Key, Secret: app.Secret,
			WebSocketURL: demoURL(cfg.WebSocket.Listen, cfg.WebSocket.TLS.Enabled()),
			Publish: func(ch, ev, data string) error {
				return h.Publish(context.Background(), Publish{App: app.Key, Channels: []string{ch}, Event: ev, Data: data})
			}})
	}
	if opts.Authorizer != nil {
		mounts["/auth/"] = authHandler{h: h}
	}
	for p, handler := range opts.Mounts {
		mounts[p] = handler
	}
	tc := transportConfig(cfg)
	tc.Mounts, tc.Logger, tc.Observer = mounts, h.log, h.observer
	if h.metrics != nil {
		tc.Metrics, tc.MetricsListen = h.metrics.handler(), cfg.Metrics.Listen
	}
	srv, err := transport.New(tc)
	if err != nil {
		h.stopHooks(time.Now())
		return nil, err
	}
	h.server = srv
	if h.metrics != nil {
		h.metrics.attachServer(srv)
	}
	return h, nil
}

// spawnHook starts the webhook actor of app a, at New and on Reload, with
// the observers and its metrics queue depth gauge; it names the app as
// the broker does.
func (h *Herald) spawnHook(cfg config.Config, a config.App) (hook, error) {
	wc := webhookConfig(cfg, a, h.log)
	wc.App = h.appName(a)
	wc.Observer = h.observer
	if h.metrics != nil {
		wc.QueueDepth = h.metrics.queueDepth(wc.App)
	}
	props, err := webhooks.NewProps(wc)
	if err != nil {
		return hook{}, fmt.Errorf("webhooks of app %q: %w", a.Key, err)
	}
	pid, err := h.system.Root.SpawnNamed(props, actors.UniqueName(h.system, "herald-hooks-"+a.Key))
	if err != nil {
		return hook{}, fmt.Errorf("start webhooks of app %q: %w", a.Key, err)
	}
	return hook{pid: pid, cfg: wc}, nil
}

// appConfig is a as the actors take it, with its webhook actor (nil: none).
// A recovery may send a socket at most half its write queue (ws) at once.
func appConfig(a config.App, ws config.WebSocket, hooks *actor.PID) actors.AppConfig {
	return actors.AppConfig{
		ID: a.ID, Key: a.Key, Secret: a.Secret, ClientEvents: a.ClientEvents,
		ClientEventRate: a.ClientEventRate, MaxPresenceMembers: a.MaxPresenceMembers,
		MaxChannelsPerConnection:  a.MaxChannelsPerConnection,
		MaxConnections:            a.MaxConnections,
		MaxBackendEventsPerSecond: a.MaxBackendEventsPerSecond,
		MaxReadRequestsPerSecond:  a.MaxReadRequestsPerSecond,
		UserAuthenticationTimeout: a.UserAuthenticationTimeout, Watchlist: a.Watchlist,
		SubscriptionCount: a.SubscriptionCount, CacheTTL: a.CacheTTL, Hooks: hooks,
		History: actors.HistoryConfig{Size: a.History.Size, TTL: a.History.TTL,
			Prefixes:        strings.Join(a.History.Prefixes, " "),
			MaxReplayFrames: max(1, ws.WriteQueue/2), MaxReplayBytes: max(1, ws.WriteQueueBytes/2)},
	}
}

// transportConfig is cfg as the listeners take it, without mounts and logger.
func transportConfig(cfg config.Config) transport.Config {
	ws, api := cfg.WebSocket, cfg.API
	return transport.Config{
		WebSocketListen:   ws.Listen,
		APIListen:         api.Listen,
		WebSocketTLS:      transport.TLSFiles(ws.TLS),
		APITLS:            transport.TLSFiles(api.TLS),
		MaxMessageSize:    ws.MaxMessageSize,
		ReadBufferSize:    ws.ReadBufferSize,
		ActivityTimeout:   ws.ActivityTimeout,
		PongTimeout:       ws.PongTimeout,
		ReadHeaderTimeout: api.ReadHeaderTimeout,
		ReadTimeout:       api.ReadTimeout,
		WriteTimeout:      api.WriteTimeout,
		IdleTimeout:       api.IdleTimeout,
		Limits:            limits(cfg),
	}
}

// limits are cfg's settings that the listeners change while they run.
func limits(cfg config.Config) transport.Limits {
	ws := cfg.WebSocket
	return transport.Limits{
		WriteQueue:          ws.WriteQueue,
		WriteQueueBytes:     ws.WriteQueueBytes,
		MaxConnections:      ws.MaxConnections,
		MaxConnectionsPerIP: ws.MaxConnectionsPerIP,
		AllowedOrigins:      ws.AllowedOrigins,
		MaxBodySize:         cfg.API.MaxBodySize,
	}
}

func webhookConfig(cfg config.Config, a config.App, log *slog.Logger) webhooks.Config {
	wh := cfg.Webhooks
	wc := webhooks.Config{
		Key: a.Key, Secret: a.Secret,
		Debounce: wh.Debounce, BatchWindow: wh.BatchWindow, BatchMax: wh.BatchMax, Timeout: wh.Timeout,
		RetryFor: wh.RetryFor, BackoffMin: wh.BackoffMin, BackoffMax: wh.BackoffMax, QueueSize: wh.QueueSize,
		Logger: log, // the actor adds component and app
	}
	for _, w := range a.Webhooks {
		wc.Endpoints = append(wc.Endpoints, webhooks.Endpoint{URL: w.URL, Format: w.Format, Events: w.Events, Headers: w.Headers})
	}
	return wc
}

// demoURL is the WebSocket URL the demo page uses; empty lets the page
// derive it from its own address (when the listener is on all interfaces).
func demoURL(listen string, tls bool) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return ""
	}
	scheme := "ws://"
	if tls {
		scheme = "wss://"
	}
	return scheme + net.JoinHostPort(host, port)
}

// withAppDefaults is cfg with each app's per-app defaults filled in, as
// config.Load fills them (the caller's slice is not written to).
func withAppDefaults(cfg config.Config) config.Config {
	apps := make([]config.App, len(cfg.Apps))
	for i, a := range cfg.Apps {
		apps[i] = a.WithDefaults()
	}
	cfg.Apps = apps
	return cfg
}

// Start opens the listeners (unless Options.NoListeners), on which
// /healthz answers at once and /readyz answers 503 (so does every other
// path, WebSocket upgrades included) until the broker is up: its actors
// started and, in a cluster, this node joined. Then it serves, and the
// embedding API (PID, Publish, Subscribe, WatchFacts) works. It logs every
// listener's URL. Call it once, before Reload or Shutdown; after an error,
// call Shutdown.
func (h *Herald) Start() error {
	cfg := h.cfg
	if h.listen {
		if err := h.server.Listen(); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		h.log.Info("listening", "listener", "websocket", "url", h.server.WebSocketURL()+"/app/{key}")
		h.log.Info("listening", "listener", "api", "url", h.server.APIURL()+"/")
		if cfg.DevMode {
			h.log.Info("listening", "listener", "demo", "url", h.server.APIURL()+"/demo/")
		}
		if h.metrics != nil {
			h.log.Info("listening", "listener", "metrics", "url", h.server.MetricsURL()+"/metrics")
		}
	}
	cluster, err := clusterConfig(cfg.Cluster)
	if err != nil {
		return err
	}
	if cluster != nil {
		h.log.Info("joining the cluster", "name", cfg.Cluster.Name, "etcd", strings.Join(cfg.Cluster.EtcdEndpoints, ","))
	}
	var apps []actors.AppConfig
	for _, a := range cfg.Apps {
		apps = append(apps, appConfig(a, cfg.WebSocket, h.hooks[a.Key].pid))
	}
	b, err := actors.Start(h.system, actors.Config{
		Apps:           apps,
		Timing:         actors.Timing{ActivityTimeout: cfg.WebSocket.ActivityTimeout, PongTimeout: cfg.WebSocket.PongTimeout},
		Fanout:         transport.Broadcaster{},
		Logger:         h.log,
		RequestTimeout: cfg.API.RequestTimeout,
		Cluster:        cluster,
		Observer:       h.observer,
	})
	if err != nil {
		return err
	}
	h.broker = b
	if cluster != nil {
		h.log.Info("cluster joined", "name", cfg.Cluster.Name, "address", b.ClusterAddress())
	}
	gateway, err := h.system.Root.SpawnNamed(newGatewayProps(h), actors.UniqueName(h.system, "herald-gateway"))
	if err != nil {
		return fmt.Errorf("spawn the gateway: %w", err)
	}
	h.gateway = gateway
	if h.metrics != nil {
		h.metrics.attachBroker(b)
	}
	h.running.Store(true)
	h.server.Serve(b)
	h.log.Info("ready", "apps", len(cfg.Apps))
	h.logDashboard()
	return nil
}

// Broker is the running broker, for programs that talk to it directly
// (after Start).
func (h *Herald) Broker() *actors.Broker { return h.broker }

// WebSocketAddr is where clients connect (after Start; nil with
// Options.NoListeners).
func (h *Herald) WebSocketAddr() net.Addr { return h.server.WebSocketAddr() }

// APIAddr is where backends call the HTTP API (after Start; nil with
// Options.NoListeners).
func (h *Herald) APIAddr() net.Addr { return h.server.APIAddr() }

// MetricsAddr is where GET /metrics is served (after Start): the API
// listener, or metrics.listen's; nil when metrics.enabled is false or
// with Options.NoListeners (APIHandler then serves it, unless
// metrics.listen is set).
func (h *Herald) MetricsAddr() net.Addr {
	if h.metrics == nil {
		return nil
	}
	return h.server.MetricsAddr()
}

// Shutdown stops in order, logging each step: the embedding API refuses
// (ErrNotRunning), /readyz turns 503 and the WebSocket listener stops
// accepting; every socket is closed with 4200 (clients reconnect at
// once); the gateway (PID) stops, then the app actors (and with them every
// connection and channel; each server-side subscriber that is still there
// gets a *SubscriptionError); pending webhooks are flushed; the API listener
// (and /healthz, 200 until now) closes, after the dashboard's event
// streams, which never go idle, are ended; then the actor system, if New
// made it. ctx bounds the whole. Calling it again returns the first
// call's result.
func (h *Herald) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() { h.stopErr = h.shutdown(ctx) })
	return h.stopErr
}

func (h *Herald) shutdown(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.running.Store(false)
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(h.cfg.ShutdownTimeout)
	}
	h.log.Info("shutdown: started", "timeout", time.Until(deadline).Round(time.Millisecond).String())
	var errs []error
	sockets, err := h.server.Drain(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("websocket listener: %w", err))
	}
	h.log.Info("shutdown: not ready; websockets closed with 4200", "sockets", sockets)
	if h.gateway != nil {
		_ = h.system.Root.StopFuture(h.gateway).Wait()
	}
	if h.broker != nil {
		if err := h.broker.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("actors: %w", err))
		}
		h.log.Info("shutdown: actors stopped")
	}
	pending := h.stopHooks(deadline)
	h.retiring.Wait() // webhook actors a reload replaced: each bounded by its own deadline
	h.log.Info("shutdown: webhooks flushed", "undelivered", pending)
	if h.dash != nil {
		h.dash.Close() // the streams end, or the listener's Shutdown waits for ctx
	}
	if err := h.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("listeners: %w", err))
	}
	h.log.Info("shutdown: listeners closed")
	if h.ownSystem && !h.system.IsStopped() { // a cluster member's Broker.Stop shuts it down
		h.system.Shutdown()
	}
	h.log.Info("shutdown: done", "took", time.Since(start).Round(time.Millisecond).String())
	return errors.Join(errs...)
}

// stopHooks flushes every webhook actor until deadline, then stops it, and
// returns the number of events left undelivered.
func (h *Herald) stopHooks(deadline time.Time) int {
	pending := 0
	for key, hk := range h.hooks {
		pending += h.flushHook(key, hk.pid, deadline)
	}
	h.hooks = map[string]hook{}
	return pending
}

// flushHook flushes the webhook actor pid of app key until deadline, stops
// it and returns the number of events it could not deliver.
func (h *Herald) flushHook(key string, pid *actor.PID, deadline time.Time) int {
	pending := 0
	if wait := time.Until(deadline); wait > 0 {
		res, err := h.system.Root.RequestFuture(pid, &webhooks.FlushRequest{Deadline: deadline}, wait+time.Second).Result()
		if r, ok := res.(*webhooks.FlushResponse); err == nil && ok && r.Pending > 0 {
			pending = r.Pending
			h.log.Warn("webhooks not delivered in time", "app", key, "pending", r.Pending)
		}
	}
	_ = h.system.Root.StopFuture(pid).Wait()
	return pending
}

// NewLogger makes the broker's logger from the log settings, writing to w
// (stderr when nil). Its level is level (set here from c.Level), which
// Reload changes when it is given as Options.LogLevel; nil makes one.
func NewLogger(c config.Log, w io.Writer, level *slog.LevelVar) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	if level == nil {
		level = new(slog.LevelVar)
	}
	level.Set(parseLevel(c.Level))
	o := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// parseLevel reads log.level (validated: debug, info, warn or error).
func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// sameHooks reports whether two webhook settings would make the same
// actor (the logger, client, clock, observers and the app's name are the
// process's wiring, set by spawnHook, not settings).
func sameHooks(a, b webhooks.Config) bool {
	for _, c := range []*webhooks.Config{&a, &b} {
		c.Logger, c.Client, c.Clock, c.Observer, c.QueueDepth, c.App = nil, nil, nil, nil, nil, ""
	}
	return reflect.DeepEqual(a, b)
}

// appName is how the broker names app a (actors.App.Name): as the running
// app does when it runs (a reload keeps the name an app started with),
// else its id, or its key when it has none.
func (h *Herald) appName(a config.App) string {
	if h.broker != nil {
		if app, ok := h.broker.App(a.Key); ok {
			return app.Name()
		}
	}
	return appName(a)
}

// minLevel raises a handler's threshold: Proto.Actor logs every dead
// letter and supervision step at Info, which is noise at our Info level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}
func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(a), m.min}
}
func (m minLevel) WithGroup(n string) slog.Handler { return minLevel{m.Handler.WithGroup(n), m.min} }
