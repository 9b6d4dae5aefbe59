package actors

import (
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/pusher"
)

// channelActor serves one occupied channel of one app. It owns the
// subscriber list and the channel's authority (channelAuthority: the
// counts and, on presence channels, the members, as a cluster's channel
// grain would hold them; in single-node mode there is no grain and no
// extra hop, and this node is ""); it writes
// subscription_succeeded and every fan-out frame straight to the
// subscribers' Outbounds, encoding each frame once. A connection actor
// leaves its channels when it stops, whatever stopped it, so a socket that
// dies without unsubscribing is removed all the same. It reports
// ChannelStats to its app after every change; the app stops it once it is
// idle.
type channelActor struct {
	app    *appInfo
	name   string
	kind   pusher.ChannelKind
	class  ChannelClass // for the app's gauges
	subs   []*subscriber
	index  map[string]int    // connection PID id → position in subs
	auth   *channelAuthority // counts and presence; this node is "" (single-node mode)
	joins  uint64
	failed bool // a turn panicked: the actor is stopping

	// subscription_count coalescing: at most one frame a second.
	countSent    int // the count last sent (-1: none yet)
	countSentAt  time.Time
	countTimer   *time.Timer // pending send, nil when none
	countEnabled bool
}

// countTick sends a coalesced subscription_count.
type countTick struct{}

type subscriber struct {
	conn     *actor.PID
	out      Outbound
	socketID string
	userID   string
	fromSeq  uint64         // cluster: member events up to this number were in its subscription_succeeded
	server   *subscriberOut // out, when it is a server-side subscriber's (found once, at the join)
}

// newSubscriber is the subscriber of a Join.
func newSubscriber(m *Join, fromSeq uint64) *subscriber {
	s := &subscriber{conn: m.Conn, out: m.Out, socketID: m.SocketID, fromSeq: fromSeq}
	s.server, _ = m.Out.(*subscriberOut)
	return s
}

// newerMember tells whether the grain's member event seq is one a
// subscriber whose list was numbered from did not have. The high 32 bits
// of both are the epoch of the grain that numbered them: a grain rebuilt
// after a move numbers from a new epoch, and its events are always new to
// a list the previous grain gave.
func newerMember(seq, from uint64) bool {
	return seq>>32 != from>>32 || seq > from
}

func newChannelProps(app *appInfo, name string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		a := &channelActor{app: app, name: name, kind: pusher.Kind(name), class: ClassOf(name), index: make(map[string]int), countSent: -1}
		a.countEnabled = app.config().SubscriptionCount && a.kind != pusher.Presence
		a.auth = newChannelAuthority(a.kind == pusher.Presence)
		return a
	}, app.dispatch)
}

// Receive handles the channel's messages. A panic stops the channel
// (contain); its subscribers are told and can subscribe again.
func (a *channelActor) Receive(ctx actor.Context) {
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
	case *UsersRequest:
		a.onUsers(ctx)
	case *countTick:
		a.onCountTick()
	case *actor.Stopped:
		a.onStopped(ctx)
	case *actor.Started, *actor.Stopping, *actor.Restarting:
	default:
		a.app.log.Warn("channel: unexpected message", "type", typeName(m), "channel", a.name)
	}
}

func (a *channelActor) contain(ctx actor.Context) {
	if r := recover(); r != nil {
		logPanic(a.app.log, r, ctx.Message(), "actor", "channel", "channel", a.name)
		if !a.failed {
			a.failed = true
			ctx.Send(ctx.Parent(), &channelFailed{channel: a.name, pid: ctx.Self()}) // before the subscribers hear of it
			ctx.Stop(ctx.Self())
		}
	}
}

