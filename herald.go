// Package herald runs the Herald broker: a Pusher-protocol push server on
// Proto.Actor. cmd/herald is a thin main over it; a Go program embeds the
// broker the same way:
//
//	cfg, err := config.Load(os.Args[1:], os.Environ())
//	h, err := herald.New(cfg, herald.Options{})      // or Options{System: mySystem}
//	err = h.Start()
//	...
//	err = h.Reload(ctx, newCfg)                       // apps, log level, limits, webhooks, certificates
//	err = h.Shutdown(ctx)
//
// New wires the layers (config → webhooks, transport, dashboard → actors
// → pusher): one webhook actor per app that has webhooks, the listeners
// and, when it is on (dashboard.token, or dev mode), the dashboard's hub
// and handler (dashboard.go). Start
// opens the listeners (/healthz answers, /readyz says 503), starts the app
// and HTTP adapter actors (in a cluster: joins it), then serves (/readyz
// 200). Every value comes from the config.Config given: no layer below
// holds a default of its own.
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
	"slices"
	"strings"
	"sync"
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
	// and never block.
	Observers []actors.Observer
}

// Herald is a configured broker.
type Herald struct {
	log       *slog.Logger
	level     *slog.LevelVar // nil: the level is the embedding program's
	system    *actor.ActorSystem
	ownSystem bool
	server    *transport.Server
	broker    *actors.Broker  // set by Start, before the listeners serve it
	observer  actors.Observer // Options.Observers (and the dashboard's hub) as one; nil when none
	dash      *dashboard.Hub  // nil when the dashboard is off
	dashToken string          // the dashboard's token, logged only when made here (dev mode)
	dashMade  bool

	mu       sync.Mutex // held by Reload and Shutdown: one at a time
	cfg      config.Config
	hooks    map[string]hook // the webhook actor of each app that has webhooks, by key
	hookSeq  int             // numbers the webhook actors a reload spawns
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

// New builds a broker from cfg; Start opens its listeners. An unreadable
// certificate is an error here.
func New(cfg config.Config, opts Options) (*Herald, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Herald{cfg: cfg, log: opts.Logger, level: opts.LogLevel, system: opts.System, hooks: map[string]hook{}}
	observers := opts.Observers
	if h.dashToken, h.dashMade = dashboardToken(cfg); h.dashToken != "" {
		h.dash = dashboard.NewHub(dashboard.HubConfig{})
		observers = append(slices.Clip(observers), h.dash)
	}
	if len(observers) > 0 {
		h.observer = actors.Observers(observers)
	}
	if h.log == nil {
		h.level = new(slog.LevelVar)
		h.log = NewLogger(cfg.Log, nil, h.level)
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
			Publish:      func(ch, ev, data string) error { return h.Trigger(app.Key, ch, ev, data) }})
	}
	for p, m := range opts.Mounts {
		mounts[p] = m
	}
	tc := transportConfig(cfg)
	tc.Mounts, tc.Logger, tc.Observer = mounts, h.log, h.observer
	srv, err := transport.New(tc)
	if err != nil {
		h.stopHooks(time.Now())
		return nil, err
	}
	h.server = srv
	return h, nil
}

// spawnHook starts the webhook actor of app a.
func (h *Herald) spawnHook(cfg config.Config, a config.App) (hook, error) {
	wc := webhookConfig(cfg, a, h.log)
	wc.Observer = h.observer
	props, err := webhooks.NewProps(wc)
	if err != nil {
		return hook{}, fmt.Errorf("webhooks of app %q: %w", a.Key, err)
	}
	name := "herald-hooks-" + a.Key
	if h.hookSeq > 0 {
		name = fmt.Sprintf("%s-%d", name, h.hookSeq)
	}
	h.hookSeq++
	pid, err := h.system.Root.SpawnNamed(props, name)
	if err != nil {
		return hook{}, fmt.Errorf("start webhooks of app %q: %w", a.Key, err)
	}
	return hook{pid: pid, cfg: wc}, nil
}

// appConfig is a as the actors take it, with its webhook actor (nil: none).
func appConfig(a config.App, hooks *actor.PID) actors.AppConfig {
	return actors.AppConfig{
		ID: a.ID, Key: a.Key, Secret: a.Secret, ClientEvents: a.ClientEvents,
		ClientEventRate: a.ClientEventRate, MaxPresenceMembers: a.MaxPresenceMembers,
		MaxChannelsPerConnection:  a.MaxChannelsPerConnection,
		MaxConnections:            a.MaxConnections,
		MaxBackendEventsPerSecond: a.MaxBackendEventsPerSecond,
		MaxReadRequestsPerSecond:  a.MaxReadRequestsPerSecond,
		UserAuthenticationTimeout: a.UserAuthenticationTimeout, Watchlist: a.Watchlist,
		SubscriptionCount: a.SubscriptionCount, CacheTTL: a.CacheTTL, Hooks: hooks,
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

// Trigger publishes one event on one channel of the app whose key is key,
// as POST /events would.
func (h *Herald) Trigger(key, channel, event, data string) error {
	if h.broker == nil {
		return errors.New("trigger: the broker has not started")
	}
	res, err := h.broker.Request(&actors.TriggerRequest{App: key,
		Events: []actors.TriggerEvent{{Name: event, Data: data, Channels: []string{channel}}}})
	if err != nil {
		return err
	}
	if err, ok := res.(error); ok {
		return err
	}
	return nil
}

// Start opens the listeners, on which /healthz answers at once and
// /readyz answers 503 (so does every other path, WebSocket upgrades
// included) until the broker is up: its actors started and, in a cluster,
// this node joined. Then it serves. It logs every listener's URL. Call it
// once, before Reload or Shutdown; after an error, call Shutdown.
func (h *Herald) Start() error {
	cfg := h.cfg
	if err := h.server.Listen(); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	h.log.Info("listening", "listener", "websocket", "url", h.server.WebSocketURL()+"/app/{key}")
	h.log.Info("listening", "listener", "api", "url", h.server.APIURL()+"/")
	if cfg.DevMode {
		h.log.Info("listening", "listener", "demo", "url", h.server.APIURL()+"/demo/")
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
		apps = append(apps, appConfig(a, h.hooks[a.Key].pid))
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
	h.server.Serve(b)
	h.log.Info("ready", "apps", len(cfg.Apps))
	h.logDashboard()
	return nil
}

// Broker is the running broker, for programs that talk to it directly
// (after Start).
func (h *Herald) Broker() *actors.Broker { return h.broker }

// WebSocketAddr is where clients connect (after Start).
func (h *Herald) WebSocketAddr() net.Addr { return h.server.WebSocketAddr() }

// APIAddr is where backends call the HTTP API (after Start).
func (h *Herald) APIAddr() net.Addr { return h.server.APIAddr() }

// Shutdown stops in order, logging each step: /readyz turns 503 and the
// WebSocket listener stops accepting; every socket is closed with 4200
// (clients reconnect at once); the app actors stop (and with them every
// connection and channel); pending webhooks are flushed; the API listener
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
// actor (the logger, client and clock are the process's, not settings).
func sameHooks(a, b webhooks.Config) bool {
	a.Logger, a.Client, a.Clock = nil, nil, nil
	b.Logger, b.Client, b.Clock = nil, nil, nil
	return reflect.DeepEqual(a, b)
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
