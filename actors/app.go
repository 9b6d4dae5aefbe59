package actors

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors/clusterpb"
	"github.com/herald-push/herald/pusher"
)

// appInfo is what every actor of one app shares. Its settings are swapped
// whole by Broker.Reload (an atomic pointer, read with config), so a
// changed secret or limit applies to the next request of every actor of
// the app; every other field is immutable, so reading it from any actor
// is safe.
type appInfo struct {
	key      string
	cfg      atomic.Pointer[AppConfig]
	id       string // the app's id at start, or its key when it has none (App.Name: facts, logs, observations)
	fanout   Fanout
	system   *actor.ActorSystem
	log      *slog.Logger
	timing   Timing
	connect  *actor.Props      // the props of every connection actor of the app
	dispatch actor.PropsOption // runs every actor of the broker on its pool
	node     *clusterNode      // nil in single-node mode
	stopped  chan struct{}     // closed by the app actor when it has stopped
	gauges   *Gauges           // kept by the app's channel actors; a reload keeps them with the app
	observer Observer          // nil: nobody (see observe)
	// watchers are told of every fact (WatchFacts): written by the app
	// actor only, swapped whole, read by every actor that tells a fact.
	watchers atomic.Pointer[[]*actor.PID]
}

func newAppInfo(ac AppConfig, system *actor.ActorSystem, shared appShared, dispatch actor.PropsOption) *appInfo {
	id := ac.name()
	info := &appInfo{key: ac.Key, id: id, fanout: shared.fanout, system: system, log: shared.log.With("app", id),
		timing: shared.timing, dispatch: dispatch, node: shared.node, stopped: make(chan struct{}),
		gauges: &Gauges{}, observer: shared.observer}
	info.cfg.Store(&ac)
	info.connect = newConnectionProps(info)
	return info
}

// config returns the app's current settings. Callers read it once per
// decision rather than keep it, so a reload applies at the next one.
func (i *appInfo) config() *AppConfig { return i.cfg.Load() }

// fact tells the app's webhook actor, if it has one, and the watchers
// the embedding program registered (WatchFacts).
func (i *appInfo) fact(msg any) {
	if hooks := i.config().Hooks; hooks != nil {
		i.system.Root.Send(hooks, msg)
	}
	if w := i.watchers.Load(); w != nil {
		for _, pid := range *w {
			i.system.Root.Send(pid, msg)
		}
	}
}

// appActor is one app: the parent of its connection and channel actors. It
// keeps the directory of occupied channels (with their last reported
// counts, so channel queries need no round trip), routes Join, Leave and
// Publish to channel actors, spawns a channel on its first Join and stops
// it once it reports itself idle with no Join in flight.
type appActor struct {
	app      *appInfo
	channels map[string]*channelEntry
	byPID    map[string]string     // channel PID id → channel name, until it terminates
	names    nameSlots             // numbers in the names of running children
	users    *userIndex            // signed-in connections and watchlists
	cache    *cacheStore           // last event of each cache channel
	history  *historyStore         // single-node mode: the channels' history, made on first use
	conns    int                   // running connection actors
	grains   map[string]*actor.PID // cluster mode: channel grains resolved, until the topology changes
	// cluster mode: what waits for a channel's grain to be resolved (off
	// the actor: the owner may be a node that just died), in order.
	resolving map[string][]func(*actor.PID)
	topology  uint64           // topology changes seen: a grain resolved before the last one is not kept
	retired   bool             // removed by a reload: closing its connections, then stopping
	watch     *watchState      // cluster mode with the watchlist: what this node told the users' grains
	embedded  *embedded        // server-side subscribers and fact watchers, made on first use
	sends     []pendingPublish // onTrigger's Publishes to channel actors here, sent at its end
}

// pendingPublish is a Publish onTrigger sends once it knows how many
// channel actors the request reaches (a burst when two or more).
type pendingPublish struct {
	pid *actor.PID
	msg *Publish
}

type channelEntry struct {
	pid   *actor.PID
	joins uint64 // Joins sent to pid
	info  ChannelInfo
}

