package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors/clusterpb"
	"github.com/herald-push/herald/pusher"
)

// clusterChannelActor serves one channel's local subscribers on a cluster
// member: the node-local half of a channel (docs/cluster.md). It owns the
// local sockets and writes each frame once to them, as channelActor does,
// but what is counted once for the cluster (occupancy, presence members,
// the member cap) belongs to the channel's grain: it sends the grain this
// node's whole state after every change (NodeState), asks it before a
// presence join (JoinCheck, whose answer carries the member list for
// subscription_succeeded), and sends published client events to it. The
// grain delivers every event, member_added and member_removed included,
// to each node's node actor, which hands them here (Publish).
type clusterChannelActor struct {
	app     *appInfo
	name    string
	kind    pusher.ChannelKind
	subs    []*subscriber
	index   map[string]int // connection PID id → position in subs
	members []*clusterpb.Member
	known   map[string]bool  // presence: the members this node's subscribers were told of
	held    []*Publish       // member events that came while joins were pending, for the joiners
	pending map[string]*Join // presence joins waiting for the grain, by connection PID id
	grain   *actor.PID       // resolved on first use, again after a topology change
	version uint64           // of the NodeState last sent
	joins   uint64
	failed  bool // a turn panicked: the actor is stopping
}

// maxHeld bounds the member events a channel keeps for joins waiting for
// the grain's answer (at most grainTimeout's worth on a busy channel).
const maxHeld = 4096

// resync asks a cluster channel to send its state again (the topology
// changed: its grain may have moved and lost its state).
type resync struct{}

func newClusterChannelProps(app *appInfo, name string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &clusterChannelActor{app: app, name: name, kind: pusher.Kind(name),
			index: make(map[string]int), pending: make(map[string]*Join), known: make(map[string]bool)}
	}, app.dispatch)
}

// Receive handles the channel's messages.
func (a *clusterChannelActor) Receive(ctx actor.Context) {
	defer a.contain(ctx)
	switch m := ctx.Message().(type) {
	case *Join:
		a.onJoin(ctx, m)
	case *Leave:
		a.onLeave(ctx, m.Conn)
	case *Publish:
		a.onPublish(m)
	case *PublishClientEvent:
		a.onClientEvent(ctx, m)
	case *resync:
		a.grain = nil
		a.sendState(ctx, "", true)
	case *actor.Stopped:
		a.onStopped(ctx)
	case *actor.Started, *actor.Stopping, *actor.Restarting:
	default:
		a.app.log.Warn("channel: unexpected message", "type", typeName(m), "channel", a.name)
	}
}

func (a *clusterChannelActor) contain(ctx actor.Context) {
	if r := recover(); r != nil {
		logPanic(a.app.log, r, ctx.Message(), "actor", "channel", "channel", a.name)
		if !a.failed {
			a.failed = true
			ctx.Stop(ctx.Self())
		}
	}
}

// onStopped tells the grain this node has no subscribers left (a shutdown
// or a panic stopped it with some), and the subscribers, if a panic stopped
// it, that the channel is gone.
func (a *clusterChannelActor) onStopped(ctx actor.Context) {
	if a.failed {
		for _, s := range a.subs {
			ctx.Send(s.conn, &ChannelLost{Channel: a.name, PID: ctx.Self(), SocketID: s.socketID})
		}
	}
	if len(a.subs) > 0 {
		a.subs, a.members = nil, nil
		a.sendState(ctx, "", false)
	}
}

func (a *clusterChannelActor) grainPID() *actor.PID {
	if a.grain == nil {
		a.grain = a.app.node.grainPID(a.app.key, a.name)
	}
	return a.grain
}

// sendState sends this node's whole state of the channel to its grain;
// a re-sync adds the members its subscribers know of.
func (a *clusterChannelActor) sendState(ctx actor.Context, joined string, isResync bool) {
	a.version++
	pid := a.grainPID()
	if pid == nil { // no owner reachable (the topology is changing): try again
		a.app.log.Warn("channel: no grain, retrying", "channel", a.name)
		self, root := ctx.Self(), ctx.ActorSystem().Root
		time.AfterFunc(time.Second, func() { root.Send(self, &resync{}) })
		return
	}
	members := make([]*clusterpb.Member, len(a.members)) // a copy: the grain may be in this process
	for i, mm := range a.members {
		members[i] = &clusterpb.Member{UserId: mm.UserId, Info: mm.Info, Conns: mm.Conns}
	}
	st := &clusterpb.NodeState{Node: a.app.node.address(), Subscriptions: int32(len(a.subs)), //nolint:gosec // G115: subscribers of one node
		Members: members, Version: a.version, Joined: joined}
	if isResync {
		st.Resync = true
		for id := range a.known {
			st.Known = append(st.Known, id)
		}
	}
	ctx.Send(pid, st)
}

