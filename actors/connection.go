package actors

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/pusher"
)

// connectionActor is one client socket's protocol state: its
// subscriptions, its client-event rate limit and its heartbeat. The
// transport hands it each frame as received (ClientFrame), which it
// decodes; it answers through the socket's Outbound. Subscriptions are
// checked here (names, signatures, channel_data) and then joined through
// the app actor, which routes to the channel actor; the channel answers
// with Joined or JoinRefused.
//
// Heartbeat: after activity_timeout without client traffic the actor sends
// pusher:ping; with no traffic pong_timeout later it closes with 4201. It
// runs on its own timer (one pending at a time, sending heartbeatTick to
// the actor) rather than Proto.Actor's receive timeout, whose timer
// goroutine races with the mailbox (protoactor-go #1139), and so that a
// client message costs a time.Now instead of a timer reset.
type connectionActor struct {
	app          *appInfo
	socketID     string
	out          Outbound
	subs         map[string]*subscription
	limiter      tokenBucket
	lastActivity time.Time
	pingSentAt   time.Time // zero unless a ping awaits an answer
	beat         *time.Timer
	userID       string        // set by a successful pusher:signin
	authTimer    *time.Timer   // user_authentication_timeout, when the app sets one
	authMsg      *authDeadline // what authTimer sends: a late one meant for a predecessor is not it

	// Inbound backpressure: a subscribe frame is acknowledged to the
	// transport only once its Join is answered, so a client's joins in
	// flight (and so what it can queue at channels) are bounded by the
	// transport's inbound window, however fast it sends.
	ack     func(int) // the transport's ClientFrame.Ack
	held    []int     // sizes of frames whose ack waits for a Joined or JoinRefused
	holdAck bool      // the frame being handled sent a Join
}

// authDeadline fires user_authentication_timeout.
type authDeadline struct{}

// heartbeatTick wakes the heartbeat check.
type heartbeatTick struct{}

type subscription struct {
	pid    *actor.PID // nil until Joined
	kind   pusher.ChannelKind
	userID string
}

// connectionInit gives a new connection actor its socket. It is the first
// message the app sends it, right after spawning it: the Props are shared
// by every connection of an app (a Props per socket cost half a kilobyte).
type connectionInit struct {
	socketID string
	out      Outbound
}

func newConnectionProps(app *appInfo) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &connectionActor{app: app} // subs is made on the first subscribe
	}, app.dispatch)
}

// Receive handles the connection's messages. A panic stops the
// connection (contain), which closes its socket with 4200.
func (a *connectionActor) Receive(ctx actor.Context) {
	defer a.contain(ctx)
	switch m := ctx.Message().(type) {
	case *ClientFrame:
		a.onClientFrame(ctx, m)
	case *BadFrame:
		a.onBadFrame(ctx, m)
	case *Activity:
		a.onActivity(ctx, m)
	case *Joined:
		a.onJoined(m)
	case *JoinRefused:
		a.onJoinRefused(m)
	case *ChannelLost:
		a.onChannelLost(m)
	case *SocketClosed:
		a.onSocketClosed(ctx, m)
	case *heartbeatTick:
		a.onHeartbeat(ctx)
	case *authDeadline:
		a.onAuthDeadline(ctx, m)
	case *connectionInit:
		a.onInit(ctx, m)
	case *closeConnection:
		a.onClose(ctx, m)
	case *actor.Stopped:
		a.onStopped(ctx)
	case *actor.Started, *actor.Stopping, *actor.Restarting:
	default:
		a.app.log.Warn("connection: unexpected message", "type", typeName(m))
	}
}

func (a *connectionActor) contain(ctx actor.Context) {
	if r := recover(); r != nil {
		logPanic(a.app.log, r, ctx.Message(), "actor", "connection", "socket_id", a.socketID)
		ctx.Stop(ctx.Self())
	}
}

