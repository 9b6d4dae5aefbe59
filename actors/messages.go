package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/pusher"
)

// Messages are pointer structs, sent and matched as pointers. A message is
// never changed after it is sent; its byte slices belong to the receiver.

// ---- Commands ----

// Connect asks an app actor to spawn the actor of a new socket. The answer
// goes to Reply (buffered, so the app never waits), not through a future:
// a future per connection costs a registry entry, a timer and eleven
// allocations.
type Connect struct {
	SocketID string
	Out      Outbound
	Reply    chan<- *Connected
}

// Join asks a channel (through its app) to add a connection. Auth has been
// checked by the connection. The channel answers the connection with
// *Joined or *JoinRefused.
type Join struct {
	Channel  string
	Conn     *actor.PID
	Out      Outbound
	SocketID string
	// Member is set on presence channels.
	Member *pusher.Member
	// Cached is the cached event of a cache channel, set by the app; nil
	// on a cache channel means a cache miss.
	Cached []byte
	// Recover is the position a client re-subscribing asked to recover
	// from (pusher:subscribe's data.recover), nil when none.
	Recover *pusher.Position
	// History is set by the single-node app on a channel with history:
	// what subscription_succeeded tells and the events to replay.
	History *JoinHistory
}

// JoinHistory is what the authority of a channel with history gives a
// joining subscriber (history.go): the stream's position, for
// subscription_succeeded, and, when the subscriber asked to recover, the
// outcome and the events it missed, in order, sent right after
// subscription_succeeded and before any live event.
type JoinHistory struct {
	Position pusher.Position
	Recovery pusher.Recovery
	Missed   [][]byte
}

// Leave asks a channel (through its app) to remove a connection.
type Leave struct {
	Channel string
	Conn    *actor.PID
}

// Publish delivers an encoded event frame to a channel's subscribers, all
// but the socket whose id is Except. The app sends it to the channel.
type Publish struct {
	Channel string
	Frame   []byte
	Except  string
	// Event is the name of an API event (the app sets it, single node
	// only), which the channel observes with its fan-out; empty for the
	// frames it need not report.
	Event string
	// In a cluster, set when Frame is member_added or member_removed (from
	// the grain): whom it is about.
	MemberAdded, MemberRemoved string
	MemberSeq                  uint64 // the grain's number of that member event
	// In a cluster, on a channel with history: the stream's epoch and
	// Frame's offset in it (no Frame: a notice of the stream's position).
	Epoch  string
	Offset uint64
	// Burst, when set, is the API request's burst (single node): the
	// channel shares Frame through it and calls its Done once.
	Burst Burst
}

// PublishClientEvent relays a client event from one subscriber to the others.
// Frame is already encoded; Event, Data, SocketID and UserID feed the
// client_event webhook. On a channel with history the single-node channel
// hands it on to its app, which numbers it and publishes it back.
type PublishClientEvent struct {
	Channel  string
	Frame    []byte
	Sender   *actor.PID
	Event    string
	Data     string
	SocketID string
	UserID   string
}

// ---- Facts ----

// SignedIn tells the app a connection signed in (pusher:signin) as UserID.
// The connection sends SignedOut when it stops, after it: the app handles
// both in that order, so a signin can never outlive its connection.
type SignedIn struct {
	Conn      *actor.PID
	Out       Outbound
	SocketID  string
	UserID    string
	Watchlist []string
	// Success is the pusher:signin_success frame, which the app writes to
	// Out first, once it knows the user.
	Success []byte
}

// SignedOut tells the app a signed-in connection stopped.
type SignedOut struct{ Conn *actor.PID }

// Connected answers Connect with the new connection actor, or with the
// reason the app refused it (Refused set, Conn nil).
type Connected struct {
	Conn    *actor.PID
	Refused *RefusedError
}