func (a *clusterChannelActor) onJoin(ctx actor.Context, m *Join) {
	a.joins++
	if _, ok := a.index[m.Conn.Id]; ok || a.pending[m.Conn.Id] != nil {
		ctx.Send(m.Conn, &Joined{Channel: a.name, PID: ctx.Self(), SocketID: m.SocketID})
		return
	}
	// A public or private channel that already has subscribers here needs
	// nothing from the grain. The first subscriber on this node waits for
	// the grain to count the node in (JoinCheck), so that every event
	// published after its subscription_succeeded reaches this node.
	if a.kind != pusher.Presence && !pusher.IsCache(a.name) && len(a.subs) > 0 {
		a.add(ctx, m, "{}", 0)
		return
	}
	if a.kind == pusher.Presence && m.Member == nil {
		ctx.Send(m.Conn, &JoinRefused{Channel: a.name, Message: "presence channels need channel_data", SocketID: m.SocketID})
		a.report(ctx)
		return
	}
	pid := a.grainPID()
	if pid == nil {
		ctx.Send(m.Conn, &JoinRefused{Channel: a.name, Message: "the channel is not reachable, try again", SocketID: m.SocketID})
		a.report(ctx)
		return
	}
	a.pending[m.Conn.Id] = m
	check := &clusterpb.JoinCheck{Node: a.app.node.address()}
	if m.Member != nil {
		check.UserId = m.Member.UserID
	}
	f := ctx.RequestFuture(pid, check, grainTimeout)
	ctx.ReenterAfter(f, func(res any, err error) { a.onJoinAnswer(ctx, m, res, err) })
}

// onJoinAnswer completes a join that asked the grain (presence, cache, or
// the node's first subscriber) with its answer, unless the connection left
// meanwhile.
func (a *clusterChannelActor) onJoinAnswer(ctx actor.Context, m *Join, res any, err error) {
	if a.pending[m.Conn.Id] != m {
		ctx.Send(m.Conn, &Joined{Channel: a.name, PID: ctx.Self(), SocketID: m.SocketID}) // it left: only the ack
		return
	}
	delete(a.pending, m.Conn.Id)
	defer a.dropHeld()
	ans, ok := res.(*clusterpb.JoinAnswer)
	switch {
	case err != nil || !ok:
		a.grain = nil
		ctx.Send(m.Conn, &JoinRefused{Channel: a.name, Message: "the channel is not reachable, try again", SocketID: m.SocketID})
		a.report(ctx)
		return
	case !ans.Ok:
		ctx.Send(m.Conn, &JoinRefused{Channel: a.name, Message: "the presence channel has reached its member limit", SocketID: m.SocketID})
		a.report(ctx)
		return
	}
	data := "{}"
	if a.kind == pusher.Presence {
		list := make([]pusher.Member, 0, len(ans.Members)+1)
		self := false
		for _, mm := range ans.Members {
			self = self || mm.UserId == m.Member.UserID
			list = append(list, pusher.Member{UserID: mm.UserId, Info: mm.Info})
			a.known[mm.UserId] = true
		}
		if !self {
			list = append(list, *m.Member)
		}
		a.known[m.Member.UserID] = true
		a.addMember(m.Member)
		data = string(pusher.AppendPresenceData(nil, list))
	}
	sub := a.add(ctx, m, data, ans.MemberSeq)
	// Member events newer than the list, which came while the answer was
	// on its way, reach the joiner in order; older ones are in its list.
	for _, p := range a.held {
		if p.MemberSeq > sub.fromSeq && p.Except != sub.socketID {
			sub.out.Send(p.Frame)
		}
	}
	if pusher.IsCache(a.name) {
		a.sendCached(m, ans.Cached)
	}
}

// dropHeld forgets the held member events once no join waits for them.
func (a *clusterChannelActor) dropHeld() {
	if len(a.pending) == 0 {
		a.held = nil
	}
}