func (a *connectionActor) onInit(ctx actor.Context, m *connectionInit) {
	a.socketID, a.out = m.socketID, m.out
	a.limiter = newTokenBucket(a.app.config().ClientEventRate, time.Now())
	a.out.Send(pusher.ConnectionEstablished(a.socketID, int(a.app.timing.ActivityTimeout/time.Second)))
	a.lastActivity = time.Now()
	self, root := ctx.Self(), a.app.system.Root
	// The timers only send messages; every check runs in Receive.
	a.beat = time.AfterFunc(a.app.timing.ActivityTimeout, func() { root.Send(self, &heartbeatTick{}) })
	if d := a.app.config().UserAuthenticationTimeout; d > 0 {
		msg := &authDeadline{}
		a.authMsg = msg
		a.authTimer = time.AfterFunc(d, func() { root.Send(self, msg) })
	}
}

// onClose tells the client why with a pusher:error, closes the socket with
// the code and stops (onStopped leaves the channels).
func (a *connectionActor) onClose(ctx actor.Context, m *closeConnection) {
	if a.out != nil {
		a.out.Send(pusher.AppendError(nil, int(m.code), m.message))
		a.out.Close(m.code, m.message)
		a.app.observe(Observation{Kind: ObservedError, SocketID: a.socketID, Code: int(m.code), Detail: m.message})
	}
	ctx.Stop(ctx.Self())
}

// onStopped leaves every channel and signs out, whatever stopped the
// actor (the socket closed, a shutdown, a panic), so neither channels nor
// the user index keep a dead connection, and closes the socket if it is
// still open. Leave and SignedOut follow this actor's Join and SignedIn
// into the app's mailbox, so they are handled after them.
func (a *connectionActor) onStopped(ctx actor.Context) {
	if a.beat != nil {
		a.beat.Stop()
	}
	if a.authTimer != nil {
		a.authTimer.Stop()
	}
	for ch := range a.subs {
		ctx.Send(ctx.Parent(), &Leave{Channel: ch, Conn: ctx.Self()})
	}
	if a.userID != "" {
		ctx.Send(ctx.Parent(), &SignedOut{Conn: ctx.Self()})
	}
	if a.out != nil {
		a.out.Close(pusher.CloseReconnect, "")
	}
}

// onClientFrame decodes a frame here rather than on the socket's read
// goroutine, which then stays shallow and keeps a small stack.
// mine reports whether a message from the transport is about this
// connection's socket (from, nil in tests, is the socket it came from).
func (a *connectionActor) mine(from Outbound) bool { return from == nil || from == a.out }

func (a *connectionActor) onSocketClosed(ctx actor.Context, m *SocketClosed) {
	if a.mine(m.From) {
		ctx.Stop(ctx.Self())
	}
}

func (a *connectionActor) onClientFrame(ctx actor.Context, m *ClientFrame) {
	if !a.mine(m.From) {
		if m.Ack != nil {
			m.Ack(len(m.Raw))
		}
		return
	}
	a.holdAck = false
	if f, err := pusher.DecodeFrame(m.Raw); err != nil {
		a.touch()
		a.sendError(0, err.Error())
	} else {
		a.onFrame(ctx, f)
	}
	switch {
	case m.Ack == nil:
	case a.holdAck:
		a.ack = m.Ack
		a.held = append(a.held, len(m.Raw))
	default:
		m.Ack(len(m.Raw))
	}
}

// releaseAck acknowledges one held frame: a Join was answered.
func (a *connectionActor) releaseAck() {
	if n := len(a.held); n > 0 {
		a.ack(a.held[n-1])
		a.held = a.held[:n-1]
	}
}

// onAuthDeadline closes a connection that neither signed in nor holds a
// private or presence subscription (Pusher's authorized connections).
func (a *connectionActor) onAuthDeadline(ctx actor.Context, m *authDeadline) {
	if m != a.authMsg || a.userID != "" {
		return
	}
	for _, s := range a.subs {
		if s.pid != nil && s.kind.NeedsAuth() {
			return
		}
	}
	a.closeUnauthorized(ctx, "Connection not authorized within the timeout")
}

func (a *connectionActor) closeUnauthorized(ctx actor.Context, msg string) {
	a.sendError(int(pusher.CloseUnauthorized), msg)
	a.out.Close(pusher.CloseUnauthorized, msg)
	ctx.Stop(ctx.Self())
}