// ClientFrame is a text frame a client sent, as received. Raw belongs to
// the connection actor, which decodes it. Ack, when set, is called with
// len(Raw) once the frame is handled: the transport counts the frames it
// handed over and stops reading a client that is ahead of its actor, so
// the mailbox stays bounded without cutting the client.
//
// From, here and in BadFrame, Activity and SocketClosed, is the socket the
// message is about (the Outbound the connection was started with): a
// connection actor's name is reused once it stops, and a message from its
// predecessor's socket is ignored. Tests may leave it nil.
type ClientFrame struct {
	Raw  []byte
	Ack  func(n int)
	From Outbound
}

// BadFrame reports a frame the transport will not hand over (a binary
// frame); the connection answers with pusher:error.
type BadFrame struct {
	Reason string
	From   Outbound
}

// Activity reports client traffic that is not a frame (a WebSocket ping).
type Activity struct{ From Outbound }

// SocketClosed reports that the socket is gone; the connection stops.
type SocketClosed struct{ From Outbound }

// ChannelLost tells a subscriber that the actor serving its channel
// failed: the subscription is gone and the client is told, so it can
// subscribe again.
type ChannelLost struct {
	Channel  string
	PID      *actor.PID
	SocketID string // whose subscription (a connection actor's name is reused)
}

// Joined tells a connection its subscription succeeded and which actor
// serves the channel.
type Joined struct {
	Channel  string
	PID      *actor.PID
	SocketID string // Join's, so that a connection ignores an answer meant for its name's predecessor
}

// JoinRefused tells a connection its subscription was refused by the
// channel (e.g. the presence member cap).
type JoinRefused struct {
	Channel  string
	Message  string
	SocketID string // Join's, as in Joined
}

// ChannelStats is a channel's report to its app after every change, so the
// app can answer channel queries without asking the channel. Joins counts
// the Joins the channel has handled: an idle channel is stopped only when
// the app has sent it no Join since.
type ChannelStats struct {
	Channel       string
	PID           *actor.PID
	Subscriptions int
	Users         int
	Joins         uint64
}

// Webhook facts: a channel reports these to its app's webhook actor.
type (
	ChannelOccupied struct {
		App, Channel string
		At           time.Time
	}
	ChannelVacated struct {
		App, Channel string
		At           time.Time
	}
	MemberAdded struct {
		App, Channel, UserID string
		At                   time.Time
	}
	MemberRemoved struct {
		App, Channel, UserID string
		At                   time.Time
	}
	ClientEventSent struct {
		App, Channel, Event, Data, SocketID, UserID string
		At                                          time.Time
	}
	CacheMissed struct {
		App, Channel string
		At           time.Time
	}
	SubscriptionCountChanged struct {
		App, Channel string
		Count        int
		At           time.Time
	}
)

// ---- Queries (RequestFuture from the transport through the HTTP adapter;
// answered by the app, or by the channel it forwards to) ----

// TriggerEvent is one event of a trigger or batch request.
type TriggerEvent struct {
	Name     string
	Data     string
	Channels []string
	SocketID string
	// Info lists the attributes wanted back: user_count, subscription_count.
	Info []string
}

// TriggerRequest publishes events. Batch selects the batch_events answer shape.
type TriggerRequest struct {
	App    string
	Events []TriggerEvent
	Batch  bool
}

// ChannelInfo is the state of one channel as the API reports it.
type ChannelInfo struct {
	Occupied      bool
	Subscriptions int
	Users         int
}

// TriggerResponse answers TriggerRequest: Channels[i] holds the info of
// Events[i]'s channels, when info was asked for.
type TriggerResponse struct {
	Channels []map[string]ChannelInfo
}

// ChannelsRequest lists occupied channels whose names start with Prefix.
type ChannelsRequest struct {
	App    string
	Prefix string
}

// ChannelsResponse answers ChannelsRequest.
type ChannelsResponse struct{ Channels map[string]ChannelInfo }

// ChannelRequest asks for one channel's state.
type ChannelRequest struct{ App, Channel string }

