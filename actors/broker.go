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
	// History is the app's channel history (history.go); Size 0 is off.
	History HistoryConfig
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
	case c.History.Size > 0 && (c.History.TTL <= 0 || c.History.MaxReplayFrames <= 0 || c.History.MaxReplayBytes <= 0):
		return fmt.Errorf("app %q: History needs TTL, MaxReplayFrames and MaxReplayBytes > 0", c.Key)
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
	// RequestTimeout bounds the queries (Trigger, Channels, …) and
	// Connect; required.
	RequestTimeout time.Duration
	// Cluster, when set, makes the Broker a member of a cluster; nil is a
	// single node (no remote, no grains).
	Cluster *ClusterConfig
	// Observer is told of subscriptions, publishes, client events and the
	// errors sent to clients (metrics, debug logs, the dashboard), from the
	// actors' turns; nil: nobody, at the cost of a nil check.
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

// Name is how logs, observations and metrics name the app: its id when it
// started, or its key when it had none. A reload keeps it.
func (a *App) Name() string { return a.info.id }

// Gauges are the app's live subscription and channel counts on this node;
// a reload keeps them.
func (a *App) Gauges() *Gauges { return a.info.gauges }

func (c AppConfig) name() string {
	if c.ID != "" {
		return c.ID
	}
	return c.Key
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
	stop    sync.Once        // Stop's work, done once
	stopErr error
}

// appShared is what Start gives every app, those Reload adds included.
type appShared struct {
	fanout   Fanout
	log      *slog.Logger
	timing   Timing
	node     *clusterNode
	observer Observer // nil: nobody
}

// ErrUnknownApp is returned for an app key no app has.
var ErrUnknownApp = errors.New("unknown app")

// RefusedError is an app's refusal of a new connection: the close code
// and message the socket is closed with, and the quota that refused it.
type RefusedError struct {
	Code    pusher.CloseCode
	Message string
	Reason  string // the config key of the quota (QuotaAppConnections), for logs and observations
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
		shared: appShared{fanout: cfg.Fanout, log: cfg.Logger, timing: cfg.Timing, observer: cfg.Observer}}
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
	api, err := system.Root.SpawnNamed(newAPIProps(set.routes(), cfg.Logger, actor.WithDispatcher(b.pool)), UniqueName(system, "herald-api"))
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
	pid, err := b.system.Root.SpawnNamed(newAppProps(info), UniqueName(b.system, "herald-app-"+ac.Key))
	if err != nil {
		return nil, fmt.Errorf("spawn app %q: %w", info.id, err)
	}
	return &App{info: info, pid: pid}, nil
}

