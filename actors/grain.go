package actors

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/herald-push/herald/actors/clusterpb"
	"github.com/herald-push/herald/pusher"
)

// Names in the cluster.
const (
	// GrainKind is the cluster kind of channel authorities; a grain's
	// identity is "{app key}/{channel}".
	GrainKind = "herald-channel"
	// NodeActorName is the well-known name of every node's node actor,
	// which takes Deliver from the grains.
	NodeActorName = "herald-node"
)

// clusterNode is what the grains and the cluster-mode channels of a node
// share: the node's apps, the grace window and the cluster. The apps are
// swapped whole by Broker.Reload; the rest is immutable once the Broker
// has started (cluster is set before any actor needs it).
type clusterNode struct {
	apps    atomic.Pointer[map[string]*appInfo] // by key
	grace   time.Duration
	log     *slog.Logger
	cluster *cluster.Cluster
	// states numbers every NodeState this node sends, whichever actor
	// sends it: a grain keeps the highest version per node, and a channel
	// actor (or a user's watch state) that starts again after an idle
	// spell must not number its states from 1, below what the grain has.
	states atomic.Uint64
}

// nextState is the version of the next NodeState this node sends.
func (n *clusterNode) nextState() uint64 { return n.states.Add(1) }

// setApps makes set the node's apps.
func (n *clusterNode) setApps(set *appSet) {
	apps := make(map[string]*appInfo, len(set.byKey))
	for k, a := range set.byKey {
		apps[k] = a.info
	}
	n.apps.Store(&apps)
}

// app returns the app whose key is key, or nil.
func (n *clusterNode) app(key string) *appInfo { return (*n.apps.Load())[key] }

// grainPID resolves the grain of (app, channel): a round trip to its owner
// the first time (the caller caches it until the topology changes).
func (n *clusterNode) grainPID(app, channel string) *actor.PID {
	return n.cluster.Get(app+"/"+channel, GrainKind)
}

// address is this member's address, where its node actor lives.
func (n *clusterNode) address() string { return n.cluster.ActorSystem.Address() }

// nodeActors are the node actors of every cluster member, this one included.
func (n *clusterNode) nodeActors() []*actor.PID {
	members := n.cluster.MemberList.Members().Members()
	pids := make([]*actor.PID, len(members))
	for i, m := range members {
		pids[i] = actor.NewPID(m.Address(), NodeActorName)
	}
	return pids
}

// channelGrain is the cluster-wide authority of one (app, channel): a
// Proto.Actor virtual actor (kind GrainKind) living on the node that
// rendezvous hashing picks. It holds the channel's authority built from
// the nodes' states (NodeState replaces a node's contribution whole, so a
// re-sync after a topology change is harmless), forwards each published
// event once to every node with subscribers, and tells clients (member
// frames, through those nodes) and webhooks (its node's webhook actor)
// of each change once for the whole cluster.
//
// Its state is soft: when the grain moves, the nodes re-send their states
// to the new owner. So that neither a move nor a client reconnecting to
// another node shows as a departure, removals wait out the grace window:
// a member whose last connection went is still listed, and is removed
// (member_removed, the webhook) only if no node reports them within the
// window; a channel whose last subscription went is reported vacated
// likewise.
type channelGrain struct {
	node     *clusterNode
	app      *appInfo
	name     string
	auth     *channelAuthority
	versions map[string]uint64 // node → last NodeState version applied

	infos     map[string]json.RawMessage // user_info of members, kept while they are listed
	gone      map[string]time.Time       // removed by the authority at, still listed until the window ends
	vacatedAt time.Time                  // zero unless a vacancy waits out the window
	timer     *time.Timer                // the next window end, nil when none
	tickAt    time.Time
	topology  *eventstream.Subscription // the members that leave, for onNodeLeft
	cache     *clusterpb.Publish        // a cache channel's last event
	cacheTill time.Time
	hist      *historyRing         // on a channel with history: its stream, a new epoch with every grain
	histTimer *time.Timer          // drops the stream's events past the ttl; nil when none is due
	seq       uint64               // of the last member event: this grain's epoch (high 32 bits) and count
	listeners map[string]time.Time // nodes that asked (JoinCheck) until when, not yet counted
	pulled    bool                 // asked every node for its state (StateRequest)
	knownFrom map[string]bool      // nodes whose Known was taken

	// subscription_count (the app's feature, non-presence channels):
	// the cluster-wide count, sent to every node at most once a second.
	countSent   int // -1: none yet
	countSentAt time.Time
	countTimer  *time.Timer
}

