package actors

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/pusher"
)

// subscriberActor stands in for one actor of the embedding program (a
// server-side subscriber) toward one app's channels, as a connection
// actor does for a socket: a child of the app, it joins and leaves
// channels for it (Join, Leave to the app), and the channels write to its
// Outbound (subscriberOut), which sends the subscriber typed messages. It
// watches the subscriber and stops when the subscriber does; stopping
// leaves every channel, whatever stopped it.
//
// Delivery is Send to the subscriber's mailbox, from the channel actor's
// turn: it never blocks the channel. What bounds the memory a slow
// subscriber holds is its own mailbox (actor.BoundedDropping keeps the
// newest events; a blocking actor.Bounded mailbox would stall the channel
// and must not be used).
type subscriberActor struct {
	app      *appInfo
	target   *actor.PID
	out      *subscriberOut
	socketID string                // stands for a socket id in Join: unique per stand-in, never a client's
	subs     map[string]*serverSub // by channel
	gone     bool                  // the subscriber stopped
}

// serverSub is one channel of a server-side subscriber.
type serverSub struct {
	joined  bool
	replies []func(error) // AddSubscriber replies waiting for the channel's answer
}

func newSubscriberProps(app *appInfo, target *actor.PID, seq uint64) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &subscriberActor{app: app, target: target, socketID: "server-" + strconv.FormatUint(seq, 10),
			subs: make(map[string]*serverSub), out: &subscriberOut{root: app.system.Root, target: target, app: app.key}}
	}, app.dispatch)
}

// Receive handles the stand-in's messages. A panic stops it (its
// subscriber is told, as when the app stops).
func (a *subscriberActor) Receive(ctx actor.Context) {
	defer a.contain(ctx)
	switch m := ctx.Message().(type) {
	case *AddSubscriber:
		a.onAdd(ctx, m)
	case *RemoveSubscriber:
		a.onRemove(ctx, m)
	case *Joined:
		a.onJoined(m)
	case *JoinRefused:
		a.onJoinRefused(m)
	case *ChannelLost:
		a.onChannelLost(m)
	case *actor.Terminated:
		a.onTerminated(ctx, m)
	case *actor.Started:
		ctx.Watch(a.target)
	case *actor.Stopped:
		a.onStopped(ctx)
	case *actor.Stopping, *actor.Restarting:
	default:
		a.app.log.Warn("subscriber: unexpected message", "type", typeName(m))
	}
}

func (a *subscriberActor) contain(ctx actor.Context) {
	if r := recover(); r != nil {
		logPanic(a.app.log, r, ctx.Message(), "actor", "subscriber", "subscriber", a.target.String())
		ctx.Stop(ctx.Self())
	}
}

func (a *subscriberActor) onAdd(ctx actor.Context, m *AddSubscriber) {
	if s := a.subs[m.Channel]; s != nil {
		if s.joined {
			reply(m.Reply, nil)
		} else {
			s.replies = append(s.replies, m.Reply)
		}
		return
	}
	refuse := func(reason string) { a.refuse(m.Channel, reason, m.Reply) }
	switch kind := pusher.Kind(m.Channel); {
	case !pusher.ValidChannelName(m.Channel) || kind == pusher.ServerToUser:
		refuse("invalid channel name")
		return
	case len(a.subs) >= a.app.config().MaxChannelsPerConnection:
		refuse("too many channels (at most " + strconv.Itoa(a.app.config().MaxChannelsPerConnection) + ")")
		return
	case kind != pusher.Presence:
		m.Member = nil
	}
	a.subs[m.Channel] = &serverSub{replies: []func(error){m.Reply}}
	ctx.Send(ctx.Parent(), &Join{Channel: m.Channel, Conn: ctx.Self(), Out: a.out, SocketID: a.socketID, Member: m.Member})
}

func (a *subscriberActor) onRemove(ctx actor.Context, m *RemoveSubscriber) {
	s := a.subs[m.Channel]
	if s == nil {
		return
	}
	delete(a.subs, m.Channel)
	if s.joined {
		a.app.observe(Observation{Kind: ObservedUnsubscribe, Channel: m.Channel, SocketID: a.socketID})
	}
	a.answer(s, &SubscriptionError{App: a.app.key, Channel: m.Channel, Reason: "unsubscribed before it was in place"})
	ctx.Send(ctx.Parent(), &Leave{Channel: m.Channel, Conn: ctx.Self()})
}

func (a *subscriberActor) onJoined(m *Joined) {
	if s := a.subs[m.Channel]; s != nil && m.SocketID == a.socketID && !s.joined {
		s.joined = true
		a.app.observe(Observation{Kind: ObservedSubscribe, Channel: m.Channel, SocketID: a.socketID})
		a.answer(s, nil) // the subscriber has had Subscribed (subscriberOut) by now
	}
}

