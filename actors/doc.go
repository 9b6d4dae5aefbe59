// Package actors is Herald's broker core on Proto.Actor: one actor per
// WebSocket connection, one per occupied channel, one per app, and the HTTP
// adapter through which every API request reaches them.
//
// # Topology
//
//	root
//	├── herald-api$n               apiActor: routes API queries to apps by key
//	├── herald-app-{key}$n         appActor: one per configured app
//	│   ├── conn-{n}               connectionActor: one per socket
//	│   ├── ch-{n}                 channelActor (single node) or clusterChannelActor
//	│   │                          (cluster: the node-local half): one per occupied channel
//	│   ├── sub-{n}                subscriberActor: the stand-in of one server-side
//	│   │                          subscriber (an actor of the embedding program)
//	│   ├── facts-{n}              factDebouncer: one per debounced fact watcher
//	│   └── $n                     channelsGatherer (cluster): one per GET /channels
//	├── herald-node                nodeActor (cluster): takes the grains' Deliver and
//	│                              the other nodes' UserDeliver and ChannelsQuery
//	└── (cluster kind herald-channel) channelGrain: one per (app, channel) in the
//	                               cluster, and per watched user (#watch-{id})
//
// # Who talks to whom
//
//	transport ──Connect (answer on a channel)──► app ──spawns, connectionInit──► connection
//	transport ──ClientFrame/BadFrame/Activity/SocketClosed──► connection
//	connection ──Join/Leave──► app ──routes/spawns──► channel
//	channel ──Joined/JoinRefused──► connection
//	connection ──PublishClientEvent──► channel
//	transport ──Trigger/Channels/Channel/Users/TerminateUserRequest──► api ──Forward──► app (──Forward──► channel)
//	channel ──ChannelStats──► app            (counts for queries; idle → app stops it)
//	channel ──channelFailed──► app           (a panic stops it: forgotten before its subscribers hear)
//	channel ──PublishClientEvent──► app ──Publish──► channel   (channels with history: the app numbers it)
//	channel ──facts (ChannelOccupied, MemberAdded, …)──► the app's webhook actor, fact watchers
//	channel, connection ──Outbound.Send/SendShared──► socket (transport)
//	connection, stand-in, channel, app ──Observation──► Config.Observer (observe.go)
//
// A program that embeds Herald (package herald) adds server-side
// subscribers and fact watchers, its own actors:
//
//	herald ──AddSubscriber/RemoveSubscriber──► app ──► stand-in ──Join/Leave──► app ──► channel
//	channel ──subscriberOut (Subscribed, ChannelEvent)──► the program's subscriber
//	stand-in ──SubscriptionError──► the program's subscriber (refused, lost)
//	herald ──WatchFacts/UnwatchFacts──► app (watchers, read by every fact: appInfo.watchers)
//	channel, grain ──facts──► watcher (or its factDebouncer ──► watcher)
//
// A stand-in joins channels as a connection does, so a server-side
// subscriber counts as a subscription, is a presence member when it gives
// one, and is node-local in a cluster. The channel hands its Outbound
// (subscriberOut) the frame itself rather than a Shared, and it sends the
// subscriber typed messages with Send, never waiting: the subscriber's
// mailbox is the embedding program's to bound. The stand-in watches the
// subscriber and stops with it, leaving its channels; the app watches fact
// watchers and forgets those that stop.
//
// In a cluster (cluster.go, docs/cluster.md) the counting moves to the
// grains; every message that crosses a node is a clusterpb protobuf:
//
//	cluster channel ──NodeState, JoinCheck, Publish (client events)──► grain
//	app ──Publish (API events), InfoRequest──► grain
//	grain ──Deliver (events, member events, subscription_count)──► every node's node actor ──► app ──► cluster channel
//	app ──UserDeliver──► every node's node actor ──► app (its user index)
//	gatherer ──ChannelsQuery──► every node's node actor ──Forward──► app
//	grain ──facts──► its node's webhook actor of the app
//	grain ──StateRequest (a rebuilt grain, once)──► every node's node actor ──► app ──resync──► cluster channel ──NodeState──► grain
//
// Grains are resolved off the actors (cluster.Get can wait out its timeout
// for a node that just died): the cluster channel and the app start the
// resolution on a goroutine of its own and keep serving; what needs the
// grain (a node's state, client events, joins, API publishes, in order)
// waits for grainResolved/appGrainResolved, bounded.
//
// # History
//
// On channels with history (history.go, docs/recovery.md) the channel's
// authority numbers each event (its offset, written into the frame once
// before the frame is shared), keeps the last ones in a ring with the
// stream's epoch, and hands a recovering Join the events it missed in the
// same turn as the Join, so the replay ends exactly where the live stream
// continues. The authority is the app actor in single-node mode (its rings
// outlive the channel actors: a channel with no subscribers keeps its
// history for the ttl) and the grain in a cluster (a rebuilt grain is a new
// epoch, which the node-local channels tell their subscribers).
//
// # Reload
//
// Broker.Reload changes the apps while they run. An app's settings live in
// its appInfo behind an atomic pointer, swapped whole and read once per
// decision (a subscription's signature, a Connect's quota, a fact's
// webhook actor), so a changed secret or limit applies from the next one
// on and no actor keeps a copy. The Broker's app set is an atomic pointer
// too, read by the transport; the HTTP adapter and the node actor get the
// new routes by message (setRoutes), before the set is published. A
// removed app gets retire: it refuses Connect (4001), tells each of its
// connections closeConnection (pusher:error and close 4001, then stop)
// and stops once they have; Reload waits for it. Config and AppConfig
// restate no default: Start and Reload refuse a zero where a value is
// required (config fills them).
//
//	herald ──Broker.Reload──► api, node: setRoutes; removed app: retire ──closeConnection──► connection
//
// # Rules
//
// State is touched only inside Receive; nothing here takes a lock. The
// transport reaches actors only with messages, through Broker's methods:
// one per operation, each with its typed message and answer (ClientFrame,
// Trigger, Channels, …; a query's answer or ErrUnknownApp, ErrNoAnswer),
// and actors reach sockets only through Outbound, which queues and never
// blocks. Messages are pointer structs, never changed after sending.
//
// Fan-out encodes a frame once: the app encodes an API event once per
// channel, the connection encodes a client event once, and the channel
// hands the same bytes to every subscriber's Outbound (SendShared with a
// Fanout-prepared frame, so gws frames it once too). When one API request
// reaches two channel actors or more, the app asks the Fanout for a Burst
// (BurstFanout) and sends it with each Publish: the channels share their
// frames through it and call Done, and the transport writes a socket's
// frames of the whole request at once.
//
// The channel's authority — what a cluster must count once per (app,
// channel): subscriptions per node, presence members per (user, node),
// occupancy — is a plain value (authority.go) the channel actor owns in
// single-node mode; in a cluster the channel's grain owns the same value
// (docs/cluster.md).
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
// Panics: every Receive recovers (contain), logs the panic with the app,
// socket id and channel, and costs only what panicked. A connection stops
// (its socket is closed with 4200 and the client reconnects; a restart
// would silently forget its subscriptions); a channel tells its app
// (channelFailed), stops and tells its subscribers (ChannelLost →
// subscription_error, status 500), who can subscribe again at once: the
// app has forgotten the stopping actor and spawns a new one; an app drops the message and goes on, so one bad
// message never stops every connection of an app.
//
// Backpressure: a connection acknowledges a client's frame to the
// transport once handled, and a subscribe once its Join is answered, so
// what one client can queue at its connection and at channels is bounded
// by the transport's inbound window.
//
// Observations: with Config.Observer set, the actors report what an
// operator watches (observe.go): the connection its subscriptions,
// refusals, unsubscribes, client events and the errors it sends; a
// server-side subscriber's stand-in the same for its subscriptions (its
// SocketID is its pseudo id, "server-3"); the channel each API event it
// fanned out, with the number of subscribers it wrote to; the app what
// reached no channel actor. One observation per such event, never one per
// delivered frame; a nil Observer costs a nil check. Channel actors also
// keep their app's Gauges (gauges.go): subscriptions and channels by
// class, as atomics the metrics read at scrape time, the one shared state
// of this package, written on subscribe and leave only. Gauges and the
// Observer belong to appInfo, so a reload keeps both for the apps that
// stay.
//
// Names: an app numbers its children (conn-7, ch-12, sub-3) and reuses
// the numbers of those that terminated (names.go), so Proto.Actor's
// process registry, whose maps never shrink, stays the size of the peak
// number of actors rather than growing with every connection ever made.
// The actors a Broker (and package herald) spawn at the root end in an id
// unique in the ActorSystem (UniqueName), so several Brokers share one;
// only the node actor of a cluster member has a well-known name.
package actors
