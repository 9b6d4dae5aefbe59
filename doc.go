// Package herald runs the Herald broker: a Pusher-protocol push server on
// Proto.Actor. cmd/herald is a thin main over it (Main); a Go program
// embeds the broker the same way, and gets, without HTTP, what a
// standalone backend gets through the HTTP API and webhooks.
//
// # Running the broker
//
//	cfg, err := config.Load(os.Args[1:], os.Environ()) // or config.Default() with your apps
//	h, err := herald.New(cfg, herald.Options{})
//	err = h.Start()
//	...
//	err = h.Reload(ctx, newCfg) // apps, log level, limits, webhooks, certificates
//	err = h.Shutdown(ctx)
//
// New wires the layers (config → webhooks, transport, dashboard → actors
// → pusher): one webhook actor per app that has webhooks, the listeners
// and the observers every layer reports to: the metrics at GET /metrics
// (metrics.go, unless metrics.enabled is false), one debug log line per
// observation at log.level debug (logobserver.go), the dashboard's hub
// and handler when it is on (dashboard.token, or dev mode: dashboard.go),
// and Options.Observers. Start
// opens the listeners (/healthz answers, /readyz says 503), starts the app
// and HTTP adapter actors (in a cluster: joins it), then serves (/readyz
// 200). Every value comes from the config.Config given: no layer below
// holds a default of its own.
//
// # Embedding in a Go program
//
// A program that already runs an actor.ActorSystem gives it as
// Options.System; the configuration is built in code from config.Default,
// and New checks it as config.Load checks a file (each app's per-app
// defaults filled in, then Validate). With Options.NoListeners the program
// serves Herald on its own http.ServeMux: Handler is the WebSocket
// endpoint, APIHandler the HTTP API (and /healthz, /readyz, /push.js).
//
//	system := actor.NewActorSystem()
//	cfg := config.Default()
//	cfg.Apps = []config.App{{Key: "app-key", Secret: "app-secret", ClientEvents: true}}
//	h, err := herald.New(cfg, herald.Options{System: system, NoListeners: true, Authorizer: authorize})
//	err = h.Start()
//	defer h.Shutdown(context.Background())
//	mux.Handle("/app/", h.Handler())              // pusher-js: wsHost, wsPort of your server
//	mux.Handle("/auth", h.AuthHandler("app-key")) // pusher-js: channelAuthorization.endpoint
//
// examples/embedded is a complete program: an actor that publishes on a
// timer, a chat bot in a presence channel, a Go authorizer.
//
// # Publishing
//
// Publish publishes an event on up to 100 channels of an app, as POST
// /events does, and returns once it is queued: the events of one caller
// reach every subscriber in the order they were published. An actor sends
// the same *Publish to PID instead; with a sender (ctx.Request,
// RequestFuture) it is answered *Done{Err}. A bad event is refused with a
// typed error (ErrInvalidChannel, ErrDataTooLarge, …; see errors.go),
// never half published. In-process publishes count against no API quota.
//
// # Server-side subscribers
//
// Subscribe makes an actor of the program a subscriber of a channel, as a
// socket is: it receives *Subscribed, then each event of the channel as a
// *ChannelEvent — those published through the HTTP API or this package,
// and the client events of private and presence channels (their names
// start with client-; on presence channels UserID says who sent them) —
// and a *SubscriptionError if the subscription is refused or ends without
// Unsubscribe. On a presence channel it joins as a member (Subscribe's
// UserID, UserInfo), which clients see. It counts as one subscription of
// the channel. Herald watches it: a subscriber that stops is removed, as a
// closed socket is. Subscribe and Unsubscribe are also messages to PID (a
// nil Subscriber then means the sender).
//
// Delivery is actor.Context Send from the channel's actor, which never
// waits for a subscriber: a subscriber slower than its channel queues the
// events in its own mailbox, and that mailbox is the program's to bound.
// Spawn subscribers with actor.WithMailbox(actor.BoundedDropping(n)) to
// keep the n newest messages; never with actor.Bounded, whose full mailbox
// would block the channel and every socket on it.
//
// In a cluster a subscriber is node-local, like a socket: it is served by
// its node's channel actor, which gets every event from the channel's
// grain wherever it was published.
//
// # Facts
//
// WatchFacts registers an actor to receive an app's facts as typed
// messages, in-process: *ChannelOccupied, *ChannelVacated, *MemberAdded,
// *MemberRemoved, *ClientEventSent, *CacheMissed and
// *SubscriptionCountChanged — what the app's webhooks carry, with nothing
// to configure, sign or retry. Each channel tells them in order as they
// happen; they are not debounced unless WatchFacts.Debounce asks, which
// then holds vacated and removed facts as webhooks.debounce holds
// webhooks. In a cluster each fact is told on the node of the channel's
// grain: register a watcher on every node.
//
// # Authorizing in-process
//
// Options.Authorizer is a Go function that decides private and presence
// subscriptions and user sign-ins, given the app, the socket id, the
// channel and the auth call's *http.Request (its cookies say who asks).
// Herald signs what it grants with the app's secret and answers the
// client; a refusal is a 403 with the error's text, which pusher-js
// reports as pusher:subscription_error (status 403). It is served at POST
// /auth/{app key} on the API listener and by AuthHandler on the program's
// mux; point pusher-js's channelAuthorization.endpoint and
// userAuthentication.endpoint, or Herald's client's auth, at it. The
// program needs no signing code.
//
// # Concurrency
//
// Herald's methods are safe for concurrent use once Start has returned;
// the embedding API refuses with ErrNotRunning before that and from
// Shutdown on. Publish, Unsubscribe and UnwatchFacts never block;
// Subscribe and WatchFacts wait for the app's answer, bounded by their ctx
// and api.request_timeout. The Authorizer is called concurrently, on the
// auth call's goroutine. Messages reach subscribers and watchers from
// Herald's actors, in order per channel.
//
// # Several Heralds in one ActorSystem
//
// Every actor Herald spawns at the root has a name unique in its system
// (herald-api$4, herald-app-{key}$5, herald-hooks-{key}$6,
// herald-gateway$7), so several Heralds, even with the same app keys,
// share an ActorSystem without colliding. Only a cluster member has a
// well-known actor (herald-node): one Herald per ActorSystem may join a
// cluster.
package herald