// channelFailed is a channel actor's word that a panic is stopping it. It
// reaches the app before the channel's subscribers hear of it
// (ChannelLost), so a Join they send at once goes to a new channel actor,
// not to the stopping one.
type channelFailed struct {
	channel string
	pid     *actor.PID
}

func newAppProps(app *appInfo) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &appActor{app: app, channels: make(map[string]*channelEntry), byPID: make(map[string]string),
			users: newUserIndex(), cache: newCacheStore()}
	}, actor.WithSupervisor(stopOnPanic), app.dispatch)
}

// stopOnPanic stops a connection or channel whose Receive panicked: its
// state cannot be trusted, and restarting it would silently forget its
// socket's subscriptions. Their Receive recovers first (contain), logs and
// stops the actor itself; this covers a panic that escapes that.
var stopOnPanic = actor.NewOneForOneStrategy(1, time.Second, func(reason any) actor.Directive {
	return actor.StopDirective
})

// Receive handles the app's messages. A panic is logged and the message
// dropped; the app goes on with the next one rather than restarting, which
// would stop every connection of the app.
func (a *appActor) Receive(ctx actor.Context) {
	defer a.contain(ctx)
	switch m := ctx.Message().(type) {
	case *Connect:
		a.onConnect(ctx, m)
	case *Join:
		a.onJoin(ctx, m)
	case *Leave:
		a.onLeave(ctx, m)
	case *PublishClientEvent:
		a.onClientEvent(ctx, m)
	case *ChannelStats:
		a.onStats(ctx, m)
	case *actor.Terminated:
		a.onTerminated(ctx, m)
	case *channelFailed:
		a.onChannelFailed(m)
	case *SignedIn:
		a.onSignedIn(ctx, m)
	case *SignedOut:
		a.onSignedOut(ctx, m)
	case *deliver:
		a.onDeliver(ctx, m)
	case *userDeliver:
		a.onUserDeliver(m)
	case *clusterpb.ChannelsQuery:
		a.onChannelsQuery(ctx, m)
	case *topologyChanged:
		a.onTopologyChanged(ctx)
	case *stateRequest:
		a.onStateRequest(ctx, m)
	case *appGrainResolved:
		a.onGrainResolved(m)
	case *TerminateUserRequest:
		a.onTerminateUser(ctx, m)
	case *TriggerRequest:
		a.onTrigger(ctx, m)
	case *ChannelsRequest:
		a.onChannels(ctx, m)
	case *ChannelRequest:
		a.onChannel(ctx, m)
	case *UsersRequest:
		a.onUsers(ctx, m)
	case *retire:
		a.onRetire(ctx)
	case *AddSubscriber:
		a.onAddSubscriber(ctx, m)
	case *RemoveSubscriber:
		a.onRemoveSubscriber(ctx, m)
	case *WatchFacts:
		a.onWatchFacts(ctx, m)
	case *UnwatchFacts:
		a.onUnwatchFacts(ctx, m.Watcher)
	case *actor.Stopped:
		close(a.app.stopped)
	case *actor.Started, *actor.Stopping, *actor.Restarting:
	default:
		a.app.log.Warn("app: unexpected message", "type", typeName(m))
	}
}

func (a *appActor) contain(ctx actor.Context) {
	if r := recover(); r != nil {
		logPanic(a.app.log, r, ctx.Message(), "actor", "app")
	}
}

func (a *appActor) onConnect(ctx actor.Context, m *Connect) {
	if a.retired {
		m.Reply <- &Connected{Refused: &RefusedError{Code: pusher.CloseAppNotFound,
			Message: "Application does not exist", Reason: "app removed"}}
		return
	}
	if max := a.app.config().MaxConnections; max > 0 && a.conns >= max {
		m.Reply <- &Connected{Refused: &RefusedError{Code: pusher.CloseOverQuota,
			Message: "Over quota: the app has reached its connection limit", Reason: QuotaAppConnections}}
		return
	}
	slot := a.names.take()
	pid, err := ctx.SpawnNamed(a.app.connect, childName("conn-", slot))
	if err != nil {
		a.names.give(slot)
		a.app.log.Error("app: cannot spawn connection", "socket_id", m.SocketID, "err", err)
		m.Reply <- &Connected{}
		return
	}
	a.conns++
	// Sent before the reply, so it is the connection's first message.
	ctx.Send(pid, &connectionInit{socketID: m.SocketID, out: m.Out})
	m.Reply <- &Connected{Conn: pid}
}

