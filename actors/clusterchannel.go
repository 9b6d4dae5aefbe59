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
	class   ChannelClass // for the app's gauges
	subs    []*subscriber
	index   map[string]int // connection PID id → position in subs
	members []*clusterpb.Member
	known   map[string]bool         // presence: the members this node's subscribers were told of
	seq     uint64                  // of the last member event applied to known
	held    []*Publish              // member events that came while joins were pending, for the joiners
	pending map[string]*pendingJoin // joins waiting for the grain, by connection PID id
	grain   *actor.PID              // resolved on first use, again after a topology change
	version uint64                  // of the NodeState last sent (numbered by the node: clusterNode.nextState)
	// Resolving the grain is a round trip to its owner, which may be a
	// node that just died (cluster.Get then waits out its timeout): it
	// runs off the actor, so the channel keeps serving meanwhile, and what
	// needs the grain waits for grainResolved.
	resolving bool
	gen       uint64               // of the resolution that counts: a topology change or a grain's StateRequest starts a new one
	unsent    bool                 // a state waits for the grain
	resyncing bool                 // and it is a re-sync
	queued    []*clusterpb.Publish // client events waiting for the grain, at most maxHeld
	joins     uint64
	failed    bool // a turn panicked: the actor is stopping

	// On a channel with history (docs/recovery.md): the epoch of the
	// stream this node's subscribers follow (the grain's), the one before
	// it (whose late events are dropped), the highest offset delivered
	// here in it, and the joiners whose live stream starts after an offset
	// that may not have reached this node yet (by connection PID id).
	epoch, oldEpoch string
	seenOffset      uint64
	after           map[string]uint64
}

// maxHeld bounds the member events a channel keeps for joins waiting for
// the grain's answer (at most grainTimeout's worth on a busy channel).
const maxHeld = 4096

// pendingJoin is a join waiting for the grain's answer.
type pendingJoin struct {
	join *Join
	try  int // the JoinCheck whose answer counts: a re-sync asks the new grain again
}

// grainResolved is the grain of a channel, resolved off the actor (nil:
// no owner answered).
type grainResolved struct {
	pid *actor.PID
	gen uint64
}

// resync asks a cluster channel to send its state again: to grain, which
// asked for it, or, when nil, to the grain resolved anew (the topology
// changed: its grain may have moved and lost its state).
type resync struct{ grain *actor.PID }

func newClusterChannelProps(app *appInfo, name string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &clusterChannelActor{app: app, name: name, kind: pusher.Kind(name), class: ClassOf(name),
			index: make(map[string]int), pending: make(map[string]*pendingJoin), known: make(map[string]bool)}
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
		a.onResync(ctx, m)
	case *grainResolved:
		a.onGrainResolved(ctx, m)
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
			ctx.Send(ctx.Parent(), &channelFailed{channel: a.name, pid: ctx.Self()}) // before the subscribers hear of it
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
	if len(a.subs) == 0 {
		return
	}
	a.app.gauges.stopped(a.class, len(a.subs))
	a.subs, a.members = nil, nil
	a.version = a.app.node.nextState()
	st := a.state("", false)
	if a.grain != nil {
		ctx.Send(a.grain, st)
		return
	}
	node, key, name, root := a.app.node, a.app.key, a.name, ctx.ActorSystem().Root
	go func() { // the last word of a stopped actor: ends with cluster.Get's timeout at the latest
		if pid := node.grainPID(key, name); pid != nil {
			root.Send(pid, st)
		}
	}()
}

// grainPID is the channel's grain, or nil while it is being resolved
// (which this starts if needed; grainResolved brings the answer).
func (a *clusterChannelActor) grainPID(ctx actor.Context) *actor.PID {
	if a.grain == nil && !a.resolving {
		a.resolving = true
		node, key, name, gen := a.app.node, a.app.key, a.name, a.gen
		self, root := ctx.Self(), ctx.ActorSystem().Root
		go func() { // ends with cluster.Get's timeout at the latest
			root.Send(self, &grainResolved{pid: node.grainPID(key, name), gen: gen})
		}()
	}
	return a.grain
}