// onSignin checks pusher:signin: auth is key:HMAC(socket_id::user::user_data)
// and user_data a JSON object with a non-empty string id (and optionally a
// watchlist of at most 100 ids). A bad signin closes the socket with 4009.
func (a *connectionActor) onSignin(ctx actor.Context, raw json.RawMessage) {
	var d pusher.SigninData
	if err := json.Unmarshal(raw, &d); err != nil || d.UserData == "" {
		a.closeUnauthorized(ctx, "Invalid signin: data needs auth and user_data")
		return
	}
	if !pusher.VerifyAuth(a.app.key, d.Auth, pusher.UserSignature(a.app.config().Secret, a.socketID, d.UserData)) {
		a.closeUnauthorized(ctx, "Invalid signin: the signature does not match this socket and user_data")
		return
	}
	user, err := pusher.ParseUserData(d.UserData)
	if err != nil {
		a.closeUnauthorized(ctx, "Invalid signin: "+err.Error())
		return
	}
	if a.userID != "" && a.userID != user.ID {
		a.closeUnauthorized(ctx, "Invalid signin: this connection is signed in as another user")
		return
	}
	a.userID = user.ID
	data := pusher.AppendString([]byte(`{"user_data":`), d.UserData)
	data = append(data, '}')
	// The app writes signin_success: it knows the user before the client
	// can act on its signin, so an event to the user sent once the client
	// has seen it reaches the client.
	ctx.Send(ctx.Parent(), &SignedIn{Conn: ctx.Self(), Out: a.out, SocketID: a.socketID, UserID: user.ID, Watchlist: user.Watchlist,
		Success: pusher.AppendEvent(nil, pusher.EventSigninSuccess, "", string(data), "")})
}

func (a *connectionActor) onActivity(_ actor.Context, m *Activity) {
	if a.mine(m.From) {
		a.touch()
	}
}

func (a *connectionActor) touch() { a.lastActivity = time.Now() }

// onHeartbeat pings a client silent for activity_timeout and closes one
// that stayed silent pong_timeout after the ping; otherwise it sets the
// timer for the next moment either can happen.
func (a *connectionActor) onHeartbeat(ctx actor.Context) {
	now := time.Now()
	t := a.app.timing
	next := a.lastActivity.Add(t.ActivityTimeout)
	switch {
	case !a.pingSentAt.IsZero() && a.lastActivity.Before(a.pingSentAt):
		if now.Sub(a.pingSentAt) >= t.PongTimeout {
			a.out.Close(pusher.ClosePongTimeout, "Pong reply not received")
			ctx.Stop(ctx.Self())
			return
		}
		next = a.pingSentAt.Add(t.PongTimeout)
	case !now.Before(next):
		a.out.Send(pusher.PingFrame)
		a.pingSentAt = now
		next = now.Add(t.PongTimeout)
	default:
		a.pingSentAt = time.Time{}
	}
	a.beat.Reset(next.Sub(now))
}

func (a *connectionActor) onFrame(ctx actor.Context, f pusher.Frame) {
	a.touch()
	switch f.Event {
	case pusher.EventPing:
		a.out.Send(pusher.PongFrame)
	case pusher.EventPong:
	case pusher.EventSubscribe:
		a.onSubscribe(ctx, f.Data)
	case pusher.EventUnsubscribe:
		a.onUnsubscribe(ctx, f.Data)
	case pusher.EventSignin:
		a.onSignin(ctx, f.Data)
	default:
		if strings.HasPrefix(f.Event, pusher.ClientEventPrefix) {
			a.onClientEvent(ctx, f)
			return
		}
		if isPusherEvent(f.Event) {
			a.sendError(0, "Unknown event: "+pusher.Truncate(f.Event, 64))
			return
		}
		a.sendError(pusher.ErrCodeClientEventRejected, "Client event rejected - client events must be prefixed by 'client-'")
	}
}

func isPusherEvent(e string) bool {
	return strings.HasPrefix(e, "pusher:") || strings.HasPrefix(e, "pusher_internal:")
}

func (a *connectionActor) onBadFrame(_ actor.Context, m *BadFrame) {
	if a.mine(m.From) {
		a.sendError(0, m.Reason)
	}
}