func (a *appActor) onJoin(ctx actor.Context, m *Join) {
	e := a.channels[m.Channel]
	if e == nil {
		slot := a.names.take()
		props := newChannelProps(a.app, m.Channel)
		if a.app.node != nil {
			props = newClusterChannelProps(a.app, m.Channel)
		}
		pid, err := ctx.SpawnNamed(props, childName("ch-", slot))
		if err != nil {
			a.names.give(slot)
			a.app.log.Error("app: cannot spawn channel", "channel", m.Channel, "err", err)
			ctx.Send(m.Conn, &JoinRefused{Channel: m.Channel, Message: "internal error", SocketID: m.SocketID})
			return
		}
		e = &channelEntry{pid: pid}
		a.channels[m.Channel] = e
		a.byPID[pid.Id] = m.Channel
	}
	e.joins++
	if pusher.IsCache(m.Channel) {
		if c := a.cache.get(m.Channel, time.Now()); c != nil {
			m.Cached = c.frame
		}
	}
	if h := &a.app.config().History; a.app.node == nil && h.on(m.Channel) {
		// In this turn, after every event already sent to the channel and
		// before any later one: the replay ends where the live stream
		// continues.
		now := time.Now()
		m.History = a.ring(m.Channel, now, h).join(m.Recover, now, h)
	}
	ctx.Send(e.pid, m)
}

// ring returns the history of channel (single-node mode).
func (a *appActor) ring(channel string, now time.Time, h *HistoryConfig) *historyRing {
	if a.history == nil {
		a.history = newHistoryStore()
	}
	return a.history.ring(channel, now, h, a.occupied)
}

// occupied reports whether channel has a channel actor.
func (a *appActor) occupied(channel string) bool { return a.channels[channel] != nil }

// onClientEvent numbers a client event that a channel with history handed
// on (single-node mode) and publishes it back to the channel, which never
// echoes it to its sender.
func (a *appActor) onClientEvent(ctx actor.Context, m *PublishClientEvent) {
	e := a.channels[m.Channel]
	if e == nil {
		return
	}
	frame := m.Frame
	if h := &a.app.config().History; h.on(m.Channel) {
		frame, _ = a.ring(m.Channel, time.Now(), h).add(frame, time.Now())
	}
	ctx.Send(e.pid, &Publish{Channel: m.Channel, Frame: frame, Except: m.SocketID})
}

func (a *appActor) onLeave(ctx actor.Context, m *Leave) {
	if e := a.channels[m.Channel]; e != nil {
		ctx.Send(e.pid, m)
	}
}

func (a *appActor) onStats(ctx actor.Context, m *ChannelStats) {
	e := a.channels[m.Channel]
	if e == nil || e.pid.Id != m.PID.Id {
		return // a report from a channel actor already replaced
	}
	e.info = ChannelInfo{Occupied: m.Subscriptions > 0, Subscriptions: m.Subscriptions, Users: m.Users}
	if m.Subscriptions == 0 && m.Joins == e.joins {
		// Idle, and every Join sent to it has been handled: nothing can
		// reach it any more, so stopping drops nothing.
		delete(a.channels, m.Channel) // byPID keeps it until it terminates
		a.vacated(m.Channel)
		ctx.Stop(e.pid)
	}
}

// vacated starts the ttl of the history of a channel that lost its actor.
func (a *appActor) vacated(channel string) {
	if a.history != nil {
		a.history.vacated(channel, time.Now())
	}
}

