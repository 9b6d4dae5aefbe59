// Package dashboard is the data side of Herald's live dashboard and debug
// console at /dashboard/ on the API listener: a Hub that observes the
// broker, and a Handler that serves what it saw, plus the channel lists it
// asks the broker for. The page itself (HTML, CSS, JavaScript) lives in
// web and is handed to the Handler.
//
// Who talks to whom:
//
//	actors, transport, webhooks ──Observe(*actors.Observation)──► Hub (ring, per-app counters, streams' buffers)
//	browser ──GET /dashboard/api/events (SSE)──► Handler ──takes from its buffer──► Hub
//	browser ──GET /dashboard/api/overview, channels──► Handler ──Broker.Channels──► actors.Broker
//
// The herald package makes the Hub one of the broker's observers when the
// dashboard is on (dashboard.token, or dev mode) and mounts the Handler.
// The Hub sees what the metrics see (the same call sites), names apps as
// observations do (actors.App.Name) and counts as the metrics do: API
// requests, publishes and client events, webhook events delivered and
// dropped, webhook requests retried.
//
// # Concurrency
//
// Observe is called on whatever goroutine reports (an actor's turn, a
// socket's read loop, an HTTP handler) and never blocks: it copies the
// observation into the ring and into each stream's buffer under short
// locks, and wakes the stream through a one-slot channel. A stream's
// buffer is bounded (HubConfig.ClientBuffer): a dashboard that does not
// keep up, or has stopped reading, loses its own newest observations and
// is told how many (a "dropped" event); nobody else waits for it. No lock
// is held across I/O: a stream takes what waits, releases the lock, then
// writes.
//
// Goroutines: none of the package's own. Each event stream runs on its
// request's goroutine (owned by net/http) and ends when the client goes,
// when a write stalls for writeWait, or when Hub.Close is called, which
// herald does just before it closes the API listener, so that
// http.Server.Shutdown is not kept waiting by streams that never idle.
//
// # Limits
//
// The ring keeps HubConfig.Recent observations (1000), each field clipped
// to a few hundred bytes; at most maxStreams (16) streams are open; a
// channel list holds at most maxChannels (500) channels, the busiest, and
// is reused for channelsTTL (2 s) however many dashboards ask. Counts are
// this process's: in a cluster each node's dashboard shows its own
// connections and traffic, while channel lists are the cluster's.
//
// # Secrets
//
// The token is compared in constant time (of its SHA-256) and never
// logged. Observations carry no secret, no signature and no event data,
// and nothing here adds any; an app's key is shown (clients connect with
// it), its secret never.
package dashboard
