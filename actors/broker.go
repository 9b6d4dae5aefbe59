package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/herald-push/herald/pusher"
)

// AppConfig is one app as the actors see it. Zero limits mean Pusher's
// defaults (see withDefaults).
type AppConfig struct {
	// ID is the app id; empty means any id in API paths reaches this app.
	ID     string
	Key    string
	Secret string
	// ClientEvents lets clients send client- events (off by default, as on Pusher).
	ClientEvents bool
	// ClientEventRate is client events a second per connection (default 10).
	ClientEventRate int
	// MaxPresenceMembers caps users per presence channel (default 100).
	MaxPresenceMembers int
	// MaxChannelsPerConnection caps subscriptions per socket (default 1000).
	MaxChannelsPerConnection int
	// MaxConnections caps the app's open connections (0: no cap); past it
	// a connection is refused with 4004.
	MaxConnections int
	// MaxBackendEventsPerSecond and MaxReadRequestsPerSecond are the app's
	// API quotas (0: none), enforced by the transport.
	MaxBackendEventsPerSecond, MaxReadRequestsPerSecond int
	// UserAuthenticationTimeout closes connections that neither sign in
	// nor hold a private or presence subscription within it (0: off).
	UserAuthenticationTimeout time.Duration
	// Watchlist sends watchlist events to signed-in users.
	Watchlist bool
	// SubscriptionCount sends pusher_internal:subscription_count to the
	// subscribers of non-presence channels when their count changes.
	SubscriptionCount bool
	// CacheTTL is how long a cache channel keeps its last event (default 30m).
	CacheTTL time.Duration
	// Hooks is the app's webhook actor, told of every ChannelOccupied and
	// the other facts; nil means no webhooks.
	Hooks *actor.PID
}

func (c AppConfig) withDefaults() AppConfig {
	if c.ClientEventRate <= 0 {
		c.ClientEventRate = 10
	}
	if c.MaxPresenceMembers <= 0 {
		c.MaxPresenceMembers = 100
	}
	if c.MaxChannelsPerConnection <= 0 {
		c.MaxChannelsPerConnection = 1000
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = 30 * time.Minute
	}
	return c
}

// Timing is the heartbeat of every connection.
type Timing struct {
	// ActivityTimeout is announced to clients and is how long a silent
	// client waits before the server pings it (default 30s).
	ActivityTimeout time.Duration
	// PongTimeout is how long a pinged client has to answer (default 30s).
	PongTimeout time.Duration
}

// Config configures Start.
type Config struct {
	Apps   []AppConfig
	Timing Timing
	// Fanout frames a publish once for many sockets; nil sends the bytes
	// to each socket as they are.
	Fanout Fanout
	// Logger receives the actors' logs; nil discards them.
	Logger *slog.Logger
	// RequestTimeout bounds Request (default 5s).
	RequestTimeout time.Duration
	// Cluster, when set, makes the Broker a member of a cluster; nil is a
	// single node (no remote, no grains).
	Cluster *ClusterConfig
	// Observer is told of subscriptions, publishes and client events
	// (metrics, debug logs, the dashboard); nil: nobody.
	Observer Observer
}

// App is a started app, as the transport looks it up.
type App struct {
	Config AppConfig
	pid    *actor.PID
}

// MatchesID reports whether an API path's app id reaches this app.
func (a *App) MatchesID(id string) bool { return a.Config.ID == "" || a.Config.ID == id }

// Broker is a running set of app actors and the HTTP adapter actor. Its
// methods are safe for concurrent use: they only send messages.
type Broker struct {
	system  *actor.ActorSystem
	pool    *pool
	api     *actor.PID
	apps    map[string]*App // by key; immutable after Start
	order   []*App
	timeout time.Duration
	cluster *cluster.Cluster // nil on a single node
}

// ErrUnknownApp is returned for an app key no app has.
var ErrUnknownApp = errors.New("unknown app")

// RefusedError is an app's refusal of a new connection: the close code
// and message the socket is closed with, and the quota that refused it.
type RefusedError struct {
	Code    pusher.CloseCode
	Message string
	Reason  string // the config key of the quota, for logs
}

func (e *RefusedError) Error() string { return "connect: refused: " + e.Message }