// onGrainResolved takes the grain resolved, unless a newer resolution
// started meanwhile, and sends it what waited: the state, the client
// events and the joins' checks. With no owner reachable, it tries again in
// a second and refuses the joins that have not asked any grain yet.
func (a *clusterChannelActor) onGrainResolved(ctx actor.Context, m *grainResolved) {
	if m.gen != a.gen {
		return
	}
	a.resolving = false
	if m.pid == nil {
		a.app.log.Warn("channel: no grain, retrying", "channel", a.name)
		self, root := ctx.Self(), ctx.ActorSystem().Root
		time.AfterFunc(time.Second, func() { root.Send(self, &resync{}) })
		for id, p := range a.pending {
			if p.try == 0 {
				delete(a.pending, id)
				ctx.Send(p.join.Conn, &JoinRefused{Channel: a.name, Message: "the channel is not reachable, try again", SocketID: p.join.SocketID})
			}
		}
		a.dropHeld()
		a.report(ctx)
		return
	}
	a.grain = m.pid
	if a.unsent {
		a.sendState(ctx, "", a.resyncing)
	}
	for _, ev := range a.queued {
		ctx.Send(a.grain, ev)
	}
	a.queued = nil
	for _, p := range a.pending {
		a.check(ctx, p)
	}
}

// sendState sends this node's whole state of the channel to its grain, or
// has it wait for the grain to be resolved; a re-sync adds the members its
// subscribers know of.
func (a *clusterChannelActor) sendState(ctx actor.Context, joined string, isResync bool) {
	pid := a.grainPID(ctx)
	if pid == nil {
		a.unsent, a.resyncing = true, a.resyncing || isResync
		return
	}
	a.version = a.app.node.nextState()
	ctx.Send(pid, a.state(joined, isResync || a.resyncing))
	a.unsent, a.resyncing = false, false
}

// state is this node's state of the channel, numbered a.version.
func (a *clusterChannelActor) state(joined string, isResync bool) *clusterpb.NodeState {
	members := make([]*clusterpb.Member, len(a.members)) // a copy: the grain may be in this process
	for i, mm := range a.members {
		members[i] = &clusterpb.Member{UserId: mm.UserId, Info: mm.Info, Conns: mm.Conns}
	}
	st := &clusterpb.NodeState{Node: a.app.node.address(), Subscriptions: int32(len(a.subs)), //nolint:gosec // G115: subscribers of one node
		Members: members, Version: a.version, Joined: joined}
	if isResync {
		st.Resync, st.KnownSeq = true, a.seq
		for id := range a.known {
			st.Known = append(st.Known, id)
		}
	}
	return st
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
	// A channel with history asks too: the grain numbers its events.
	if a.kind != pusher.Presence && !pusher.IsCache(a.name) && len(a.subs) > 0 && !a.app.config().History.on(a.name) {
		a.add(ctx, m, "{}", 0, nil)
		return
	}
	if a.kind == pusher.Presence && m.Member == nil {
		ctx.Send(m.Conn, &JoinRefused{Channel: a.name, Message: "presence channels need channel_data", SocketID: m.SocketID})
		a.report(ctx)
		return
	}
	p := &pendingJoin{join: m}
	a.pending[m.Conn.Id] = p
	a.check(ctx, p)
}