// onStopped ends the count timer. A channel stopped by a panic still has
// subscribers: each is told (ChannelLost), and the webhooks hear the
// members and the channel go, as they will hear them come back.
func (a *channelActor) onStopped(ctx actor.Context) {
	if a.countTimer != nil {
		a.countTimer.Stop()
	}
	a.app.gauges.stopped(a.class, len(a.subs))
	if !a.failed || len(a.subs) == 0 {
		return
	}
	now := time.Now()
	for _, s := range a.subs {
		ctx.Send(s.conn, &ChannelLost{Channel: a.name, PID: ctx.Self(), SocketID: s.socketID})
	}
	removed, _ := a.auth.dropNode(localNode)
	for _, id := range removed {
		a.fact(&MemberRemoved{App: a.app.id, Channel: a.name, UserID: id, At: now})
	}
	a.fact(&ChannelVacated{App: a.app.id, Channel: a.name, At: now})
}

func (a *channelActor) onJoin(ctx actor.Context, m *Join) {
	a.joins++
	if _, ok := a.index[m.Conn.Id]; ok {
		ctx.Send(m.Conn, &Joined{Channel: a.name, PID: ctx.Self(), SocketID: m.SocketID})
		a.report(ctx)
		return
	}
	sub := newSubscriber(m, 0)
	var newMember bool
	if a.auth.presence {
		if m.Member == nil {
			ctx.Send(m.Conn, &JoinRefused{Channel: a.name, Message: "presence channels need channel_data", SocketID: m.SocketID})
			a.report(ctx)
			return
		}
		if !a.auth.canJoin(m.Member.UserID, a.app.config().MaxPresenceMembers) {
			ctx.Send(m.Conn, &JoinRefused{Channel: a.name, Message: "the presence channel has reached its member limit", SocketID: m.SocketID})
			a.report(ctx)
			return
		}
		sub.userID = m.Member.UserID
		newMember = a.auth.join(localNode, *m.Member)
	}
	if a.auth.subscribe(localNode) {
		a.fact(&ChannelOccupied{App: a.app.id, Channel: a.name, At: time.Now()})
	}
	if newMember {
		data := pusher.AppendMemberData(nil, *m.Member)
		a.broadcast(pusher.AppendEvent(nil, pusher.EventMemberAdded, a.name, string(data), ""), "")
		a.fact(&MemberAdded{App: a.app.id, Channel: a.name, UserID: m.Member.UserID, At: time.Now()})
	}
	a.index[m.Conn.Id] = len(a.subs)
	a.subs = append(a.subs, sub)
	a.app.gauges.subscribed(a.class, len(a.subs))

	data := "{}"
	if a.auth.presence {
		data = string(pusher.AppendPresenceData(nil, a.auth.memberList()))
	}
	// The counts reach the app before the client can act on its
	// subscription.
	a.report(ctx)
	answerJoin(m.Out, a.name, data, m.History) // and, on a recovery, the events missed
	if pusher.IsCache(a.name) {
		a.sendCached(m)
	}
	ctx.Send(m.Conn, &Joined{Channel: a.name, PID: ctx.Self(), SocketID: m.SocketID})
	a.countChanged(ctx)
}

// sendCached gives a new subscriber of a cache channel the last event, or
// pusher:cache_miss (with a cache_miss webhook) when there is none. Its
// data is "{}" rather than absent: webman's push.js parses every data.
func (a *channelActor) sendCached(m *Join) {
	if m.Cached != nil {
		m.Out.Send(m.Cached)
		return
	}
	m.Out.Send(pusher.AppendEvent(nil, pusher.EventCacheMiss, a.name, "{}", ""))
	a.fact(&CacheMissed{App: a.app.id, Channel: a.name, At: time.Now()})
}

// countChanged sends subscription_count now, or once a second has passed
// since the last one, so a busy channel sends at most one a second.
func (a *channelActor) countChanged(ctx actor.Context) {
	if !a.countEnabled || a.countTimer != nil {
		return
	}
	if wait := time.Second - time.Since(a.countSentAt); wait > 0 {
		self, root := ctx.Self(), a.app.system.Root
		a.countTimer = time.AfterFunc(wait, func() { root.Send(self, &countTick{}) })
		return
	}
	a.sendCount()
}

func (a *channelActor) onCountTick() {
	a.countTimer = nil
	a.sendCount()
}