// graceTick wakes a grain whose grace window may have ended.
type graceTick struct{}

// historyTick wakes a grain whose oldest kept event may have expired.
type historyTick struct{}

func newGrainProps(n *clusterNode) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &channelGrain{node: n, versions: make(map[string]uint64), listeners: make(map[string]time.Time), countSent: -1, knownFrom: make(map[string]bool),
			infos: make(map[string]json.RawMessage), gone: make(map[string]time.Time)}
	})
}

// Receive handles the grain's messages.
func (g *channelGrain) Receive(ctx actor.Context) {
	defer g.contain(ctx)
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.onInit(ctx, m)
	case *clusterpb.NodeState:
		g.onNodeState(ctx, m)
		g.noticeStream(ctx, m)
	case *clusterpb.Publish:
		g.onPublish(ctx, m)
	case *clusterpb.JoinCheck:
		g.onJoinCheck(ctx, m)
	case *clusterpb.InfoRequest:
		g.onInfo(ctx)
	case *clusterpb.NodeLeft:
		g.onNodeLeft(ctx, m)
	case *cluster.ClusterTopology:
		for _, left := range m.Left {
			g.onNodeLeft(ctx, &clusterpb.NodeLeft{Node: left.Address()})
		}
	case *graceTick:
		g.onTick(ctx)
	case *countTick:
		g.countTimer = nil
		g.sendCount(ctx)
	case *historyTick:
		g.onHistoryTick(ctx)
	case *actor.Stopped:
		g.onStopped(ctx)
	case *actor.Started, *actor.Stopping, *actor.Restarting:
	default:
		g.node.log.Warn("grain: unexpected message", "type", typeName(m))
	}
}

func (g *channelGrain) contain(ctx actor.Context) {
	if r := recover(); r != nil {
		logPanic(g.node.log, r, ctx.Message(), "actor", "grain", "channel", g.name)
	}
}

// onInit learns the grain's identity: "{app key}/{channel}".
func (g *channelGrain) onInit(ctx actor.Context, m *cluster.ClusterInit) {
	key, name, _ := strings.Cut(m.Identity.Identity, "/")
	g.app, g.name = g.node.app(key), name
	if g.app == nil || name == "" {
		g.node.log.Error("grain: no such app or channel", "identity", m.Identity.Identity)
		ctx.Stop(ctx.Self())
		return
	}
	g.auth = newChannelAuthority(watchPresence(name))
	g.seq = uint64(rand.Uint32()|1) << 32 //nolint:gosec // G404: a new epoch (see newerMember), not a secret
	self, root := ctx.Self(), ctx.ActorSystem().Root
	g.topology = ctx.ActorSystem().EventStream.Subscribe(func(evt any) { // on the publisher's goroutine: only forwards
		if t, ok := evt.(*cluster.ClusterTopology); ok && len(t.Left) > 0 {
			root.Send(self, t)
		}
	})
}

func (g *channelGrain) onStopped(ctx actor.Context) {
	if g.timer != nil {
		g.timer.Stop()
	}
	if g.countTimer != nil {
		g.countTimer.Stop()
	}
	if g.histTimer != nil {
		g.histTimer.Stop()
	}
	if g.topology != nil {
		ctx.ActorSystem().EventStream.Unsubscribe(g.topology)
	}
}

func (g *channelGrain) onNodeState(ctx actor.Context, m *clusterpb.NodeState) {
	if g.auth == nil || m.Version <= g.versions[m.Node] {
		return // not initialised, or an older state than one applied
	}
	g.versions[m.Node] = m.Version
	if len(m.Known) > 0 && m.KnownSeq>>32 != g.seq>>32 && !g.knownFrom[m.Node] {
		g.takeKnown(m)
	}
	members := make([]nodeMember, len(m.Members))
	for i, mm := range m.Members {
		members[i] = nodeMember{pusher.Member{UserID: mm.UserId, Info: mm.Info}, int(mm.Conns)}
	}
	added, removed, occupied, vacated := g.auth.setNode(m.Node, int(m.Subscriptions), members)
	g.apply(ctx, added, removed, occupied && !m.Resync, vacated, m.Joined, time.Now())
	g.countChanged(ctx)
	if m.Resync && !g.pulled {
		g.pull(ctx, m.Node)
	}
}