// check asks the grain whether p may join (and for the member list and
// the cached event), once it is resolved.
func (a *clusterChannelActor) check(ctx actor.Context, p *pendingJoin) {
	pid := a.grainPID(ctx)
	if pid == nil {
		return // onGrainResolved checks it
	}
	check := &clusterpb.JoinCheck{Node: a.app.node.address()}
	if p.join.Member != nil {
		check.UserId = p.join.Member.UserID
	}
	if a.app.config().History.on(a.name) {
		check.History = true
		if r := p.join.Recover; r != nil {
			check.Recover, check.RecoverEpoch, check.RecoverOffset = true, r.Epoch, r.Offset
		}
	}
	p.try++
	try := p.try
	f := ctx.RequestFuture(pid, check, grainTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		if try == p.try { // else a later check, to a new grain, counts
			a.onJoinAnswer(ctx, p, res, err)
		}
	})
}

// onResync sends the channel's state again, to the grain that asked or
// to the one resolved anew, and asks that grain again for the joins still
// waiting (the one they asked may be gone with its node).
func (a *clusterChannelActor) onResync(ctx actor.Context, m *resync) {
	a.gen++
	a.grain, a.resolving = m.grain, false
	a.sendState(ctx, "", true)
	for _, p := range a.pending {
		a.check(ctx, p)
	}
}

