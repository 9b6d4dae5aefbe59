package transport

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
	"github.com/lxzan/gws"
)

// closeGrace is how long a socket may take to flush its queue and send its
// close frame before the TCP connection is closed under it.
const closeGrace = 3 * time.Second

// socket is the write side of one WebSocket, the actors.Outbound of its
// connection. Every frame goes through gws's per-connection async queue,
// which writes in order on one goroutine at a time; socket bounds that
// queue (gws's is unbounded) by counting frames in flight. A socket whose
// queue fills (a client that does not read) is closed with 4100 at once:
// the queued frames are dropped, not written.
//
// Any goroutine may call Send, SendShared and Close; the counters are
// atomic. gws owns the goroutine that drains the queue.
type socket struct {
	conn    *gws.Conn
	limit   int32
	pending atomic.Int32 // frames queued for writing
	inbound atomic.Int32 // frames handed to the connection actor, not yet handled
	closing atomic.Bool
	done    func() // decrements pending; made once so SendShared does not allocate it
	sent    func(error)
	// app and pid are set and read only on the socket's read goroutine
	// (gws calls OnOpen, OnMessage and OnClose there).
	app *actors.App // nil when the URL named no known app
	pid *actor.PID  // the connection actor; nil until OnOpen spawned it
	// refuse, when set, is the close code OnOpen answers with (unknown app,
	// unsupported protocol) instead of starting a connection.
	refuse    pusher.CloseCode
	refuseMsg string
}

func newSocket(conn *gws.Conn, limit int) *socket {
	s := &socket{conn: conn, limit: int32(limit)}
	s.done = func() { s.pending.Add(-1) }
	s.sent = func(error) { s.pending.Add(-1) }
	return s
}

// Send queues frame.
func (s *socket) Send(frame []byte) {
	if !s.reserve() {
		return
	}
	s.conn.WriteAsync(gws.OpcodeText, frame, s.sent)
}

// SendShared queues a frame framed once by gws's Broadcaster.
func (s *socket) SendShared(f actors.Shared) {
	if !s.reserve() {
		return
	}
	switch f := f.(type) {
	case *shared:
		_ = f.b.Broadcast(s.conn)
		s.conn.Async(s.done)
	case actors.PlainShared:
		s.conn.WriteAsync(gws.OpcodeText, f, s.sent)
	}
}

// reserve counts one more frame in flight, or closes the socket with 4100
// when its queue is full.
func (s *socket) reserve() bool {
	if s.closing.Load() {
		return false
	}
	if s.pending.Add(1) > s.limit {
		s.pending.Add(-1)
		s.abort(pusher.CloseOverCapacity, "Over capacity: the client is not reading fast enough")
		return false
	}
	return true
}

// Close queues a close frame behind the frames already queued, and closes
// the connection when it is written or closeGrace has passed.
func (s *socket) Close(code pusher.CloseCode, reason string) {
	if !s.closing.CompareAndSwap(false, true) {
		return
	}
	s.conn.Async(func() { _ = s.conn.WriteClose(uint16(code), []byte(reason)) })
	time.AfterFunc(closeGrace, s.forceClose)
}

// abort closes at once: gws marks the connection closed, so queued frames
// are skipped, and the close frame goes out as soon as the write in
// progress (if any) ends. A write stuck on a stalled client is ended by
// forceClose after closeGrace.
func (s *socket) abort(code pusher.CloseCode, reason string) {
	if !s.closing.CompareAndSwap(false, true) {
		return
	}
	// This goroutine only waits for gws's write lock and ends with the
	// close; forceClose bounds how long that can take.
	go func() { _ = s.conn.WriteClose(uint16(code), []byte(reason)) }()
	time.AfterFunc(closeGrace, s.forceClose)
}

func (s *socket) forceClose() { _ = s.conn.NetConn().Close() }

// shared is a frame framed once for many sockets.
type shared struct{ b *gws.Broadcaster }

func (f *shared) Release() { _ = f.b.Close() }

// Broadcaster is the actors.Fanout of this transport: it frames each
// published event once with gws's Broadcaster. It has no state, so the
// zero value is ready before any server exists.
type Broadcaster struct{}

// Share frames frame once for every socket it is sent to.
func (Broadcaster) Share(frame []byte) actors.Shared {
	return &shared{b: gws.NewBroadcaster(gws.OpcodeText, frame)}
}
