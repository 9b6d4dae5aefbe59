// Package transport is Herald's network edge: the WebSocket listener
// (Pusher protocol 7 at /app/{key}, on gws) and the HTTP API listener
// (Pusher's REST API under /apps/{id}/, /healthz, /readyz, and mounted
// handlers such as the JavaScript client), plain or over TLS.
//
// Who talks to whom:
//
//	client ──gws read goroutine──► wsHandler.OnMessage ──ClientFrame──► connection actor
//	connection / channel actors ──Outbound.Send/SendShared──► socket ──queue + writer goroutine (writev)──► client
//	backend ──HTTP──► apiHandler ──Broker.Trigger/Post/Channels/Channel/Users/TerminateUser──► HTTP adapter actor ──► app actor
//
// transport never touches actor state: it only sends messages (through
// actors.Broker) and implements actors.Outbound and actors.Fanout.
//
// Lifecycle: Listen opens the listeners before the broker is handed over
// (Serve): /healthz answers 200 at once, /readyz 503, and every other path
// (WebSocket upgrades, the API, mounts) 503 with a JSON body. Serve makes
// them ready. Drain turns /readyz back to 503, stops the WebSocket
// listener, closes every socket with 4200 so clients reconnect at once
// and waits for the read loops, while the API listener keeps answering
// /healthz; Shutdown then closes the listeners. A program that embeds
// Herald may open neither listener and serve Handler (the WebSocket
// endpoint) and APIHandler on its own http.Server: the readiness gate,
// Drain and the limits are the same.
//
// TLS: a listener with TLSFiles serves wss:// or https:// (HTTP/1.1). Its
// certificate is read through tls.Config.GetCertificate from an atomic
// pointer that ReloadCertificates swaps, so a renewed certificate reaches
// new handshakes without touching open connections. Update swaps the
// Limits (connection caps, origins, write queue bounds for new sockets,
// body size) and re-reads the apps' API quotas after a Broker.Reload;
// both are atomic pointers read by the handlers.
//
// Goroutines: gws runs one read goroutine per socket (started here,
// counted in wsHandler.loops, ended by closing the socket); each socket
// runs a writer goroutine while its queue holds frames (socket.flush), so
// frames that come close together leave in one writev. The frames of one
// API request to several channels (Broadcaster.Burst: an event naming
// several channels, or a batch) are held until the request's last channel
// has fanned out, then written in place on that channel's goroutine, one
// non-blocking writev per socket (socket.release); what the kernel does
// not take goes to the socket's writer. So a socket on several of the
// channels gets one write, and a burst starts no goroutine per socket.
// burst.go's timer (burstWait) ends a burst whose Publish was lost, on
// its own goroutine. (Writing every frame to an idle socket in place was
// tried and measured in BENCHMARKS.md: it lost the batching, 1.6–1.9 ×
// the CPU on bursts and publishes, and was taken out; a burst's end is
// the one place where every frame of the batch is already queued.)
// Server runs one goroutine per listener, ended by Shutdown.
//
// Config restates no default: every value comes from the caller (herald,
// from config); New refuses a zero where a value is required.
//
// Limits, everything a client controls bounded:
//   - one inbound frame is at most MaxMessageSize bytes (gws closes a
//     socket that sends more with 1009);
//   - frames handed to a connection actor and not yet handled are at most
//     64 frames or 256 KiB per socket (a subscribe counts until its join
//     is answered); past that the read loop waits, so a client that sends
//     faster than it is served is slowed by TCP, not cut;
//   - everything written to a socket (events, errors, pongs, close frames)
//     goes through its own queue of at most WriteQueue frames and
//     WriteQueueBytes bytes, written by the socket's writer goroutine in
//     writevs; past either bound the queue is dropped and the socket
//     closed with 4100 (the close frame goes out if the client still
//     reads; a write blocked for 2 s after the cut, or for 30 s at any
//     time, ends the connection);
//   - open sockets are capped per process (MaxConnections) and per remote
//     IP (MaxConnectionsPerIP): upgrades past them get 503 with a JSON
//     body, logged at warn once a second per cause with a count;
//   - an API body is at most MaxBodySize bytes (413), read only once the
//     request's auth_key, timestamp and signature parameters check out;
//     per-app quotas answer 429;
//   - both listeners have header, read, write and idle timeouts, and a
//     silent socket's read deadline is activity_timeout + pong_timeout + 10s.
//
// Panics: every gws callback recovers; a panic is logged with the app and
// socket id and closes that socket with 4200.
//
// Observations (Config.Observer): the read loop reports each socket's
// connect and disconnect (remote address, close code, how long it was
// open) and its refusals (4001, 4004, 4007); ServeHTTP the upgrades it
// refuses (403, 503); the API handler each request (route pattern,
// status, duration) and its 429s; a socket cut with 4100 is reported by
// whoever queued the frame that overflowed. For metrics each socket counts
// the frames it read and the frames and bytes it wrote (per writev), in
// its own atomics; Server.Traffic sums them by app at
// scrape time (with the totals of the sockets that closed), so a fan-out
// touches no shared counter. GET /metrics (Config.Metrics) is served on
// the API listener (and APIHandler) or on a plain-HTTP listener of its own
// (MetricsListen) with the same timeouts and a 4 KiB body limit, from
// Listen on: the readiness gate does not cover it.
package transport