// ChannelResponse answers ChannelRequest. Cache is the cached event of a
// cache channel (nil when none); History the channel's stream, on a
// channel with history (nil when it has none).
type ChannelResponse struct {
	Info    ChannelInfo
	Cache   *CachedEvent
	History *HistoryInfo
}

// HistoryInfo is a channel's stream as the API reports it: its epoch, the
// offset of its newest event and how many events it holds.
type HistoryInfo struct {
	Epoch  string
	Offset uint64
	Events int
}

// CachedEvent is a cache channel's last event and how long it is kept.
type CachedEvent struct {
	Event, Data string
	TTL         time.Duration
}

// TerminateUserRequest closes every connection signed in as UserID.
type TerminateUserRequest struct{ App, UserID string }

// TerminateUserResponse answers TerminateUserRequest.
type TerminateUserResponse struct{ Closed int }

// UsersRequest lists the users of a presence channel. The app forwards it
// to the channel, which answers.
type UsersRequest struct{ App, Channel string }

// UsersResponse answers UsersRequest.
type UsersResponse struct{ IDs []string }

// ---- Embedding: what a Go program that embeds Herald sends an app
// (through Broker.Subscribe, Broker.WatchFacts, …) and what its actors
// receive ----

// AddSubscriber subscribes an actor of the embedding program to a
// channel, as a socket subscribes: the app hands it to the subscriber's
// stand-in (one per subscriber actor and app, spawned on first use),
// which joins the channel. The subscriber then gets *Subscribed, each
// event of the channel as *ChannelEvent, and *SubscriptionError if the
// subscription is refused or lost. Reply, when set, is called once, on
// the app's or the stand-in's turn, with nil once subscribed or the
// *SubscriptionError; it must not block.
type AddSubscriber struct {
	Channel    string
	Subscriber *actor.PID
	// Member is whom the subscriber joins a presence channel as (required
	// there, as for every presence subscription); ignored elsewhere.
	Member *pusher.Member
	Reply  func(error)
}

// RemoveSubscriber ends a subscription made with AddSubscriber. Events
// already sent may still arrive.
type RemoveSubscriber struct {
	Channel    string
	Subscriber *actor.PID
}

// WatchFacts has the app tell Watcher of every fact it tells its webhook
// actor (*ChannelOccupied, *ChannelVacated, *MemberAdded, *MemberRemoved,
// *ClientEventSent, *CacheMissed, *SubscriptionCountChanged), as they
// happen; with Debounce > 0, vacated and removed facts wait that long and
// are dropped, with the occupied or added fact that undoes them, as
// webhooks are. The app watches Watcher and forgets it when it stops.
// Reply, when set, is called once the watcher is registered (every fact
// from then on reaches it); it must not block.
type WatchFacts struct {
	Watcher  *actor.PID
	Debounce time.Duration
	Reply    func(error)
}

// UnwatchFacts ends a WatchFacts.
type UnwatchFacts struct{ Watcher *actor.PID }

// Subscribed tells a server-side subscriber (AddSubscriber) that its
// subscription to Channel of App (the app's key) is in place: every event
// published from now on reaches it, after this message.
type Subscribed struct{ App, Channel string }

// ChannelEvent is one event of a channel a server-side subscriber is
// subscribed to: an event published through the HTTP API or the embedding
// API, or a client event (its name starts with client-) sent on a private
// or presence channel. App is the app's key. UserID is the sender's user
// id on a presence channel's client event, "" otherwise.
type ChannelEvent struct {
	App, Channel string
	Event, Data  string
	UserID       string
}

// SubscriptionError tells a server-side subscriber that its subscription
// to Channel of App (the app's key) was refused (a presence channel
// without a member, the member cap, an invalid name, too many channels)
// or has ended without an Unsubscribe (the channel failed, the app was
// removed or stopped). The subscription is gone; it may subscribe again.
type SubscriptionError struct{ App, Channel, Reason string }

func (e *SubscriptionError) Error() string {
	return "subscription to " + e.Channel + ": " + e.Reason
}
