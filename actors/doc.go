// Package actors is Herald's broker core on Proto.Actor: one actor per
// WebSocket connection, one per occupied channel, one per app, and the HTTP
// adapter through which every API request reaches them.
//
// # Topology
//
//	root
//	├── herald-api                 apiActor: routes API queries to apps by key
//	└── herald-app-{key}           appActor: one per configured app
//	    ├── conn-{socket_id}       connectionActor: one per socket
//	    └── ch-{n}-{channel}       channelActor: one per occupied channel
//
// # Who talks to whom
//
//	transport ──Connect (answer on a channel)──► app ──spawns, connectionInit──► connection
//	transport ──ClientFrame/BadFrame/Activity/SocketClosed──► connection
//	connection ──Join/Leave──► app ──routes/spawns──► channel
//	channel ──Joined/JoinRefused──► connection
//	connection ──PublishClientEvent──► channel
//	transport ──Trigger/Channels/Channel/UsersRequest──► api ──Forward──► app (──Forward──► channel)
//	channel ──ChannelStats──► app            (counts for queries; idle → app stops it)
//	channel ──facts (ChannelOccupied, MemberAdded, …)──► the app's webhook actor
//	channel, connection ──Outbound.Send/SendShared──► socket (transport)
//
// # Rules
//
// State is touched only inside Receive; nothing here takes a lock. The
// transport reaches actors only with messages (Broker's methods), and
// actors reach sockets only through Outbound, which queues and never
// blocks. Messages are pointer structs, never changed after sending.
//
// Fan-out encodes a frame once: the app encodes an API event once per
// channel, the connection encodes a client event once, and the channel
// hands the same bytes to every subscriber's Outbound (SendShared with a
// Fanout-prepared frame, so gws frames it once too).
//
// A channel actor exists while its channel has subscribers. A connection
// actor sends Leave for each of its channels when it stops, whatever
// stopped it, so a socket that dies without unsubscribing is removed (this
// costs nothing per socket, where Watch costs about a kilobyte). After
// every change it reports ChannelStats to
// its app; the app answers channel queries from those counts and stops the
// channel once it reports no subscribers and the app has sent it no Join
// since (Joins counts them), so stopping never drops a subscriber.
//
// Dispatch: every actor of a Broker runs its turns on the Broker's pool of
// long-lived goroutines (dispatcher.go) rather than on a new goroutine per
// turn; the Broker starts the pool and ends it after its actors stop.
//
// Supervision: an app stops (never restarts) a child whose Receive
// panicked; a restarted connection would silently forget its
// subscriptions. The socket is then closed with 4200 and the client
// reconnects.
//
// Names keep identity: the app actor is named by its key and a channel
// actor by its channel name (with a generation number, as a stopped
// channel's name is released only after it stops), so a cluster can later
// place channels by (app, channel) without changing the messages.
package actors