// takeKnown marks the members the node's clients were told of that the
// grain does not have (the grain that told them is gone, most likely with
// its node) as removed, from when that node stopped at the latest: they
// wait out the grace window, and a node that reports them brings them back
// silently.
func (g *channelGrain) takeKnown(m *clusterpb.NodeState) {
	g.knownFrom[m.Node] = true
	for _, id := range m.Known {
		if _, member := g.auth.members[id]; !member {
			if _, pending := g.gone[id]; !pending {
				g.gone[id] = g.lostAt()
			}
		}
	}
}

// pull asks every other node for its state of the channel, once: a
// re-sync is the first sign that this grain replaces one that moved or
// was lost, and the nodes that have not yet seen the topology change
// would otherwise re-send only when they do.
func (g *channelGrain) pull(ctx actor.Context, from string) {
	g.pulled = true
	self := ctx.Self()
	req := &clusterpb.StateRequest{App: g.app.key, Channel: g.name, GrainAddress: self.Address, GrainId: self.Id}
	for _, pid := range g.node.nodeActors() {
		if pid.Address != from {
			ctx.Send(pid, req)
		}
	}
}

// countChanged sends the subscription count now, or once a second has
// passed since the last one, as the single-node channel does.
func (g *channelGrain) countChanged(ctx actor.Context) {
	if !g.app.config().SubscriptionCount || g.auth.presence || g.countTimer != nil {
		return
	}
	if wait := time.Second - time.Since(g.countSentAt); wait > 0 {
		self, root := ctx.Self(), ctx.ActorSystem().Root
		g.countTimer = time.AfterFunc(wait, func() { root.Send(self, &countTick{}) })
		return
	}
	g.sendCount(ctx)
}

func (g *channelGrain) sendCount(ctx actor.Context) {
	n := g.auth.subscriptions()
	if n == g.countSent {
		return
	}
	g.countSent, g.countSentAt = n, time.Now()
	data := strconv.AppendInt([]byte(`{"subscription_count":`), int64(n), 10)
	data = append(data, '}')
	g.deliver(ctx, &clusterpb.Deliver{Frame: pusher.AppendEvent(nil, pusher.EventSubscriptionCount, g.name, string(data), "")})
	g.fact(&SubscriptionCountChanged{App: g.app.id, Channel: g.name, Count: n, At: g.countSentAt})
}

// apply tells clients and webhooks what the authority reported: additions
// at once (unless they undo a pending removal, which then never shows),
// removals and a vacancy once the grace window since left has passed.
// occupied is false for a re-sync: the channel was occupied before.
func (g *channelGrain) apply(ctx actor.Context, added, removed []string, occupied, vacated bool, joined string, left time.Time) {
	now := time.Now()
	if occupied {
		if g.vacatedAt.IsZero() {
			g.fact(&ChannelOccupied{App: g.app.id, Channel: g.name, At: now})
		}
		g.vacatedAt = time.Time{}
	}
	for _, id := range added {
		g.infos[id] = g.auth.members[id].info
		if _, back := g.gone[id]; back {
			delete(g.gone, id)
			continue
		}
		data := pusher.AppendMemberData(nil, pusher.Member{UserID: id, Info: g.infos[id]})
		g.seq++
		g.deliver(ctx, &clusterpb.Deliver{Frame: pusher.AppendEvent(nil, pusher.EventMemberAdded, g.name, string(data), ""),
			Except: joined, MemberAdded: id, MemberSeq: g.seq})
		g.fact(&MemberAdded{App: g.app.id, Channel: g.name, UserID: id, At: now})
	}
	for _, id := range removed {
		g.gone[id] = left
	}
	if vacated {
		g.vacatedAt = left
	}
	g.arm(ctx)
}

// onTick ends the grace window of what has waited long enough.
func (g *channelGrain) onTick(ctx actor.Context) {
	g.timer = nil
	now := time.Now()
	for id, at := range g.gone {
		if now.Sub(at) < g.node.grace {
			continue
		}
		delete(g.gone, id)
		delete(g.infos, id)
		data := pusher.AppendMemberData(nil, pusher.Member{UserID: id})
		g.seq++
		g.deliver(ctx, &clusterpb.Deliver{Frame: pusher.AppendEvent(nil, pusher.EventMemberRemoved, g.name, string(data), ""),
			MemberRemoved: id, MemberSeq: g.seq})
		g.fact(&MemberRemoved{App: g.app.id, Channel: g.name, UserID: id, At: now})
	}
	if !g.vacatedAt.IsZero() && now.Sub(g.vacatedAt) >= g.node.grace {
		g.vacatedAt = time.Time{}
		g.fact(&ChannelVacated{App: g.app.id, Channel: g.name, At: now})
	}
	g.arm(ctx)
}