func (a *connectionActor) onSubscribe(ctx actor.Context, raw json.RawMessage) {
	var d pusher.SubscribeData
	if err := json.Unmarshal(raw, &d); err != nil || d.Channel == "" {
		a.sendError(0, "pusher:subscribe needs data with a channel")
		return
	}
	kind := pusher.Kind(d.Channel)
	if kind == pusher.ServerToUser {
		a.onSubscribeUser(d.Channel)
		return
	}
	switch {
	case !pusher.ValidChannelName(d.Channel):
		a.refuse(d.Channel, 400, "Invalid channel name: at most 200 characters of A-Z a-z 0-9 _ - = @ , . ;")
		return
	case a.subs[d.Channel] != nil:
		return // already subscribed (or joining): a repeat is a no-op
	case len(a.subs) >= a.app.config().MaxChannelsPerConnection:
		a.refuse(d.Channel, 400, "Too many channels on one connection (at most "+strconv.Itoa(a.app.config().MaxChannelsPerConnection)+")")
		return
	}
	var member *pusher.Member
	if kind.NeedsAuth() {
		channelData := ""
		if kind == pusher.Presence {
			channelData = d.ChannelData
		}
		want := pusher.ChannelSignature(a.app.config().Secret, a.socketID, d.Channel, channelData)
		if !pusher.VerifyAuth(a.app.key, d.Auth, want) {
			a.refuse(d.Channel, 401, "Invalid signature: the auth for "+d.Channel+" does not match this socket and channel")
			return
		}
		if kind == pusher.Presence {
			m, err := pusher.ParseChannelData(d.ChannelData)
			if err != nil {
				a.refuse(d.Channel, 400, err.Error())
				return
			}
			member = &m
		}
	}
	sub := &subscription{kind: kind}
	if member != nil {
		sub.userID = member.UserID
	}
	if a.subs == nil {
		a.subs = make(map[string]*subscription, 1)
	}
	a.subs[d.Channel] = sub
	a.holdAck = true
	ctx.Send(ctx.Parent(), &Join{Channel: d.Channel, Conn: ctx.Self(), Out: a.out, SocketID: a.socketID, Member: member,
		Recover: pusher.ParseRecover(d.Recover)})
}

// onSubscribeUser answers pusher-js, which subscribes to its own
// #server-to-user-{id} channel after signin. Events reach it through the
// app's user index, so there is nothing to join; any other # channel is
// refused.
func (a *connectionActor) onSubscribeUser(channel string) {
	if a.userID == "" || channel != pusher.ServerToUserPrefix+a.userID {
		a.refuse(channel, 403, "Clients cannot subscribe to # channels other than their own #server-to-user- channel")
		return
	}
	a.out.Send(pusher.AppendEvent(nil, pusher.EventSubscriptionSucceeded, channel, "{}", ""))
	a.app.observe(Observation{Kind: ObservedSubscribe, Channel: channel, SocketID: a.socketID})
}

func (a *connectionActor) onUnsubscribe(ctx actor.Context, raw json.RawMessage) {
	var d pusher.SubscribeData
	if err := json.Unmarshal(raw, &d); err != nil || d.Channel == "" {
		a.sendError(0, "pusher:unsubscribe needs data with a channel")
		return
	}
	if a.subs[d.Channel] == nil {
		return // never joined: nothing changes
	}
	delete(a.subs, d.Channel)
	ctx.Send(ctx.Parent(), &Leave{Channel: d.Channel, Conn: ctx.Self()})
	a.app.observe(Observation{Kind: ObservedUnsubscribe, Channel: d.Channel, SocketID: a.socketID})
}

func (a *connectionActor) onJoined(m *Joined) {
	if m.SocketID != a.socketID {
		return // meant for the connection that had this actor's name before
	}
	a.releaseAck()
	if s := a.subs[m.Channel]; s != nil {
		if s.pid == nil {
			a.app.observe(Observation{Kind: ObservedSubscribe, Channel: m.Channel, SocketID: a.socketID})
		}
		s.pid = m.PID
	}
}