// sendCached gives a new subscriber of a cache channel the last event, or
// pusher:cache_miss (with a cache_miss webhook from this node) when there
// is none, as the single-node channel does.
func (a *clusterChannelActor) sendCached(m *Join, cached []byte) {
	if len(cached) > 0 {
		m.Out.Send(cached)
		return
	}
	m.Out.Send(pusher.AppendEvent(nil, pusher.EventCacheMiss, a.name, "{}", ""))
	a.app.fact(&CacheMissed{App: a.app.id, Channel: a.name, At: time.Now()})
}

// addMember counts one more local connection of a presence member.
func (a *clusterChannelActor) addMember(m *pusher.Member) {
	for _, mm := range a.members {
		if mm.UserId == m.UserID {
			mm.Conns++
			return
		}
	}
	a.members = append(a.members, &clusterpb.Member{UserId: m.UserID, Info: m.Info, Conns: 1})
}

// add makes m's connection a subscriber, answers it with
// subscription_succeeded (data, which includes the member events up to
// fromSeq), and tells the grain.
func (a *clusterChannelActor) add(ctx actor.Context, m *Join, data string, fromSeq uint64) *subscriber {
	sub := &subscriber{conn: m.Conn, out: m.Out, socketID: m.SocketID, fromSeq: fromSeq}
	if m.Member != nil {
		sub.userID = m.Member.UserID
	}
	a.index[m.Conn.Id] = len(a.subs)
	a.subs = append(a.subs, sub)
	m.Out.Send(pusher.AppendEvent(nil, pusher.EventSubscriptionSucceeded, a.name, data, ""))
	ctx.Send(m.Conn, &Joined{Channel: a.name, PID: ctx.Self(), SocketID: m.SocketID})
	a.sendState(ctx, m.SocketID, false)
	a.report(ctx)
	return sub
}

func (a *clusterChannelActor) onLeave(ctx actor.Context, conn *actor.PID) {
	if a.pending[conn.Id] != nil {
		delete(a.pending, conn.Id) // the grain's answer will find it gone
		a.dropHeld()
		a.report(ctx)
		return
	}
	i, ok := a.index[conn.Id]
	if !ok {
		return
	}
	sub := a.subs[i]
	last := len(a.subs) - 1
	a.subs[i] = a.subs[last]
	a.index[a.subs[i].conn.Id] = i
	a.subs[last] = nil
	a.subs = a.subs[:last]
	delete(a.index, conn.Id)
	if sub.userID != "" {
		for i, mm := range a.members {
			if mm.UserId == sub.userID {
				if mm.Conns--; mm.Conns <= 0 {
					a.members = append(a.members[:i], a.members[i+1:]...)
				}
				break
			}
		}
	}
	a.sendState(ctx, "", false)
	a.report(ctx)
}

// onClientEvent sends a local subscriber's client event to the grain,
// which delivers it to every node; the webhook fact is this node's, so it
// is told once.
func (a *clusterChannelActor) onClientEvent(ctx actor.Context, m *PublishClientEvent) {
	i, ok := a.index[m.Sender.Id]
	if !ok || m.Channel != a.name {
		return
	}
	if pid := a.grainPID(); pid != nil {
		ctx.Send(pid, &clusterpb.Publish{Frame: m.Frame, Except: a.subs[i].socketID})
	}
	a.app.fact(&ClientEventSent{App: a.app.id, Channel: a.name, Event: m.Event, Data: m.Data,
		SocketID: m.SocketID, UserID: m.UserID, At: time.Now()})
}

// onPublish writes a delivered event to the local subscribers, noting the
// member it adds or removes.
func (a *clusterChannelActor) onPublish(m *Publish) {
	switch {
	case m.MemberAdded != "":
		a.known[m.MemberAdded] = true
	case m.MemberRemoved != "":
		delete(a.known, m.MemberRemoved)
	}
	if m.MemberSeq > 0 && len(a.pending) > 0 && len(a.held) < maxHeld {
		a.held = append(a.held, m)
	}
	// A member event goes to the subscribers whose list did not have it.
	broadcast(a.app.fanout, a.subs, m.Frame, m.Except, m.MemberSeq)
}

// report gives the app this node's counts (for stopping an idle channel;
// the API asks the grain).
func (a *clusterChannelActor) report(ctx actor.Context) {
	ctx.Send(ctx.Parent(), &ChannelStats{Channel: a.name, PID: ctx.Self(),
		Subscriptions: len(a.subs) + len(a.pending), Users: len(a.members), Joins: a.joins})
}