// Start spawns one actor per app and the HTTP adapter actor in system,
// which may be an ActorSystem the embedding program already runs.
func Start(system *actor.ActorSystem, cfg Config) (*Broker, error) {
	if cfg.Timing.ActivityTimeout <= 0 {
		cfg.Timing.ActivityTimeout = 30 * time.Second
	}
	if cfg.Timing.PongTimeout <= 0 {
		cfg.Timing.PongTimeout = 30 * time.Second
	}
	if cfg.Fanout == nil {
		cfg.Fanout = plainFanout{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	b := &Broker{system: system, pool: newPool(), apps: make(map[string]*App), timeout: cfg.RequestTimeout}
	var node *clusterNode
	if cfg.Cluster != nil {
		grace := cfg.Cluster.Grace
		if grace <= 0 {
			grace = 5 * time.Second
		}
		node = &clusterNode{apps: make(map[string]*appInfo), grace: grace, log: cfg.Logger.With("component", "cluster")}
	}
	for _, ac := range cfg.Apps {
		ac = ac.withDefaults()
		if _, dup := b.apps[ac.Key]; dup {
			_ = b.Stop(context.Background())
			return nil, fmt.Errorf("app key %q is used twice", ac.Key)
		}
		id := ac.ID
		if id == "" {
			id = ac.Key
		}
		info := &appInfo{cfg: ac, id: id, fanout: cfg.Fanout, hooks: ac.Hooks, system: system,
			log: cfg.Logger.With("app", id), timing: cfg.Timing, dispatch: actor.WithDispatcher(b.pool), node: node}
		if node != nil {
			node.apps[ac.Key] = info
		}
		info.connect = newConnectionProps(info)
		pid, err := system.Root.SpawnNamed(newAppProps(info), "herald-app-"+ac.Key)
		if err != nil {
			_ = b.Stop(context.Background())
			return nil, fmt.Errorf("spawn app %q: %w", id, err)
		}
		app := &App{Config: ac, pid: pid}
		b.apps[ac.Key] = app
		b.order = append(b.order, app)
	}
	routes := make(map[string]*actor.PID, len(b.apps))
	for k, a := range b.apps {
		routes[k] = a.pid
	}
	api, err := system.Root.SpawnNamed(newAPIProps(routes, cfg.Logger, actor.WithDispatcher(b.pool)), "herald-api")
	if err != nil {
		_ = b.Stop(context.Background())
		return nil, fmt.Errorf("spawn api adapter: %w", err)
	}
	b.api = api
	if node != nil {
		c, err := startCluster(system, cfg.Cluster, node, routes, actor.WithDispatcher(b.pool))
		if err != nil {
			_ = b.Stop(context.Background())
			return nil, err
		}
		b.cluster = c
	}
	return b, nil
}

// App returns the app whose key is key.
func (b *Broker) App(key string) (*App, bool) {
	a, ok := b.apps[key]
	return a, ok
}

// Apps returns every app in configuration order.
func (b *Broker) Apps() []*App { return b.order }

// Connect spawns the connection actor of a new socket of app. The actor
// sends pusher:connection_established through out when it starts. An app
// over its connection quota answers with a *RefusedError.
func (b *Broker) Connect(app *App, socketID string, out Outbound) (*actor.PID, error) {
	reply := make(chan *Connected, 1)
	b.system.Root.Send(app.pid, &Connect{SocketID: socketID, Out: out, Reply: reply})
	t := time.NewTimer(b.timeout)
	defer t.Stop()
	select {
	case c := <-reply:
		if c.Refused != nil {
			return nil, c.Refused
		}
		if c.Conn == nil {
			return nil, errors.New("connect: the app could not start the connection")
		}
		return c.Conn, nil
	case <-t.C:
		return nil, errors.New("connect: the app did not answer in time")
	}
}

// Tell sends msg to a connection actor (ClientFrame, BadFrame, Activity,
// SocketClosed).
func (b *Broker) Tell(conn *actor.PID, msg any) { b.system.Root.Send(conn, msg) }

// Request sends an API query (TriggerRequest, ChannelsRequest, …) through
// the HTTP adapter actor and waits for the answer.
func (b *Broker) Request(msg any) (any, error) {
	return b.system.Root.RequestFuture(b.api, msg, b.timeout).Result()
}

// Post sends an API command (a TriggerRequest that wants no info back)
// through the HTTP adapter actor without waiting: the mailbox keeps it, in
// order with every earlier Post and Request.
func (b *Broker) Post(msg any) { b.system.Root.Send(b.api, msg) }

// Stop stops the adapter and the apps (and so every connection and channel
// actor) and waits for them, or for ctx.
func (b *Broker) Stop(ctx context.Context) error {
	if b.api != nil {
		_ = b.system.Root.StopFuture(b.api).Wait()
	}
	err := b.stopApps(ctx)
	if b.cluster != nil {
		b.cluster.Shutdown(true) // a graceful leave: the others see it at once
	}
	b.pool.stop()
	return err
}

func (b *Broker) stopApps(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // owned by stopApps, which waits for it or for ctx
		defer close(done)
		for _, a := range b.apps {
			_ = b.system.Root.PoisonFuture(a.pid).Wait()
		}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