// onTerminated hears of a child that stopped: a channel (forgotten here if
// it stopped by itself, so the next Join spawns a new one), a connection
// (uncounted; its signin was dropped by SignedOut, which the connection
// sent after its SignedIn — Terminated, a system message, may overtake
// both), a gatherer, or what embedding uses (a subscriber's stand-in, a
// fact debouncer, a fact watcher: embedded.go). A child's name number is
// free again: the registry has let go of the name by now. A retired app
// stops once its last connection has.
func (a *appActor) onTerminated(ctx actor.Context, m *actor.Terminated) {
	id := m.Who.Id
	if a.embedded != nil && a.embeddedTerminated(ctx, m.Who) {
		return
	}
	if name, ok := a.byPID[id]; ok {
		delete(a.byPID, id)
		if e := a.channels[name]; e != nil && e.pid.Id == id {
			delete(a.channels, name)
			a.vacated(name)
		}
		a.names.give(slotOf(id))
		return
	}
	if strings.Contains(id, "/conn-") {
		a.conns--
		a.names.give(slotOf(id))
		a.stopIfRetired(ctx)
	}
}

// onChannelFailed forgets a channel whose actor is stopping after a panic
// (byPID keeps it until it terminates), so the next Join spawns a new one.
func (a *appActor) onChannelFailed(m *channelFailed) {
	if e := a.channels[m.channel]; e != nil && e.pid.Id == m.pid.Id {
		delete(a.channels, m.channel)
		a.vacated(m.channel)
	}
}

// onRetire closes every connection of an app a reload removed with 4001
// (the app no longer exists: clients do not reconnect) and stops the app
// once they have stopped. Connect is refused from now on.
func (a *appActor) onRetire(ctx actor.Context) {
	a.retired = true
	for _, pid := range ctx.Children() {
		if strings.Contains(pid.Id, "/conn-") {
			ctx.Send(pid, &closeConnection{code: pusher.CloseAppNotFound, message: "Application does not exist"})
		}
	}
	a.stopIfRetired(ctx)
}

func (a *appActor) stopIfRetired(ctx actor.Context) {
	if a.retired && a.conns == 0 {
		ctx.Stop(ctx.Self())
	}
}

// onSignedOut forgets a stopped connection's signin, and tells its user's
// watchers if it was the user's last connection.
func (a *appActor) onSignedOut(ctx actor.Context, m *SignedOut) {
	c, offline := a.users.remove(m.Conn.Id)
	if c == nil || !a.app.config().Watchlist {
		return
	}
	if a.app.node != nil {
		a.watchChanged(ctx, c.userID, c.watchlist)
		return
	}
	if offline {
		a.notifyWatchers(c.userID, "offline")
	}
}

func (a *appActor) onSignedIn(ctx actor.Context, m *SignedIn) {
	if m.Success != nil {
		m.Out.Send(m.Success)
	}
	c := &userConn{pid: m.Conn, out: m.Out, socketID: m.SocketID, userID: m.UserID}
	if a.app.config().Watchlist {
		c.watchlist = m.Watchlist
	}
	cameOnline, online := a.users.add(c)
	if !a.app.config().Watchlist {
		return
	}
	if a.app.node != nil {
		a.watchSignedIn(ctx, c)
		return
	}
	if len(online) > 0 {
		m.Out.Send(watchlistFrame("online", online))
	}
	if cameOnline {
		a.notifyWatchers(m.UserID, "online")
	}
}

// notifyWatchers sends one watchlist event about userID to every
// connection watching it.
func (a *appActor) notifyWatchers(userID, name string) {
	ws := a.users.watchersOf(userID)
	if len(ws) == 0 {
		return
	}
	frame := watchlistFrame(name, []string{userID})
	for _, c := range ws {
		c.out.Send(frame)
	}
}

func watchlistFrame(name string, ids []string) []byte {
	data := []byte(`{"events":[{"name":`)
	data = pusher.AppendString(data, name)
	data = append(data, `,"user_ids":[`...)
	for i, id := range ids {
		if i > 0 {
			data = append(data, ',')
		}
		data = pusher.AppendString(data, id)
	}
	data = append(data, "]}]}"...)
	return pusher.AppendEvent(nil, pusher.EventWatchlist, "", string(data), "")
}

