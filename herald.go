// Package herald runs the Herald broker: a Pusher-protocol push server on
// Proto.Actor. cmd/herald is a thin main over it; a Go program embeds the
// broker the same way:
//
//	cfg, err := config.Load(os.Args[1:], os.Environ())
//	h, err := herald.New(cfg, herald.Options{})      // or Options{System: mySystem}
//	err = h.Start()
//	...
//	err = h.Shutdown(ctx)
//
// New wires the layers (config → webhooks, transport, dashboard → actors
// → pusher): one webhook actor per app that has webhooks, the app and HTTP
// adapter actors, the two listeners and, when it is on (dashboard.token,
// or dev mode), the dashboard's hub and handler (dashboard.go).
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
	// Mounts are extra handlers on the API listener, by ServeMux pattern.
	// The JavaScript client is always served (/push.js and webman's
	// /plugin/webman/push/push.js), and a home page at / that answers any
	// other unknown path with a JSON 404; in dev mode so is the demo at
	// /demo/, and the dashboard at /dashboard/ when it is on.
	Mounts map[string]http.Handler
	// Observers are told of what happens in the broker (connections,
	// subscriptions, API requests, publishes, client events, webhook
	// deliveries), from the goroutine where it happens: each must be quick
	// and never block.
	Observers []actors.Observer
}

// Herald is a configured broker.
type Herald struct {
	cfg       config.Config
	log       *slog.Logger
	system    *actor.ActorSystem
	ownSystem bool
	hooks     []*actor.PID
	broker    *actors.Broker
	server    *transport.Server
	dash      *dashboard.Hub // nil when the dashboard is off
	dashToken string         // the dashboard's token, never logged unless generated
	dashMade  bool           // dashToken was generated (dev mode), so its URL is logged
	stopOnce  sync.Once
	stopErr   error
}

// New builds a broker from cfg; Start opens its listeners.
func New(cfg config.Config, opts Options) (*Herald, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Herald{cfg: cfg, log: opts.Logger, system: opts.System}
	observers := opts.Observers
	if h.dashToken, h.dashMade = dashboardToken(cfg); h.dashToken != "" {
		h.dash = dashboard.NewHub(dashboard.HubConfig{})
		observers = append(slices.Clip(observers), h.dash)
	}
	var observer actors.Observer
	if len(observers) > 0 {
		observer = actors.Observers(observers)
	}
	if h.log == nil {
		h.log = NewLogger(cfg.Log, nil)
	}
	if h.system == nil {
		actorLog := slog.New(minLevel{h.log.Handler(), slog.LevelWarn}).With("component", "actor")
		h.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }))
		h.ownSystem = true
	}
	var apps []actors.AppConfig
	for _, a := range cfg.Apps {
		ac := actors.AppConfig{
			ID: a.ID, Key: a.Key, Secret: a.Secret, ClientEvents: a.ClientEvents,
			ClientEventRate: a.ClientEventRate, MaxPresenceMembers: a.MaxPresenceMembers,
			MaxChannelsPerConnection:  a.MaxChannelsPerConnection,
			MaxConnections:            a.MaxConnections,
			MaxBackendEventsPerSecond: a.MaxBackendEventsPerSecond,
			MaxReadRequestsPerSecond:  a.MaxReadRequestsPerSecond,
			UserAuthenticationTimeout: a.UserAuthenticationTimeout, Watchlist: a.Watchlist,
			SubscriptionCount: a.SubscriptionCount, CacheTTL: a.CacheTTL,
		}
		if len(a.Webhooks) > 0 {
			wc := webhookConfig(cfg, a, h.log)
			wc.Observer = observer
			pid, err := h.system.Root.SpawnNamed(webhooks.NewProps(wc), "herald-hooks-"+a.Key)
			if err != nil {
				h.stopHooks(time.Now())
				return nil, fmt.Errorf("start webhooks of app %q: %w", a.Key, err)
			}
			h.hooks = append(h.hooks, pid)
			ac.Hooks = pid
		}
		apps = append(apps, ac)
	}
	cluster, err := clusterConfig(cfg.Cluster)
	if err != nil {
		h.stopHooks(time.Now())
		return nil, err
	}
	b, err := actors.Start(h.system, actors.Config{
		Apps:           apps,
		Timing:         actors.Timing{ActivityTimeout: cfg.WebSocket.ActivityTimeout, PongTimeout: cfg.WebSocket.PongTimeout},
		Fanout:         transport.Broadcaster{},
		Logger:         h.log,
		RequestTimeout: cfg.API.RequestTimeout,
		Cluster:        cluster,
		Observer:       observer,
	})
	if err != nil {
		h.stopHooks(time.Now())
		return nil, err
	}
	h.broker = b
	mounts := map[string]http.Handler{"/": homePage(cfg, h.dash != nil)}
	if h.dash != nil {
		mounts["/dashboard/"] = dashboard.NewHandler(h.dash, dashboard.Config{Token: h.dashToken, Broker: b, Page: web.DashboardHandler()})
	}
	client := web.ClientHandler()
	for _, p := range web.ClientPaths() {
		mounts[p] = client
	}
	if cfg.DevMode && len(cfg.Apps) > 0 {
		app := cfg.Apps[0]
		mounts["/demo/"] = web.DemoHandler(web.Demo{AppKey: app.Key, Secret: app.Secret,
			WebSocketURL: demoURL(cfg.WebSocket.Listen),
			Publish:      func(ch, ev, data string) error { return h.Trigger(app.Key, ch, ev, data) }})
	}
	for p, m := range opts.Mounts {
		mounts[p] = m
	}
	h.server = transport.New(b, transport.Config{
		WebSocketListen:     cfg.WebSocket.Listen,
		APIListen:           cfg.API.Listen,
		MaxMessageSize:      cfg.WebSocket.MaxMessageSize,
		ReadBufferSize:      cfg.WebSocket.ReadBufferSize,
		WriteQueue:          cfg.WebSocket.WriteQueue,
		WriteQueueBytes:     cfg.WebSocket.WriteQueueBytes,
		MaxConnections:      cfg.WebSocket.MaxConnections,
		MaxConnectionsPerIP: cfg.WebSocket.MaxConnectionsPerIP,
		AllowedOrigins:      cfg.WebSocket.AllowedOrigins,
		ActivityTimeout:     cfg.WebSocket.ActivityTimeout,
		PongTimeout:         cfg.WebSocket.PongTimeout,
		MaxBodySize:         cfg.API.MaxBodySize,
		ReadHeaderTimeout:   cfg.API.ReadHeaderTimeout,
		ReadTimeout:         cfg.API.ReadTimeout,
		WriteTimeout:        cfg.API.WriteTimeout,
		IdleTimeout:         cfg.API.IdleTimeout,
		Mounts:              mounts,
		Logger:              h.log,
		Observer:            observer,
	})
	return h, nil
}