func (a *connectionActor) onJoinRefused(m *JoinRefused) {
	if m.SocketID != a.socketID {
		return // meant for the connection that had this actor's name before
	}
	a.releaseAck()
	if s := a.subs[m.Channel]; s != nil && s.pid == nil {
		delete(a.subs, m.Channel)
	}
	a.refuse(m.Channel, 403, m.Message)
}

// onChannelLost forgets a subscription whose channel actor failed and
// tells the client, which may subscribe again.
func (a *connectionActor) onChannelLost(m *ChannelLost) {
	if s := a.subs[m.Channel]; s != nil && s.pid != nil && s.pid.Id == m.PID.Id && m.SocketID == a.socketID {
		delete(a.subs, m.Channel)
		a.refuse(m.Channel, 500, "The channel failed on the server: subscribe again")
	}
}

func (a *connectionActor) onClientEvent(ctx actor.Context, f pusher.Frame) {
	reject := func(reason, msg string) {
		a.out.Send(pusher.AppendError(nil, pusher.ErrCodeClientEventRejected, "Client event rejected - "+msg))
		a.app.observe(Observation{Kind: ObservedClientRefused, Channel: pusher.Truncate(f.Channel, pusher.MaxChannelNameLength),
			Event: pusher.Truncate(f.Event, pusher.MaxEventNameLength), SocketID: a.socketID,
			Code: pusher.ErrCodeClientEventRejected, Detail: reason})
	}
	sub := a.subs[f.Channel]
	switch {
	case !a.app.config().ClientEvents:
		reject(ClientEventRefusedDisabled, "client events are not enabled for this app")
	case !pusher.Kind(f.Channel).AllowsClientEvents():
		reject(ClientEventRefusedChannel, "only supported on private and presence channels")
	case sub == nil || sub.pid == nil:
		reject(ClientEventRefusedNotSubscribed, "you are not subscribed to "+pusher.Truncate(f.Channel, 200))
	case !pusher.ValidEventName(f.Event):
		reject(ClientEventRefusedName, "invalid event name")
	case len(f.Data) > pusher.MaxDataSize:
		reject(ClientEventRefusedSize, "data is larger than 10 KB")
	case !a.limiter.allow(time.Now(), a.app.config().ClientEventRate):
		reject(ClientEventRefusedRate, "rate limit exceeded: at most "+strconv.Itoa(a.app.config().ClientEventRate)+" client events per second")
	default:
		data := string(f.Data)
		if data == "" {
			data = "{}"
		}
		frame := pusher.AppendEvent(make([]byte, 0, len(data)+len(f.Event)+len(f.Channel)+64), f.Event, f.Channel, data, sub.userID)
		ctx.Send(sub.pid, &PublishClientEvent{Channel: f.Channel, Frame: frame, Sender: ctx.Self(),
			Event: f.Event, Data: data, SocketID: a.socketID, UserID: sub.userID})
		a.app.observe(Observation{Kind: ObservedClientEvent, Channel: f.Channel, Event: f.Event, SocketID: a.socketID})
	}
}

// refuse answers a subscription that will not happen with
// pusher:subscription_error on that channel, which pusher-js re-emits on
// the channel object. It never contains the expected signature.
func (a *connectionActor) refuse(channel string, status int, msg string) {
	channel = pusher.Truncate(channel, pusher.MaxChannelNameLength)
	a.app.observe(Observation{Kind: ObservedSubscribeRefused, Channel: channel, SocketID: a.socketID, Code: status, Detail: msg})
	data := []byte(`{"type":"AuthError","error":`)
	data = pusher.AppendString(data, msg)
	data = append(data, `,"status":`...)
	data = strconv.AppendInt(data, int64(status), 10)
	data = append(data, '}')
	a.out.Send(pusher.AppendEvent(nil, pusher.EventSubscriptionError, channel, string(data), ""))
}

// sendError sends pusher:error and observes it.
func (a *connectionActor) sendError(code int, msg string) {
	a.out.Send(pusher.AppendError(nil, code, msg))
	a.app.observe(Observation{Kind: ObservedError, SocketID: a.socketID, Code: code, Detail: msg})
}