func (a *appActor) onTerminateUser(ctx actor.Context, m *TerminateUserRequest) {
	if a.app.node != nil {
		a.toEveryNode(ctx, &clusterpb.UserDeliver{App: a.app.key, UserId: m.UserID, Terminate: true})
		ctx.Respond(&TerminateUserResponse{Closed: len(a.users.conns(m.UserID))})
		return
	}
	ctx.Respond(&TerminateUserResponse{Closed: a.terminateUser(m.UserID)})
}

// terminateUser closes every connection signed in as userID here with
// 4009 and returns how many.
func (a *appActor) terminateUser(userID string) int {
	conns := a.users.conns(userID)
	for _, c := range conns {
		c.out.Send(pusher.AppendError(nil, int(pusher.CloseUnauthorized), "Connection terminated by the app"))
		c.out.Close(pusher.CloseUnauthorized, "Connection terminated by the app")
		a.app.observe(Observation{Kind: ObservedError, SocketID: c.socketID, Code: int(pusher.CloseUnauthorized), Detail: "Connection terminated by the app"})
	}
	return len(conns)
}

// sendToUser writes a #server-to-user-{id} event to every connection
// signed in as userID here, but the socket except, and returns to how many.
func (a *appActor) sendToUser(userID string, frame []byte, except string) int {
	conns := a.users.conns(userID)
	if len(conns) == 0 {
		return 0
	}
	sh := a.app.fanout.Share(frame)
	n := 0
	for _, c := range conns {
		if except == "" || c.socketID != except {
			c.out.SendShared(sh)
			n++
		}
	}
	sh.Release()
	return n
}

func (a *appActor) onTrigger(ctx actor.Context, m *TriggerRequest) {
	res := &TriggerResponse{}
	// In a cluster an asker is answered once every event's grain has it
	// (see Broker.Post): sent counts them down from a hold of 1, which the
	// end of this turn releases.
	sender, pending := ctx.Sender(), 1
	var sent func()
	if a.app.node != nil && sender != nil {
		sent = func() {
			if pending--; pending == 0 {
				ctx.Send(sender, res)
			}
		}
	}
	now := time.Now()
	hist := &a.app.config().History
	a.sends = a.sends[:0] // what a turn that panicked left
	for _, ev := range m.Events {
		for _, ch := range ev.Channels {
			e := a.channels[ch]
			kind := pusher.Kind(ch)
			cache := pusher.IsCache(ch)
			kept := a.app.node == nil && hist.on(ch) // single node: this actor keeps its history
			if e == nil && kind != pusher.ServerToUser && !cache && a.app.node == nil && !kept {
				a.published(ch, ev.Name, 0)
				continue // nobody here, and no other node to ask
			}
			room := len(ev.Data) + len(ev.Name) + len(ch) + 48
			if kept {
				room += 32 // the offset, appended in place
			}
			frame := pusher.AppendEvent(make([]byte, 0, room), ev.Name, ch, ev.Data, "")
			switch {
			case kind == pusher.ServerToUser && a.app.node != nil:
				a.toEveryNode(ctx, &clusterpb.UserDeliver{App: a.app.key,
					UserId: ch[len(pusher.ServerToUserPrefix):], Frame: frame, Except: ev.SocketID})
				a.published(ch, ev.Name, -1)
				continue
			case kind == pusher.ServerToUser:
				a.published(ch, ev.Name, a.sendToUser(ch[len(pusher.ServerToUserPrefix):], frame, ev.SocketID))
				continue
			case cache && a.app.node == nil: // in a cluster the grain keeps it
				cached := frame
				if kept {
					cached = append([]byte(nil), frame...) // the offset below is for the stream, not the cache
				}
				a.cache.put(ch, ev.Name, ev.Data, cached, now, a.app.config().CacheTTL)
			}
			if kept {
				frame, _ = a.ring(ch, now, hist).add(frame, now)
			}
			switch {
			case a.app.node != nil:
				p := &clusterpb.Publish{Frame: frame, Except: ev.SocketID}
				if cache {
					p.Event, p.Data, p.CacheTtlMs = ev.Name, ev.Data, a.app.config().CacheTTL.Milliseconds()
				}
				if sent != nil {
					pending++
				}
				a.publishToGrain(ctx, ch, p, sent)
				a.published(ch, ev.Name, -1) // the grain fans out, over every node
			case e != nil: // the channel reports it, with its exact fan-out
				a.sends = append(a.sends, pendingPublish{e.pid, &Publish{Channel: ch, Frame: frame, Except: ev.SocketID, Event: ev.Name}})
			default: // no channel actor here: a cache channel or one with history, without subscribers
				a.published(ch, ev.Name, 0)
			}
		}
		var infos map[string]ChannelInfo
		if len(ev.Info) > 0 {
			infos = make(map[string]ChannelInfo, len(ev.Channels))
			for _, ch := range ev.Channels {
				infos[ch] = a.info(ch)
			}
		}
		res.Channels = append(res.Channels, infos)
	}
	a.sendPublishes(ctx)
	switch {
	case sent != nil:
		sent() // the hold: answers now, or once the last grain has its event
	case sender != nil: // Broker.Post on a single node sends without waiting for an answer
		ctx.Respond(res)
	}
}