// onJoinAnswer completes a join that asked the grain (presence, cache, or
// the node's first subscriber) with its answer, unless the connection left
// meanwhile.
func (a *clusterChannelActor) onJoinAnswer(ctx actor.Context, p *pendingJoin, res any, err error) {
	m := p.join
	if a.pending[m.Conn.Id] != p {
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
	var jh *JoinHistory
	if ans.Epoch != "" {
		if ans.Epoch == a.oldEpoch { // from the grain this node's subscribers no longer follow: ask again
			a.pending[m.Conn.Id] = p
			a.check(ctx, p)
			return
		}
		a.adopt(ans.Epoch, ans.Offset)
		jh = &JoinHistory{Position: pusher.Position{Epoch: ans.Epoch, Offset: ans.Offset},
			Recovery: pusher.Recovery(ans.Recovery), Missed: ans.Missed} //nolint:gosec // G115: 0, 1 or 2
	}
	data := "{}"
	if a.kind == pusher.Presence {
		a.seen(ans.MemberSeq)
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
	sub := a.add(ctx, m, data, ans.MemberSeq, jh)
	// Member events newer than the list, and events of the stream after
	// its offset, which came while the answer was on its way, reach the
	// joiner in order; older ones are in its list or its replay.
	for _, p := range a.held {
		switch {
		case p.Except == sub.socketID:
		case p.MemberSeq > 0 && newerMember(p.MemberSeq, sub.fromSeq):
			sub.out.Send(p.Frame)
		case p.Offset > 0 && jh != nil && p.Epoch == jh.Position.Epoch && p.Offset > jh.Position.Offset:
			sub.out.Send(p.Frame)
		}
	}
	if jh != nil && a.seenOffset < jh.Position.Offset {
		// Events up to its offset may still be on their way here (they
		// take another path than the answer): its live stream skips them.
		if a.after == nil {
			a.after = make(map[string]uint64)
		}
		a.after[sub.conn.Id] = jh.Position.Offset
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
// fromSeq; with jh, the stream's position and the events recovered), and
// tells the grain.
func (a *clusterChannelActor) add(ctx actor.Context, m *Join, data string, fromSeq uint64, jh *JoinHistory) *subscriber {
	sub := newSubscriber(m, fromSeq)
	if m.Member != nil {
		sub.userID = m.Member.UserID
	}
	a.index[m.Conn.Id] = len(a.subs)
	a.subs = append(a.subs, sub)
	a.app.gauges.subscribed(a.class, len(a.subs))
	// The grain and the app hear of it before the client can act on its
	// subscription.
	a.sendState(ctx, m.SocketID, false)
	a.report(ctx)
	answerJoin(m.Out, a.name, data, jh)
	ctx.Send(m.Conn, &Joined{Channel: a.name, PID: ctx.Self(), SocketID: m.SocketID})
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
	delete(a.after, conn.Id)
	a.app.gauges.unsubscribed(a.class, len(a.subs))
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
	ev := &clusterpb.Publish{Frame: m.Frame, Except: a.subs[i].socketID}
	switch pid := a.grainPID(ctx); {
	case pid != nil:
		ctx.Send(pid, ev)
	case len(a.queued) < maxHeld:
		a.queued = append(a.queued, ev)
	default:
		a.app.log.Warn("channel: client event dropped while its grain is resolved", "channel", a.name, "socket_id", m.SocketID)
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
		a.seen(m.MemberSeq)
	case m.MemberRemoved != "":
		delete(a.known, m.MemberRemoved)
		a.seen(m.MemberSeq)
	}
	if m.Epoch != "" && !a.follow(m) {
		return
	}
	if (m.MemberSeq > 0 || m.Offset > 0) && len(a.pending) > 0 && len(a.held) < maxHeld {
		a.held = append(a.held, m)
	}
	if m.Offset > 0 && len(a.after) > 0 {
		a.broadcastAfter(m)
		return
	}
	// A member event goes to the subscribers whose list did not have it.
	broadcast(a.app.fanout, a.subs, m.Frame, m.Except, m.MemberSeq)
}

// follow checks a delivery of the channel's stream against the epoch this
// node's subscribers follow: an event of the epoch before (late, from a
// grain since replaced) is dropped, a new epoch is adopted, and a notice
// (no frame) only adopts. It reports whether to deliver m.
func (a *clusterChannelActor) follow(m *Publish) bool {
	if a.oldEpoch != "" && m.Epoch == a.oldEpoch {
		return false
	}
	at := m.Offset
	if len(m.Frame) > 0 {
		at-- // the stream was there just before this event
	}
	if m.Epoch != a.epoch {
		a.adopt(m.Epoch, at)
		a.seenOffset = at // delivered in the grain's order: nothing older comes after
	}
	if len(m.Frame) == 0 {
		return false
	}
	a.seenOffset = max(a.seenOffset, m.Offset)
	return true
}

// adopt makes epoch the stream this node's subscribers follow. When it
// replaces another, the grain that held the channel's history was rebuilt
// and its events are lost: each subscriber is told (history_reset, with
// the new position), as a client re-subscribing would be.
func (a *clusterChannelActor) adopt(epoch string, offset uint64) {
	if epoch == a.epoch {
		return
	}
	if a.epoch != "" && len(a.subs) > 0 {
		frame := pusher.AppendPosition(pusher.AppendEvent(nil, pusher.EventHistoryReset, a.name, "{}", ""),
			pusher.Position{Epoch: epoch, Offset: offset}, pusher.NotRecovered)
		broadcast(a.app.fanout, a.subs, frame, "", 0)
	}
	a.oldEpoch, a.epoch, a.seenOffset = a.epoch, epoch, 0
	clear(a.after)
}

// broadcastAfter writes an event of the stream to the subscribers but the
// socket m.Except and those that joined at its offset or later (their
// replay or their join had it).
func (a *clusterChannelActor) broadcastAfter(m *Publish) {
	sh := a.app.fanout.Share(m.Frame)
	for _, s := range a.subs {
		if from, ok := a.after[s.conn.Id]; ok && m.Offset <= from {
			continue
		}
		if m.Except == "" || s.socketID != m.Except {
			s.out.SendShared(sh)
		}
	}
	sh.Release()
	for id, from := range a.after {
		if m.Offset > from {
			delete(a.after, id) // what follows is newer still
		}
	}
}

// seen notes the member event seq as the latest known applied.
func (a *clusterChannelActor) seen(seq uint64) {
	if newerMember(seq, a.seq) {
		a.seq = seq
	}
}

// report gives the app this node's counts (for stopping an idle channel;
// the API asks the grain).
func (a *clusterChannelActor) report(ctx actor.Context) {
	ctx.Send(ctx.Parent(), &ChannelStats{Channel: a.name, PID: ctx.Self(),
		Subscriptions: len(a.subs) + len(a.pending), Users: len(a.members), Joins: a.joins})
}