func (a *channelActor) sendCount() {
	n := len(a.subs)
	if n == a.countSent {
		return
	}
	a.countSent, a.countSentAt = n, time.Now()
	data := strconv.AppendInt([]byte(`{"subscription_count":`), int64(n), 10)
	data = append(data, '}')
	a.broadcast(pusher.AppendEvent(nil, pusher.EventSubscriptionCount, a.name, string(data), ""), "")
	a.fact(&SubscriptionCountChanged{App: a.app.id, Channel: a.name, Count: n, At: a.countSentAt})
}

func (a *channelActor) onLeave(ctx actor.Context, conn *actor.PID) {
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
	a.app.gauges.unsubscribed(a.class, len(a.subs))

	if a.auth.presence && a.auth.leave(localNode, sub.userID) {
		data := pusher.AppendMemberData(nil, pusher.Member{UserID: sub.userID})
		a.broadcast(pusher.AppendEvent(nil, pusher.EventMemberRemoved, a.name, string(data), ""), "")
		a.fact(&MemberRemoved{App: a.app.id, Channel: a.name, UserID: sub.userID, At: time.Now()})
	}
	if a.auth.unsubscribe(localNode) {
		a.fact(&ChannelVacated{App: a.app.id, Channel: a.name, At: time.Now()})
	}
	a.countChanged(ctx)
	a.report(ctx)
}

// onPublish writes an event to the subscribers and observes an API event
// with its fan-out: one observation per publish, never per frame.
func (a *channelActor) onPublish(m *Publish) {
	fanout := a.app.fanout
	if m.Burst != nil {
		fanout = m.Burst
		defer m.Burst.Done()
	}
	n := broadcast(fanout, a.subs, m.Frame, m.Except, 0)
	if m.Event != "" {
		a.app.observe(Observation{Kind: ObservedPublish, Channel: a.name, Event: m.Event, Count: n})
	}
}

func (a *channelActor) onClientEvent(ctx actor.Context, m *PublishClientEvent) {
	i, ok := a.index[m.Sender.Id]
	if !ok || m.Channel != a.name {
		return // the sender left before its event arrived (and this name serves another channel now)
	}
	if a.app.config().History.on(a.name) {
		ctx.Send(ctx.Parent(), m) // the app numbers it, keeps it and publishes it back
	} else {
		a.broadcast(m.Frame, a.subs[i].socketID) // never echoed to the sender
	}
	a.fact(&ClientEventSent{App: a.app.id, Channel: a.name, Event: m.Event, Data: m.Data,
		SocketID: m.SocketID, UserID: m.UserID, At: time.Now()})
}

func (a *channelActor) onUsers(ctx actor.Context) {
	ctx.Respond(&UsersResponse{IDs: a.auth.memberIDs()})
}

// broadcast writes frame, encoded once, to every subscriber but the socket
// whose id is except, and returns to how many.
func (a *channelActor) broadcast(frame []byte, except string) int {
	return broadcast(a.app.fanout, a.subs, frame, except, 0)
}

// broadcast writes frame, shared once through fanout, to every subscriber
// in subs but the socket whose id is except and those whose member list
// already had member event seq (see newerMember; 0: not a member event),
// and returns to how many (server-side subscribers included). A
// server-side subscriber gets the frame itself (subscriberOut.deliver).
// Both kinds of channel actor fan out through it.
func broadcast(fanout Fanout, subs []*subscriber, frame []byte, except string, seq uint64) int {
	if len(subs) == 0 {
		return 0
	}
	sh := fanout.Share(frame)
	n := 0
	for _, s := range subs {
		if (except == "" || s.socketID != except) && (seq == 0 || newerMember(seq, s.fromSeq)) {
			if s.server != nil {
				s.server.deliver(frame)
				n++
				continue
			}
			s.out.SendShared(sh)
			n++
		}
	}
	sh.Release()
	return n
}

func (a *channelActor) report(ctx actor.Context) {
	ctx.Send(ctx.Parent(), &ChannelStats{Channel: a.name, PID: ctx.Self(),
		Subscriptions: a.auth.subscriptions(), Users: a.auth.users(), Joins: a.joins})
}

// fact tells the app's webhook actor, if it has one.
func (a *channelActor) fact(msg any) {
	a.app.fact(msg)
}