func (a *subscriberActor) onJoinRefused(m *JoinRefused) {
	if s := a.subs[m.Channel]; s != nil && m.SocketID == a.socketID && !s.joined {
		delete(a.subs, m.Channel)
		a.refused(m.Channel, m.Message)
		a.notify(s, m.Channel, m.Message)
	}
}

// onChannelLost forgets a subscription whose channel actor failed and
// tells the subscriber, which may subscribe again.
func (a *subscriberActor) onChannelLost(m *ChannelLost) {
	if s := a.subs[m.Channel]; s != nil && m.SocketID == a.socketID {
		delete(a.subs, m.Channel)
		a.notify(s, m.Channel, "the channel failed on the server: subscribe again")
	}
}

func (a *subscriberActor) onTerminated(ctx actor.Context, m *actor.Terminated) {
	if m.Who.Equal(a.target) {
		a.gone = true
		ctx.Stop(ctx.Self())
	}
}

// onStopped leaves every channel; a subscriber that is still there is
// told its subscriptions ended (the app stopped or was removed).
func (a *subscriberActor) onStopped(ctx actor.Context) {
	for ch, s := range a.subs {
		ctx.Send(ctx.Parent(), &Leave{Channel: ch, Conn: ctx.Self()})
		if a.gone {
			a.answer(s, &SubscriptionError{App: a.app.key, Channel: ch, Reason: "the subscriber stopped"})
			continue
		}
		a.notify(s, ch, "the app stopped")
	}
}

// refuse tells the subscriber (and reply) that a subscription to channel
// will not happen.
func (a *subscriberActor) refuse(channel, reason string, r func(error)) {
	a.refused(channel, reason)
	a.notify(&serverSub{replies: []func(error){r}}, channel, reason)
}

// refused observes a subscription refused to the subscriber: Code 0, as
// no subscription_error is sent.
func (a *subscriberActor) refused(channel, reason string) {
	a.app.observe(Observation{Kind: ObservedSubscribeRefused, Channel: pusher.Truncate(channel, pusher.MaxChannelNameLength),
		SocketID: a.socketID, Detail: reason})
}

// notify sends the subscriber a SubscriptionError for channel and answers
// the waiting replies with it.
func (a *subscriberActor) notify(s *serverSub, channel, reason string) {
	e := &SubscriptionError{App: a.app.key, Channel: channel, Reason: reason}
	a.app.system.Root.Send(a.target, e)
	a.answer(s, e)
}

// answer calls the replies waiting on s with err, once.
func (a *subscriberActor) answer(s *serverSub, err error) {
	for _, r := range s.replies {
		reply(r, err)
	}
	s.replies = nil
}

func reply(r func(error), err error) {
	if r != nil {
		r(err)
	}
}

// subscriberOut is the Outbound of a server-side subscriber: the channel
// actors call it on their turn, and it sends the subscriber what concerns
// it as typed messages, in the order the channel wrote them.
// subscription_succeeded becomes *Subscribed; member, count and cache-miss
// frames are left out (facts carry them: WatchFacts); every other event
// becomes *ChannelEvent. A fan-out hands it the frame itself (broadcast
// calls deliver), never a Shared, whose bytes are the transport's.
type subscriberOut struct {
	root   *actor.RootContext
	target *actor.PID
	app    string // the app's key
}

// Send delivers a frame written to this subscriber alone.
func (o *subscriberOut) Send(frame []byte) { o.deliver(frame) }

// SendShared is never called: broadcast calls deliver for subscriberOut.
func (o *subscriberOut) SendShared(Shared) {}

// Close does nothing: a server-side subscriber has no socket.
func (o *subscriberOut) Close(pusher.CloseCode, string) {}

// deliver decodes an event frame and sends the subscriber its message.
func (o *subscriberOut) deliver(frame []byte) {
	var f struct {
		Event   string          `json:"event"`
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
		UserID  string          `json:"user_id"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		return // every frame a channel writes is Herald's own encoding
	}
	switch {
	case f.Event == pusher.EventSubscriptionSucceeded:
		o.root.Send(o.target, &Subscribed{App: o.app, Channel: f.Channel})
	case strings.HasPrefix(f.Event, "pusher:"), strings.HasPrefix(f.Event, "pusher_internal:"):
	default:
		var data string
		if json.Unmarshal(f.Data, &data) != nil {
			data = string(f.Data)
		}
		o.root.Send(o.target, &ChannelEvent{App: o.app, Channel: f.Channel, Event: f.Event, Data: data, UserID: f.UserID})
	}
}