// UniqueName is prefix followed by an id unique in system ("herald-api$3"):
// the name of every actor a Broker or Herald spawns at the root, so that
// several of them share an ActorSystem without colliding. Only the node
// actor of a cluster member has a well-known name (NodeActorName): one
// Broker per ActorSystem may join a cluster.
func UniqueName(system *actor.ActorSystem, prefix string) string {
	return prefix + system.ProcessRegistry.NextId()
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

// ClusterMembers is the number of cluster members this one sees, itself
// included (0 on a single node).
func (b *Broker) ClusterMembers() int {
	if b.cluster == nil {
		return 0
	}
	return b.cluster.MemberList.Members().Len()
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

// The transport's entry points: one method per operation, each with its
// typed message (and answer).

// ClientFrame hands a client's text frame to its connection actor.
func (b *Broker) ClientFrame(conn *actor.PID, m *ClientFrame) { b.system.Root.Send(conn, m) }

// BadFrame tells a connection actor of a frame the transport will not
// hand over.
func (b *Broker) BadFrame(conn *actor.PID, m *BadFrame) { b.system.Root.Send(conn, m) }

// Activity tells a connection actor of client traffic that is not a frame.
func (b *Broker) Activity(conn *actor.PID, m *Activity) { b.system.Root.Send(conn, m) }

// SocketClosed tells a connection actor its socket is gone.
func (b *Broker) SocketClosed(conn *actor.PID, m *SocketClosed) { b.system.Root.Send(conn, m) }

// Trigger publishes events through the HTTP adapter actor and waits for
// the app's answer (the channels' info, when asked for).
func (b *Broker) Trigger(req *TriggerRequest) (*TriggerResponse, error) {
	return ask[*TriggerResponse](b, req)
}

// Post publishes events through the HTTP adapter actor. On a single node
// it does not wait: the mailbox keeps them, in order with every earlier
// Post and query. In a cluster it returns once every event's grain has
// it, so an event Post accepted is ordered before any later one, through
// whichever node that one comes (without it, a node still resolving a
// channel's grain, or a slower link to the grain, let a later event
// through another node overtake it).
func (b *Broker) Post(req *TriggerRequest) error {
	if b.cluster == nil {
		b.system.Root.Send(b.api, req)
		return nil
	}
	_, err := b.Trigger(req)
	return err
}

// Channels lists an app's occupied channels.
func (b *Broker) Channels(req *ChannelsRequest) (*ChannelsResponse, error) {
	return ask[*ChannelsResponse](b, req)
}

// Channel asks for one channel's state.
func (b *Broker) Channel(req *ChannelRequest) (*ChannelResponse, error) {
	return ask[*ChannelResponse](b, req)
}

// Users lists the users of a presence channel.
func (b *Broker) Users(req *UsersRequest) (*UsersResponse, error) {
	return ask[*UsersResponse](b, req)
}

// TerminateUser closes every connection signed in as a user.
func (b *Broker) TerminateUser(req *TerminateUserRequest) (*TerminateUserResponse, error) {
	return ask[*TerminateUserResponse](b, req)
}

// ErrNoAnswer is returned when the broker did not answer a query within
// RequestTimeout.
var ErrNoAnswer = errors.New("the broker did not answer in time")

// ask sends a query through the HTTP adapter actor and waits for its
// answer, R, or the error the app answered with (ErrUnknownApp).
func ask[R any](b *Broker, msg any) (R, error) {
	var zero R
	res, err := b.system.Root.RequestFuture(b.api, msg, b.timeout).Result()
	if err != nil {
		return zero, fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	switch r := res.(type) {
	case R:
		return r, nil
	case error:
		return zero, r
	}
	return zero, fmt.Errorf("query %T: unexpected answer %T", msg, res)
}

// Subscribe hands m to app's actor: an actor of the embedding program
// subscribes to a channel (see AddSubscriber). It does not wait: m.Reply,
// when set, gets the outcome.
func (b *Broker) Subscribe(app *App, m *AddSubscriber) { b.system.Root.Send(app.pid, m) }

// Unsubscribe hands m to app's actor (see RemoveSubscriber).
func (b *Broker) Unsubscribe(app *App, m *RemoveSubscriber) { b.system.Root.Send(app.pid, m) }

// WatchFacts hands m to app's actor: m.Watcher is told of the app's facts
// (see WatchFacts). It does not wait: m.Reply, when set, is called once
// the watcher is registered.
func (b *Broker) WatchFacts(app *App, m *WatchFacts) { b.system.Root.Send(app.pid, m) }

// UnwatchFacts hands m to app's actor (see UnwatchFacts).
func (b *Broker) UnwatchFacts(app *App, m *UnwatchFacts) { b.system.Root.Send(app.pid, m) }

// Stop stops the adapter and the apps (and so every connection and channel
// actor) and waits for them, or for ctx. Calls after the first return its
// result.
func (b *Broker) Stop(ctx context.Context) error {
	b.stop.Do(func() {
		if b.api != nil {
			_ = b.system.Root.StopFuture(b.api).Wait()
		}
		b.stopErr = b.stopApps(ctx, b.Apps())
		if b.cluster != nil {
			b.cluster.Shutdown(true) // a graceful leave: the others see it at once
		}
		b.pool.stop()
	})
	return b.stopErr
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