// arm sets the timer for the earliest pending window end.
func (g *channelGrain) arm(ctx actor.Context) {
	var next time.Time
	for _, at := range g.gone {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if !g.vacatedAt.IsZero() && (next.IsZero() || g.vacatedAt.Before(next)) {
		next = g.vacatedAt
	}
	if next.IsZero() {
		return
	}
	next = next.Add(g.node.grace)
	if g.timer != nil && !g.tickAt.After(next) {
		return // one already due no later
	}
	if g.timer != nil {
		g.timer.Stop()
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	g.tickAt = next
	g.timer = time.AfterFunc(time.Until(next), func() { root.Send(self, &graceTick{}) })
}

// nodeLossCredit is how long before the others learn of it a node that
// left without a word stopped at the latest: its membership lease (3 s in
// the etcd provider) is renewed every second, so it expires at least 2 s
// after the node's last renewal. The grace window of its clients runs
// from then, as if they had been seen leaving.
const nodeLossCredit = 2 * time.Second

// onNodeLeft drops what a node that left the cluster contributed: its
// members are removed once the grace window, counted from when the node
// stopped at the latest, passes without another node reporting them (their
// clients reconnecting elsewhere).
func (g *channelGrain) onNodeLeft(ctx actor.Context, m *clusterpb.NodeLeft) {
	if g.auth == nil {
		return
	}
	delete(g.versions, m.Node)
	removed, vacated := g.auth.dropNode(m.Node)
	g.apply(ctx, nil, removed, false, vacated, "", g.lostAt())
}

// lostAt is when a node learnt of only now stopped at the latest.
func (g *channelGrain) lostAt() time.Time {
	return time.Now().Add(-min(nodeLossCredit, g.node.grace/2))
}

// members lists the members as clients see them: the authority's and
// those still in their grace window.
func (g *channelGrain) members() []*clusterpb.Member {
	list := g.auth.memberList()
	out := make([]*clusterpb.Member, 0, len(list)+len(g.gone))
	for _, m := range list {
		out = append(out, &clusterpb.Member{UserId: m.UserID, Info: m.Info, Conns: int32(g.auth.members[m.UserID].conns)}) //nolint:gosec // G115: connections of one user
	}
	for id := range g.gone {
		out = append(out, &clusterpb.Member{UserId: id, Info: g.infos[id]})
	}
	return out
}

// onPublish delivers an event to every node with subscribers and, on a
// cache channel, keeps it as the channel's last event; on a channel with
// history it numbers the event and keeps it in the stream.
func (g *channelGrain) onPublish(ctx actor.Context, m *clusterpb.Publish) {
	if m.CacheTtlMs > 0 {
		g.cache, g.cacheTill = m, time.Now().Add(time.Duration(m.CacheTtlMs)*time.Millisecond)
	}
	d := &clusterpb.Deliver{Frame: m.Frame, Except: m.Except}
	if r := g.stream(); r != nil {
		// A copy: the frame may be shared with the sender (a grain in its
		// process) or kept as the cache channel's last event.
		d.Frame, d.Offset = r.add(slices.Clip(m.Frame), time.Now())
		d.Epoch = r.epoch
		g.armHistory(ctx)
	}
	g.deliver(ctx, d)
	if ctx.Sender() != nil { // an API event: its node answers the API once it is in this order
		ctx.Respond(&clusterpb.PublishAck{})
	}
}

// armHistory sets the timer that drops the oldest event once it expires
// (a grain outlives its channel's subscribers: this bounds its memory in
// time too), unless one is due.
func (g *channelGrain) armHistory(ctx actor.Context) {
	if g.histTimer != nil || g.hist == nil || g.hist.n == 0 {
		return
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	wait := time.Until(g.hist.at[g.hist.start].Add(g.app.config().History.TTL))
	g.histTimer = time.AfterFunc(max(wait, time.Millisecond), func() { root.Send(self, &historyTick{}) })
}

func (g *channelGrain) onHistoryTick(ctx actor.Context) {
	g.histTimer = nil
	if g.hist != nil {
		g.hist.trim(time.Now(), g.app.config().History.TTL)
		g.armHistory(ctx)
	}
}

// stream is the channel's history, made on first use; nil when the app
// keeps none for it.
func (g *channelGrain) stream() *historyRing {
	if g.auth == nil {
		return nil
	}
	h := &g.app.config().History
	if !h.on(g.name) {
		return nil
	}
	if g.hist == nil {
		g.hist = newHistoryRing(h.Size, time.Now())
	}
	g.hist.resize(h.Size)
	return g.hist
}

// maxGrainReplay bounds the events a JoinAnswer carries, in bytes, below
// gRPC's 4 MiB message limit; a larger recovery fails.
const maxGrainReplay = 3 << 20

// joinStream answers a join on a channel with history with the stream's
// position and, when it asked to recover, the outcome and what it missed.
func (g *channelGrain) joinStream(m *clusterpb.JoinCheck, ans *clusterpb.JoinAnswer) {
	r := g.stream()
	if r == nil || !m.History {
		return
	}
	h := g.app.config().History
	h.MaxReplayBytes = min(h.MaxReplayBytes, maxGrainReplay)
	var from *pusher.Position
	if m.Recover {
		from = &pusher.Position{Epoch: m.RecoverEpoch, Offset: m.RecoverOffset}
	}
	jh := r.join(from, time.Now(), &h)
	ans.Epoch, ans.Offset, ans.Recovery, ans.Missed = jh.Position.Epoch, jh.Position.Offset, int32(jh.Recovery), jh.Missed
}

// noticeStream tells a node that re-synced (this grain may be new, after
// a move or the loss of the node that held the channel) the stream's
// position: a node whose subscribers knew another epoch tells them their
// history was reset.
func (g *channelGrain) noticeStream(ctx actor.Context, m *clusterpb.NodeState) {
	if !m.Resync || m.Subscriptions == 0 {
		return
	}
	if r := g.stream(); r != nil {
		ctx.Send(actor.NewPID(m.Node, NodeActorName), &clusterpb.Deliver{App: g.app.key, Channel: g.name, Epoch: r.epoch, Offset: r.last})
	}
}

// cached is the cache channel's last event, nil when none or expired.
func (g *channelGrain) cached(now time.Time) *clusterpb.Publish {
	if g.cache != nil && now.After(g.cacheTill) {
		g.cache = nil
	}
	return g.cache
}

func (g *channelGrain) onJoinCheck(ctx actor.Context, m *clusterpb.JoinCheck) {
	ans := &clusterpb.JoinAnswer{Ok: true, MemberSeq: g.seq}
	if m.Node != "" {
		g.listeners[m.Node] = time.Now().Add(2 * grainTimeout)
	}
	if g.auth.presence {
		_, listed := g.gone[m.UserId]
		ans.Ok = listed || g.auth.canJoin(m.UserId, g.app.config().MaxPresenceMembers-len(g.gone))
		ans.Members = g.members()
	}
	if c := g.cached(time.Now()); c != nil {
		ans.Cached = c.Frame
	}
	g.joinStream(m, ans)
	ctx.Respond(ans)
}

func (g *channelGrain) onInfo(ctx actor.Context) {
	ms := g.members()
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UserId
	}
	info := &clusterpb.Info{Channel: g.name, Subscriptions: int32(g.auth.subscriptions()), Users: int32(len(ids)), UserIds: ids} //nolint:gosec // G115: counts of one channel
	now := time.Now()
	if c := g.cached(now); c != nil {
		info.CacheEvent, info.CacheData, info.CacheTtlMs = c.Event, c.Data, g.cacheTill.Sub(now).Milliseconds()
	}
	if r := g.stream(); r != nil {
		r.trim(now, g.app.config().History.TTL)
		info.History, info.HistoryEpoch, info.HistoryOffset, info.HistoryEvents = true, r.epoch, r.last, int32(r.n) //nolint:gosec // G115: at most history.size
	}
	ctx.Respond(info)
}

// deliver sends d once to every node with subscribers, and to the nodes
// with a join in progress, for their local subscribers but the socket
// d.Except.
func (g *channelGrain) deliver(ctx actor.Context, d *clusterpb.Deliver) {
	if g.auth == nil {
		return
	}
	d.App, d.Channel = g.app.key, g.name
	for node := range g.auth.nodes {
		ctx.Send(actor.NewPID(node, NodeActorName), d)
	}
	now := time.Now()
	for node, until := range g.listeners {
		switch _, counted := g.auth.nodes[node]; {
		case counted || now.After(until):
			delete(g.listeners, node)
		default:
			ctx.Send(actor.NewPID(node, NodeActorName), d)
		}
	}
}

// fact tells this node's webhook actor of the app, if it has one (a watch
// grain's changes are not channel events: they have no webhooks).
func (g *channelGrain) fact(msg any) {
	if !strings.HasPrefix(g.name, watchPrefix) {
		g.app.fact(msg)
	}
}
