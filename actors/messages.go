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
}

// PublishClientEvent relays a client event from one subscriber to the others.
// Frame is already encoded; Event, Data, SocketID and UserID feed the
// client_event webhook.
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
// cache channel (nil when none).
type ChannelResponse struct {
	Info  ChannelInfo
	Cache *CachedEvent
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
