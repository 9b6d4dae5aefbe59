package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/herald-push/herald/pusher"
)

// AppConfig is one app as the actors see it. It restates no default: the
// caller (herald.New, from config) gives every value, and Start refuses
// the limits documented as required when they are zero.
type AppConfig struct {
	// ID is the app id; empty means any id in API paths reaches this app.
	ID     string
	Key    string
	Secret string
	// ClientEvents lets clients send client- events.
	ClientEvents bool
	// ClientEventRate is client events a second per connection; required.
	ClientEventRate int
	// MaxPresenceMembers caps users per presence channel; required.
	MaxPresenceMembers int
	// MaxChannelsPerConnection caps subscriptions per socket; required.
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
	// CacheTTL is how long a cache channel keeps its last event; required.
	CacheTTL time.Duration
	// Hooks is the app's webhook actor, told of every ChannelOccupied and
	// the other facts; nil means no webhooks.
	Hooks *actor.PID
}

// check reports what makes c unusable.
func (c AppConfig) check() error {
	switch {
	case c.Key == "":
		return errors.New("an app has no key")
	case c.ClientEventRate <= 0, c.MaxPresenceMembers <= 0, c.MaxChannelsPerConnection <= 0, c.CacheTTL <= 0:
		return fmt.Errorf("app %q: ClientEventRate, MaxPresenceMembers, MaxChannelsPerConnection and CacheTTL must be > 0", c.Key)
	}
	return nil
}

// Timing is the heartbeat of every connection. Both are required.
type Timing struct {
	// ActivityTimeout is announced to clients and is how long a silent
	// client waits before the server pings it.
	ActivityTimeout time.Duration
	// PongTimeout is how long a pinged client has to answer.
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
	// RequestTimeout bounds Request and Connect; required.
	RequestTimeout time.Duration
	// Cluster, when set, makes the Broker a member of a cluster; nil is a
	// single node (no remote, no grains).
	Cluster *ClusterConfig
	// Observer is told of subscriptions, publishes and client events
	// (metrics, debug logs, the dashboard); nil: nobody.
	Observer Observer
}

// App is a started app, as the transport looks it up. Its settings can
// change (Broker.Reload); its key cannot.
type App struct {
	info *appInfo
	pid  *actor.PID
}

// Key is the app's key.
func (a *App) Key() string { return a.info.key }

// Config returns the app's current settings.
func (a *App) Config() AppConfig { return *a.info.config() }

// MatchesID reports whether an API path's app id reaches this app.
func (a *App) MatchesID(id string) bool {
	own := a.info.config().ID
	return own == "" || own == id
}

// appSet is the apps of a Broker: replaced whole by Reload, never changed.
type appSet struct {
	byKey map[string]*App
	order []*App
}

// Broker is a running set of app actors and the HTTP adapter actor. Its
// methods are safe for concurrent use: they only send messages and read
// the current app set.
type Broker struct {
	system  *actor.ActorSystem
	pool    *pool
	api     *actor.PID
	apps    atomic.Pointer[appSet] // swapped whole by Reload
	shared  appShared              // what every app of this Broker is given
	timeout time.Duration
	cluster *cluster.Cluster // nil on a single node
	nodePID *actor.PID       // the node actor, nil on a single node
	reload  sync.Mutex       // one Reload at a time
}

