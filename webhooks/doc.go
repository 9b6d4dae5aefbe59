// Package webhooks delivers an app's webhooks: signed JSON POSTs that tell
// the app's backend when channels become occupied or vacated, when presence
// members come and go, and when clients send events.
//
// # Who talks to whom
//
//	channel actors ──facts──► dispatcherActor (one per app, NewProps)
//	                             │ debounce, filter, format, queue, batch
//	                             ▼
//	                       sender goroutine (one per endpoint) ──signed POST──► receiver
//	                             │
//	                             └──batchDone──► dispatcherActor
//	herald.Shutdown ──FlushRequest──► dispatcherActor ──FlushResponse──► herald.Shutdown
//
// Channel actors send the facts of actors/messages.go (*actors.ChannelOccupied,
// *actors.ChannelVacated, *actors.MemberAdded, *actors.MemberRemoved,
// *actors.ClientEventSent, *actors.CacheMissed,
// *actors.SubscriptionCountChanged) to their app's webhook actor. The
// actor never blocks on the network: its state (held events, per-endpoint
// queues, counters, flush waiters) lives in Receive, and all HTTP happens
// on sender goroutines that see only finished request bodies.
//
// # Debounce
//
// channel_occupied and member_added go out at once, unless they cancel a
// held channel_vacated or member_removed of the same channel (and user):
// then neither is sent. channel_vacated and member_removed are held for
// Config.Debounce (3s) and sent only if no matching occupied/added arrived
// meanwhile. So a page reload (unsubscribe and resubscribe within the
// window) sends nothing, and the receiver sees each channel alternate
// occupied, vacated, occupied… (each user added, removed, added…), never
// the same event twice. Held events leave in the order they were held.
// client_event, cache_miss and subscription_count go out at once; a
// subscription_count still queued for the same channel is updated in place
// rather than queued twice.
//
// # Formats
//
// Endpoint.Format "pusher" sends Pusher's events:
// channel_occupied, channel_vacated, member_added, member_removed,
// client_event (channel, event, data, socket_id, and user_id on presence
// channels), cache_miss, subscription_count. "webman" sends webman/push's:
// channel_added and channel_removed (from occupied and vacated),
// user_added and user_removed (from the member events, with channel and
// user_id); the other events have no webman equivalent and are not sent.
// Both bodies are {"time_ms": <Unix milliseconds>, "events": [...]}. Note
// that webman itself sends float seconds in time_ms, and numeric channel
// names and user ids as JSON numbers; Herald sends milliseconds, like
// Pusher, and strings. Endpoint.Events filters by the format's names.
//
// # Delivery
//
// Each endpoint has its own queue of at most Config.QueueSize events;
// events beyond it are dropped, counted (EndpointStats.Overflow, read
// with StatsRequest) and logged when the overflow starts and ends. A batch
// leaves when it holds BatchMax (20) events or its first event has waited
// BatchWindow (250ms); while a batch is in flight the next ones queue, and
// leave at once when it is done. Batches of one endpoint are delivered
// strictly in order: batch N+1 is not sent before batch N succeeded or was
// given up.
//
// Every request carries Content-Type: application/json, X-Pusher-Key (the
// app key), X-Pusher-Signature (hex HMAC-SHA256 of the raw body under the
// app secret) and the endpoint's Headers. A 2xx answer within Timeout (4s)
// is success. Anything else is retried with the same body (time_ms
// included) after 1s, 2s, 4s… up to 60s between tries (BackoffMin,
// BackoffMax; no jitter), for as long as the next try starts within
// RetryFor (5m) of the first; then the batch is dropped and logged with
// its event count and size, never its content or the secret.
//
// Config.Observer is told of each request delivered (status, duration,
// events), each failed attempt that will be retried, and the events
// dropped (retries exhausted, queue full, pending at stop, unencodable),
// from the actor and its senders, each naming the app by Config.App;
// Config.QueueDepth of the events queued or in flight whenever that
// changes, from the actor's turns. Log lines name the component and the
// app once (the actor adds them; a Logger given in Config should not).
// Herald gives an actor that a reload makes the same Observer and a
// QueueDepth of its own on the same gauge.
//
// Verify and Parse are the receiving side, for Go backends and tests.
//
// # Shutdown
//
// Herald.Shutdown (package herald, herald.go: stopHooks), once the
// listeners and the app actors have stopped, sends each webhook actor a
// *FlushRequest{Deadline} with RequestFuture, then stops it; Herald.Reload
// does the same, in the background, to an actor it replaces with one of
// new settings (the new one takes the events from then on). The request
// releases every held event, sends every queue without waiting for batch
// windows, and is answered *FlushResponse{Pending} when all is delivered
// or the deadline passed. Stopping the actor (Stop, Poison) cancels a
// request in progress and waits for the senders; events still undelivered
// are counted in a log line.
//
// # Goroutines and their owners
//
//   - One sender goroutine per endpoint, owned by the dispatcher actor:
//     started in *actor.Started, cancelled and waited for in
//     *actor.Stopping (and *actor.Restarting, before a restart builds new
//     ones). It reports each batch with a *batchDone to the actor.
//   - Clock.AfterFunc callbacks (debounce, batch window, flush deadline,
//     retry backoff) only send a message to the actor or wake the sender;
//     the actor stops its timers when it stops, and a tick that fires
//     anyway is ignored by generation or dropped as a dead letter without
//     a log line.
package webhooks
