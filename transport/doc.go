// Package transport is Herald's network edge: the WebSocket listener
// (Pusher protocol 7 at /app/{key}, on gws) and the HTTP API listener
// (Pusher's REST API under /apps/{id}/, /healthz, and mounted handlers such
// as the JavaScript client).
//
// Who talks to whom:
//
//	client ──gws read goroutine──► wsHandler.OnMessage ──ClientFrame──► connection actor
//	connection / channel actors ──Outbound.Send/SendShared──► socket ──gws write queue──► client
//	backend ──HTTP──► apiHandler ──Broker.Request──► HTTP adapter actor ──► app actor
//
// transport never touches actor state: it only sends messages (through
// actors.Broker) and implements actors.Outbound and actors.Fanout.
//
// Goroutines: gws runs one read goroutine per socket (started here,
// counted in wsHandler.loops, ended by closing the socket) and drains each
// socket's write queue on demand. Server runs one goroutine per listener,
// ended by Shutdown. Shutdown stops the listeners, closes every socket with
// 4200 so clients reconnect at once, and waits for the read loops.
//
// Limits: one inbound frame is at most MaxMessageSize bytes (gws closes a
// socket that sends more); a socket's write queue holds at most WriteQueue
// frames (then the socket is closed with 4100); an API body is at most
// MaxBodySize bytes (413); both listeners have header, read, write and
// idle timeouts, and a silent socket's read deadline is activity_timeout +
// pong_timeout + 10s.
package transport