func webhookConfig(cfg config.Config, a config.App, log *slog.Logger) webhooks.Config {
	wc := webhooks.Config{
		Key: a.Key, Secret: a.Secret,
		Debounce: cfg.Webhooks.Debounce, BatchWindow: cfg.Webhooks.BatchWindow, BatchMax: cfg.Webhooks.BatchMax,
		Timeout: cfg.Webhooks.Timeout, RetryFor: cfg.Webhooks.RetryFor, QueueSize: cfg.Webhooks.QueueSize,
		Logger: log.With("app", a.Key, "component", "webhooks"),
	}
	// In the config file 0 switches debouncing (retrying) off; in
	// webhooks.Config 0 means the default and a negative value means off.
	if cfg.Webhooks.Debounce == 0 {
		wc.Debounce = -1
	}
	if cfg.Webhooks.RetryFor == 0 {
		wc.RetryFor = -1
	}
	for _, w := range a.Webhooks {
		wc.Endpoints = append(wc.Endpoints, webhooks.Endpoint{URL: w.URL, Format: w.Format, Events: w.Events, Headers: w.Headers})
	}
	return wc
}

// demoURL is the WebSocket URL the demo page uses; empty lets the page
// derive it from its own address (when the listener is on all interfaces).
func demoURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return ""
	}
	return "ws://" + net.JoinHostPort(host, port)
}

// Trigger publishes one event on one channel of the app whose key is key,
// as POST /events would.
func (h *Herald) Trigger(key, channel, event, data string) error {
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

// Start opens the listeners.
func (h *Herald) Start() error {
	if err := h.server.Start(); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	h.log.Info("herald started", "websocket", h.server.WebSocketAddr().String(), "api", h.server.APIAddr().String(), "apps", len(h.cfg.Apps))
	h.logDashboard()
	return nil
}

// Broker is the running broker, for programs that talk to it directly.
func (h *Herald) Broker() *actors.Broker { return h.broker }

// WebSocketAddr is where clients connect (after Start).
func (h *Herald) WebSocketAddr() net.Addr { return h.server.WebSocketAddr() }

// APIAddr is where backends call the HTTP API (after Start).
func (h *Herald) APIAddr() net.Addr { return h.server.APIAddr() }

// Shutdown stops in order: the dashboard's event streams end; the
// listeners stop accepting and every socket is closed with 4200 (clients
// reconnect at once); the app actors stop
// (and with them every connection and channel); pending webhooks are
// flushed; then the actor system, if New made it. ctx bounds the whole.
// Calling it again returns the first call's result.
func (h *Herald) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() { h.stopErr = h.shutdown(ctx) })
	return h.stopErr
}

func (h *Herald) shutdown(ctx context.Context) error {
	var errs []error
	if h.dash != nil {
		h.dash.Close() // streams never go idle: end them, or Shutdown waits for ctx
	}
	if err := h.server.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("listeners: %w", err))
	}
	if err := h.broker.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("actors: %w", err))
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(h.cfg.ShutdownTimeout)
	}
	h.stopHooks(deadline)
	if h.ownSystem && !h.system.IsStopped() { // a cluster member's Broker.Stop shuts it down
		h.system.Shutdown()
	}
	return errors.Join(errs...)
}

// stopHooks flushes every webhook actor until deadline, then stops it.
func (h *Herald) stopHooks(deadline time.Time) {
	for _, pid := range h.hooks {
		wait := time.Until(deadline)
		if wait > 0 {
			res, err := h.system.Root.RequestFuture(pid, &webhooks.FlushRequest{Deadline: deadline}, wait+time.Second).Result()
			if r, ok := res.(*webhooks.FlushResponse); err == nil && ok && r.Pending > 0 {
				h.log.Warn("webhooks not delivered before shutdown", "pending", r.Pending)
			}
		}
		_ = h.system.Root.StopFuture(pid).Wait()
	}
}

// NewLogger makes the broker's logger from the log settings, writing to w
// (stderr when nil).
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	o := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
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