// sendPublishes sends the Publishes onTrigger collected, as one burst
// when they go to two channel actors or more (see Burst): a socket on
// several of the channels then gets the request's frames in one write.
func (a *appActor) sendPublishes(ctx actor.Context) {
	if len(a.sends) > 1 {
		if bf, ok := a.app.fanout.(BurstFanout); ok {
			b := bf.Burst(len(a.sends))
			for _, p := range a.sends {
				p.msg.Burst = b
			}
		}
	}
	for i, p := range a.sends {
		ctx.Send(p.pid, p.msg)
		a.sends[i] = pendingPublish{}
	}
	a.sends = a.sends[:0]
}

// published observes an API event on channel ch written to n sockets
// (-1: not known here).
func (a *appActor) published(ch, event string, n int) {
	a.app.observe(Observation{Kind: ObservedPublish, Channel: ch, Event: event, Count: n})
}

func (a *appActor) info(ch string) ChannelInfo {
	if e := a.channels[ch]; e != nil {
		return e.info
	}
	return ChannelInfo{}
}

func (a *appActor) onChannels(ctx actor.Context, m *ChannelsRequest) {
	if a.app.node != nil && ctx.Sender() != nil {
		ctx.Spawn(newGathererProps(a.app, ctx.Sender(), m.Prefix)) // answers the caller, then stops
		return
	}
	out := make(map[string]ChannelInfo)
	for name, e := range a.channels {
		if e.info.Occupied && strings.HasPrefix(name, m.Prefix) {
			out[name] = e.info
		}
	}
	ctx.Respond(&ChannelsResponse{Channels: out})
}

func (a *appActor) onChannel(ctx actor.Context, m *ChannelRequest) {
	if a.app.node != nil {
		asker := ctx.Sender() // the answer may come in a later turn
		a.askGrain(ctx, m.Channel, func(info *clusterpb.Info) {
			res := &ChannelResponse{Info: ChannelInfo{Occupied: info.Subscriptions > 0,
				Subscriptions: int(info.Subscriptions), Users: int(info.Users)}}
			if info.CacheEvent != "" {
				res.Cache = &CachedEvent{Event: info.CacheEvent, Data: info.CacheData, TTL: time.Duration(info.CacheTtlMs) * time.Millisecond}
			}
			if info.History {
				res.History = &HistoryInfo{Epoch: info.HistoryEpoch, Offset: info.HistoryOffset, Events: int(info.HistoryEvents)}
			}
			ctx.Send(asker, res)
		})
		return
	}
	res := &ChannelResponse{Info: a.info(m.Channel)}
	if h := &a.app.config().History; h.on(m.Channel) {
		res.History = &HistoryInfo{}
		if a.history != nil {
			if r := a.history.peek(m.Channel, time.Now(), h, a.occupied); r != nil {
				res.History = &HistoryInfo{Epoch: r.epoch, Offset: r.last, Events: r.n}
			}
		}
	}
	if pusher.IsCache(m.Channel) {
		now := time.Now()
		if c := a.cache.get(m.Channel, now); c != nil {
			res.Cache = &CachedEvent{Event: c.event, Data: c.data, TTL: c.expires.Sub(now)}
		}
	}
	ctx.Respond(res)
}