// appShared is what Start gives every app, those Reload adds included.
type appShared struct {
	fanout Fanout
	log    *slog.Logger
	timing Timing
	node   *clusterNode
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
// which may be an ActorSystem the embedding program already runs; in a
// cluster it then joins and returns once this node is a member.
func Start(system *actor.ActorSystem, cfg Config) (*Broker, error) {
	if cfg.Timing.ActivityTimeout <= 0 || cfg.Timing.PongTimeout <= 0 || cfg.RequestTimeout <= 0 {
		return nil, errors.New("actors: Timing and RequestTimeout must be > 0")
	}
	if cfg.Cluster != nil && cfg.Cluster.Grace <= 0 {
		return nil, errors.New("actors: Cluster.Grace must be > 0")
	}
	if cfg.Fanout == nil {
		cfg.Fanout = plainFanout{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkApps(cfg.Apps); err != nil {
		return nil, err
	}
	b := &Broker{system: system, pool: newPool(), timeout: cfg.RequestTimeout,
		shared: appShared{fanout: cfg.Fanout, log: cfg.Logger, timing: cfg.Timing}}
	if cfg.Cluster != nil {
		b.shared.node = &clusterNode{grace: cfg.Cluster.Grace, log: cfg.Logger.With("component", "cluster")}
	}
	set := &appSet{byKey: make(map[string]*App)}
	b.apps.Store(set)
	for _, ac := range cfg.Apps {
		app, err := b.spawnApp(ac)
		if err != nil {
			_ = b.Stop(context.Background())
			return nil, err
		}
		set.byKey[ac.Key] = app
		set.order = append(set.order, app)
	}
	if node := b.shared.node; node != nil {
		node.setApps(set)
	}
	api, err := system.Root.SpawnNamed(newAPIProps(set.routes(), cfg.Logger, actor.WithDispatcher(b.pool)), "herald-api")
	if err != nil {
		_ = b.Stop(context.Background())
		return nil, fmt.Errorf("spawn api adapter: %w", err)
	}
	b.api = api
	if node := b.shared.node; node != nil {
		c, pid, err := startCluster(system, cfg.Cluster, node, set.routes(), actor.WithDispatcher(b.pool))
		if err != nil {
			_ = b.Stop(context.Background())
			return nil, err
		}
		b.cluster, b.nodePID = c, pid
	}
	return b, nil
}

// checkApps checks every app and that no key is used twice.
func checkApps(apps []AppConfig) error {
	seen := make(map[string]bool, len(apps))
	for _, ac := range apps {
		if err := ac.check(); err != nil {
			return err
		}
		if seen[ac.Key] {
			return fmt.Errorf("app key %q is used twice", ac.Key)
		}
		seen[ac.Key] = true
	}
	return nil
}

// spawnApp starts the actor of one app.
func (b *Broker) spawnApp(ac AppConfig) (*App, error) {
	info := newAppInfo(ac, b.system, b.shared, actor.WithDispatcher(b.pool))
	pid, err := b.system.Root.SpawnNamed(newAppProps(info), "herald-app-"+ac.Key)
	if err != nil {
		return nil, fmt.Errorf("spawn app %q: %w", info.id, err)
	}
	return &App{info: info, pid: pid}, nil
}

// routes maps every app key of the set to its actor.
func (s *appSet) routes() map[string]*actor.PID {
	routes := make(map[string]*actor.PID, len(s.byKey))
	for k, a := range s.byKey {
		routes[k] = a.pid
	}
	return routes
}

// App returns the app whose key is key.
func (b *Broker) App(key string) (*App, bool) {
	a, ok := b.apps.Load().byKey[key]
	return a, ok
}

// ClusterAddress is this member's inter-node address ("" on a single node).
func (b *Broker) ClusterAddress() string {
	if b.cluster == nil {
		return ""
	}
	return b.cluster.ActorSystem.Address()
}

// Apps returns every app in configuration order.
func (b *Broker) Apps() []*App { return b.apps.Load().order }

// Connect spawns the connection actor of a new socket of app. The actor
// sends pusher:connection_established through out when it starts. An app
// over its connection quota, or one removed by a reload meanwhile,
// answers with a *RefusedError.
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
	err := b.stopApps(ctx, b.Apps())
	if b.cluster != nil {
		b.cluster.Shutdown(true) // a graceful leave: the others see it at once
	}
	b.pool.stop()
	return err
}

func (b *Broker) stopApps(ctx context.Context, apps []*App) error {
	done := make(chan struct{})
	go func() { // owned by stopApps, which waits for it or for ctx
		defer close(done)
		for _, a := range apps {
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