func (a *appActor) onUsers(ctx actor.Context, m *UsersRequest) {
	if a.app.node != nil {
		asker := ctx.Sender() // the answer may come in a later turn
		a.askGrain(ctx, m.Channel, func(info *clusterpb.Info) { ctx.Send(asker, &UsersResponse{IDs: info.UserIds}) })
		return
	}
	if e := a.channels[m.Channel]; e != nil && e.info.Occupied {
		ctx.Forward(e.pid)
		return
	}
	ctx.Respond(&UsersResponse{})
}

func typeName(m any) string { return fmt.Sprintf("%T", m) }

// ---- Cluster mode ----

// grain returns the grain of channel, resolving it (a round trip to its
// owner) the first time after a topology change.
func (a *appActor) grain(channel string) *actor.PID {
	if pid := a.grains[channel]; pid != nil {
		return pid
	}
	pid := a.app.node.grainPID(a.app.key, channel)
	if pid != nil {
		if a.grains == nil {
			a.grains = make(map[string]*actor.PID)
		}
		a.grains[channel] = pid
	}
	return pid
}

// appGrainResolved is a channel's grain, resolved off the app actor (nil:
// no owner answered).
type appGrainResolved struct {
	channel  string
	pid      *actor.PID
	topology uint64 // a.topology when it was asked
}

// withGrain runs then, on this actor, with channel's grain: at once when
// it is known and nothing waits for it, else in order once it is resolved
// (nil when no owner answered). At most maxHeld wait per channel; beyond,
// then gets nil at once.
func (a *appActor) withGrain(ctx actor.Context, channel string, then func(*actor.PID)) {
	waiting, resolving := a.resolving[channel]
	switch pid := a.grains[channel]; {
	case pid != nil && !resolving:
		then(pid)
		return
	case resolving && len(waiting) >= maxHeld:
		a.app.log.Warn("app: too much waits for a channel's grain", "channel", channel)
		then(nil)
		return
	case resolving:
		a.resolving[channel] = append(waiting, then)
		return
	}
	if a.resolving == nil {
		a.resolving = make(map[string][]func(*actor.PID))
	}
	a.resolving[channel] = []func(*actor.PID){then}
	node, key, topology := a.app.node, a.app.key, a.topology
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() { // ends with cluster.Get's timeout at the latest
		root.Send(self, &appGrainResolved{channel: channel, pid: node.grainPID(key, channel), topology: topology})
	}()
}

// onGrainResolved keeps the grain resolved, unless one was named since
// (a grain's StateRequest), and runs what waited for it, in order.
func (a *appActor) onGrainResolved(m *appGrainResolved) {
	waiting := a.resolving[m.channel]
	delete(a.resolving, m.channel)
	pid := a.grains[m.channel]
	if pid == nil {
		pid = m.pid
		if pid != nil && m.topology == a.topology {
			if a.grains == nil {
				a.grains = make(map[string]*actor.PID)
			}
			a.grains[m.channel] = pid
		}
	}
	for _, then := range waiting {
		then(pid)
	}
}

// publishToGrain sends an event to its channel's grain, which delivers it
// to every node with subscribers, this one included. With sent, it sends
// it as a request and calls sent once the grain has it (PublishAck), or
// once it is given up (the grain unreachable or silent for grainTimeout).
func (a *appActor) publishToGrain(ctx actor.Context, channel string, p *clusterpb.Publish, sent func()) {
	a.withGrain(ctx, channel, func(pid *actor.PID) {
		switch {
		case pid == nil:
			a.app.log.Warn("app: event dropped: its channel's grain is not reachable", "channel", channel)
			if sent != nil {
				sent()
			}
		case sent == nil:
			ctx.Send(pid, p)
		default:
			ctx.ReenterAfter(ctx.RequestFuture(pid, p, grainTimeout), func(_ any, err error) {
				if err != nil {
					delete(a.grains, channel) // resolved again by the next event
				}
				sent()
			})
		}
	})
}

// askGrain asks channel's grain for its cluster-wide state and answers
// with then, on this actor, when it comes (an unreachable grain answers
// as an empty channel). then may run in a later turn: it answers the
// asker it captured, not ctx.Sender().
func (a *appActor) askGrain(ctx actor.Context, channel string, then func(*clusterpb.Info)) {
	a.withGrain(ctx, channel, func(pid *actor.PID) {
		if pid == nil {
			then(&clusterpb.Info{})
			return
		}
		f := ctx.RequestFuture(pid, &clusterpb.InfoRequest{}, grainTimeout)
		ctx.ReenterAfter(f, func(res any, err error) {
			info, ok := res.(*clusterpb.Info)
			if err != nil || !ok {
				delete(a.grains, channel)
				info = &clusterpb.Info{}
			}
			then(info)
		})
	})
}

// onDeliver hands a grain's event to the local channel, if any.
func (a *appActor) onDeliver(ctx actor.Context, m *deliver) {
	if strings.HasPrefix(m.Channel, watchPrefix) {
		a.onWatchEvent(m)
		return
	}
	if e := a.channels[m.Channel]; e != nil {
		ctx.Send(e.pid, &Publish{Channel: m.Channel, Frame: m.Frame, Except: m.Except,
			MemberAdded: m.MemberAdded, MemberRemoved: m.MemberRemoved, MemberSeq: m.MemberSeq,
			Epoch: m.Epoch, Offset: m.Offset})
	}
}

// onTopologyChanged forgets the grains resolved so far (some moved) and
// has every local channel send its state to its grain again.
func (a *appActor) onTopologyChanged(ctx actor.Context) {
	clear(a.grains)
	a.topology++
	for _, e := range a.channels {
		ctx.Send(e.pid, &resync{})
	}
	a.watchResync(ctx)
}

// onStateRequest has the local channel (or the user's watch state) that
// a rebuilt grain asks for re-send it there.
func (a *appActor) onStateRequest(ctx actor.Context, m *stateRequest) {
	pid := actor.NewPID(m.GrainAddress, m.GrainId)
	if a.grains == nil {
		a.grains = make(map[string]*actor.PID)
	}
	if user, ok := strings.CutPrefix(m.Channel, watchPrefix); ok {
		if a.watch != nil && a.watch.version[user] > 0 {
			a.grains[m.Channel] = pid
			a.sendWatchState(ctx, user, true)
		}
		return
	}
	if e := a.channels[m.Channel]; e != nil {
		a.grains[m.Channel] = pid
		ctx.Send(e.pid, &resync{grain: pid})
	}
}

// toEveryNode sends m to the node actor of every cluster member, this one
// included (server-to-user events and terminations reach a user's
// connections wherever they are).
func (a *appActor) toEveryNode(ctx actor.Context, m *clusterpb.UserDeliver) {
	for _, pid := range a.app.node.nodeActors() {
		ctx.Send(pid, m)
	}
}

// onUserDeliver applies another node's (or this one's) UserDeliver here.
func (a *appActor) onUserDeliver(m *userDeliver) {
	if m.Terminate {
		a.terminateUser(m.UserId)
		return
	}
	a.sendToUser(m.UserId, m.Frame, m.Except)
}

// onChannelsQuery answers a gatherer (on any node) with this node's
// occupied channels of the app and their subscription counts here.
func (a *appActor) onChannelsQuery(ctx actor.Context, m *clusterpb.ChannelsQuery) {
	res := &clusterpb.ChannelsList{}
	for name, e := range a.channels {
		if e.info.Subscriptions > 0 && strings.HasPrefix(name, m.Prefix) {
			res.Names = append(res.Names, name)
			res.Subscriptions = append(res.Subscriptions, int32(e.info.Subscriptions)) //nolint:gosec // G115: subscribers of one node
		}
	}
	ctx.Respond(res)
}
