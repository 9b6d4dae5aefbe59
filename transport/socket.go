package transport

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
	"github.com/lxzan/gws"
	"golang.org/x/sys/unix"
)

// Timings of a socket's write side.
const (
	// closeGrace is how long a socket may take to flush its queue and send
	// its close frame before the TCP connection is closed under it.
	closeGrace = 3 * time.Second
	// abortGrace is how long a socket cut for over capacity (4100) gets to
	// take its close frame: a client that does not read has a full TCP
	// buffer, and is cut when this passes.
	abortGrace = 2 * time.Second
	// writeStall is how long one write may block before the socket is
	// given up: a client that reads nothing for that long is gone.
	writeStall = 30 * time.Second
)

// maxBatch is the most bytes one writev takes from the queue (a frame
// larger than it goes alone).
const maxBatch = 64 << 10

// Inbound bounds: frames a socket has handed to its connection actor and
// the actor has not handled yet. Past either the read loop waits, so TCP
// pushes back on a client that sends faster than it is served.
const (
	maxInboundFrames = 64
	maxInboundBytes  = 256 << 10
)

// socket is one WebSocket's write side (the actors.Outbound of its
// connection) and the inbound bound of its read side.
//
// Writes: every frame the server sends to the client — events, errors,
// pongs, the close frame — goes through one queue, bounded in frames and
// in bytes. A writer goroutine, started when the queue gets its first
// frame (a burst's frames: when the burst ends, see burst.go) and ended
// when it is empty, writes what is queued in one writev (up to maxBatch
// bytes): a burst costs one syscall, not one per frame. Frames are
// framed here, not by gws: a server frame is not
// masked, so a fan-out frame is framed once and the same bytes go to
// every socket. A queue past either bound is dropped and the socket is
// cut with 4100: the close frame goes out if the client still takes it,
// and the connection is closed after abortGrace either way.
//
// gws keeps the upgrade and the read side. Its own writes (the answer to
// a client's close frame) cannot interleave with ours: a net.Conn's Write
// and writev hold the descriptor's write lock for the whole buffer.
//
// Any goroutine may call Send, SendShared and Close. The writer goroutine
// is owned by the socket: it ends when the queue is empty or a write
// fails, and a failed or closed socket never starts another.
type socket struct {
	nc     net.Conn
	limits *writeLimits

	flushFn    func() // s.flush, made once: starting the writer allocates nothing
	mu         sync.Mutex
	q          *outQueue // nil while idle: taken from queuePool by the first frame
	frames     int       // queued or being written
	bytes      int
	writing    bool            // a writer goroutine is running
	held       bool            // frames of a burst wait for it to end before the writer starts
	partial    bool            // q.frames[0] is the rest of a frame written in part: a 4100 cut keeps it
	raw        syscall.RawConn // plain TCP: a burst's end writes in place through it (nil: TLS)
	state      sockState       // open → closing → closed
	closeFrame []byte          // written after the queue once closing
	deadline   time.Time       // the write deadline last set
	// code is what Close or abortLocked closed with (0: the server did
	// not close it), for the disconnect observation.
	code pusher.CloseCode

	// Traffic, for metrics (wsHandler.traffic reads them at any time): the
	// frames the client sent, counted by the read loop, and the frames and
	// bytes written to it, counted by the writer once per writev, in the
	// socket's own atomics, so that a fan-out costs no shared counter per
	// frame.
	received, sent, sentBytes atomic.Uint64

	// Inbound: frames handed to the connection actor and not yet handled.
	inFrames atomic.Int32
	inBytes  atomic.Int64
	shut     atomic.Bool   // the socket left sockOpen: the read side drops frames
	waiting  atomic.Bool   // the read loop is waiting for the actor
	wake     chan struct{} // made by the read loop before it first waits
	ack      func(int)     // made once, so ClientFrame does not allocate it

	// Read side, set and read only on the socket's read goroutine (gws
	// calls OnOpen, OnMessage and OnClose there).
	app          *actors.App      // nil when the URL named no known app
	pid          *actor.PID       // the connection actor; nil until OnOpen spawned it
	ip           string           // the remote address, for the per-IP count
	remote       string           // the remote host:port, for observations
	opened       time.Time        // when OnOpen connected it
	id           string           // the socket id, for logs
	activitySent time.Time        // when OnPing/OnPong last told the actor
	refuse       pusher.CloseCode // when set, OnOpen closes with it instead of connecting
	refuseMsg    string
}

type sockState uint8

const (
	sockOpen sockState = iota
	sockClosing
	sockClosed
)

// writeLimits bound every socket's queue; one value is shared.
type writeLimits struct {
	frames, bytes int
	onOverflow    func(s *socket) // counts, logs and observes a 4100 cut
}

// outQueue is a socket's queue and its writer's scratch space. A socket
// holds one only while it has frames to write, so an idle socket costs
// none of it; the writer gives it back to queuePool when it ends.
type outQueue struct {
	frames []outFrame  // waiting to be written
	batch  []outFrame  // being written
	bufs   net.Buffers // batch as writev's buffers
	cur    net.Buffers // what WriteTo consumes (bufs' header, kept here so it does not escape per write)
}

var queuePool = sync.Pool{New: func() any { return &outQueue{} }}

// take moves the first frames of q, up to maxBatch bytes (at least one),
// into q.batch and returns how many and their bytes.
func (q *outQueue) take() (k, n int) {
	for k < len(q.frames) && (k == 0 || n+q.frames[k].size() <= maxBatch) {
		n += q.frames[k].size()
		k++
	}
	q.batch = append(q.batch[:0], q.frames[:k]...)
	rest := copy(q.frames, q.frames[k:])
	clear(q.frames[rest:])
	q.frames = q.frames[:rest]
	return k, n
}

// buffers makes q.bufs the batch's headers and bodies, in order.
func (q *outQueue) buffers() {
	q.bufs = q.bufs[:0]
	for i := range q.batch {
		f := &q.batch[i]
		if f.nhead > 0 {
			q.bufs = append(q.bufs, f.head[:f.nhead])
		}
		q.bufs = append(q.bufs, f.body)
	}
}

// release gives q back to the pool, holding no frame.
func (q *outQueue) release() {
	clear(q.frames)
	q.frames = q.frames[:0]
	queuePool.Put(q)
}

// outFrame is one queued frame: a header made here and a body, or a
// frame framed once for a fan-out (head empty).
type outFrame struct {
	head  [10]byte
	nhead uint8
	body  []byte
}

func (f *outFrame) size() int { return int(f.nhead) + len(f.body) }

func newSocket(nc net.Conn, limits *writeLimits) *socket {
	s := &socket{nc: nc, limits: limits}
	if tc, ok := nc.(*net.TCPConn); ok {
		s.raw, _ = tc.SyscallConn() // nil on error: the writer writes everything
	}
	s.ack = s.handled
	s.flushFn = s.flush
	return s
}

// Send queues a text frame. The caller must not modify frame afterwards.
func (s *socket) Send(frame []byte) { s.push(gws.OpcodeText, frame) }

// SendShared queues a frame framed once by Broadcaster (or the bytes of
// actors' plain fan-out, framed here). Any other Shared is not ours and
// is dropped before it takes a place in the queue.
func (s *socket) SendShared(f actors.Shared) {
	switch f := f.(type) {
	case sharedFrame:
		s.enqueue(outFrame{body: f})
	case burstFrame:
		s.enqueueIn(outFrame{body: f.frame}, f.b)
	case actors.PlainShared:
		s.push(gws.OpcodeText, f)
	}
}

// pong answers a WebSocket ping through the same queue, so a client that
// pings without reading fills it like any other.
func (s *socket) pong(payload []byte) {
	s.push(gws.OpcodePong, append([]byte(nil), payload...))
}

func (s *socket) push(op gws.Opcode, body []byte) {
	f := outFrame{body: body}
	f.nhead = uint8(putHeader(f.head[:], op, len(body))) //nolint:gosec // G115: a header is 2 to 10 bytes
	s.enqueue(f)
}

// enqueue adds f, or cuts the socket with 4100 when f would pass a bound.
func (s *socket) enqueue(f outFrame) { s.enqueueIn(f, nil) }

// enqueueIn adds f as enqueue does; with a burst b, the writer is started
// when b ends instead of now (unless one runs already, which takes f).
func (s *socket) enqueueIn(f outFrame, b *burst) {
	s.mu.Lock()
	if s.state != sockOpen {
		s.mu.Unlock()
		return
	}
	// One frame alone always fits, however large (a presence channel's
	// member list): a socket holds at most the bound plus one frame.
	if s.frames+1 > s.limits.frames || s.bytes > 0 && s.bytes+f.size() > s.limits.bytes {
		s.abortLocked(pusher.CloseOverCapacity, "Over capacity: the client is not reading fast enough")
		s.mu.Unlock()
		if s.limits.onOverflow != nil {
			s.limits.onOverflow(s)
		}
		return
	}
	s.queueLocked(f)
	switch {
	case b == nil || s.writing:
		s.startLocked()
	case s.held: // an earlier frame of a burst starts the writer
	case b.hold(s):
		s.held = true
	default: // b has ended already
		s.startLocked()
	}
	s.mu.Unlock()
}

// release writes the frames a burst held. On a plain TCP socket that no
// writer is writing, it makes one non-blocking writev on the caller's
// goroutine: a burst's end then starts no goroutine per socket (starting
// them all at once cost more scheduler work than their writes saved,
// BENCHMARKS.md). What the kernel does not take at once, and what was
// queued meanwhile, goes to the writer goroutine, the rest of a frame
// written in part first.
func (s *socket) release() {
	s.mu.Lock()
	s.held = false
	q := s.q
	switch {
	case s.writing || q == nil || len(q.frames) == 0 || s.state == sockClosed:
		s.mu.Unlock()
		return
	case s.raw == nil || s.state != sockOpen || len(q.frames) > maxInPlace:
		s.startLocked()
		s.mu.Unlock()
		return
	}
	s.writing = true // by this goroutine: frames queued meanwhile wait behind
	k, _ := q.take()
	s.partial = false
	s.mu.Unlock()

	q.buffers()
	w := inPlacePool.Get().(*inPlace)
	w.bufs = q.bufs
	err := s.raw.Write(w.fn)
	n, werr := w.n, w.err
	w.bufs, w.err = nil, nil
	inPlacePool.Put(w)
	clear(q.bufs)
	if errors.Is(werr, syscall.EAGAIN) { // the kernel took nothing: the writer waits for room
		werr = nil
	}
	if n < 0 {
		n = 0
	}
	if err == nil {
		err = werr
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || s.state == sockClosed {
		clear(q.batch)
		s.shutLocked()
		s.writing = false
		q.release()
		s.q = nil
		if err != nil {
			_ = s.nc.Close()
			s.wakeReader()
		}
		return
	}
	// The frames written whole leave the count; the rest go back to the
	// front of the queue, the first of them cut to what was not written.
	done, written := 0, n
	for done < k && written >= q.batch[done].size() {
		written -= q.batch[done].size()
		done++
	}
	if done < k {
		f := &q.batch[done]
		if written > 0 {
			rest := outFrame{body: f.body[max(written-int(f.nhead), 0):]}
			if written < int(f.nhead) { // not even the header went: the rest of it first
				rest.nhead = uint8(copy(rest.head[:], f.head[written:f.nhead])) //nolint:gosec // G115: at most 10 bytes
			}
			*f = rest
			s.partial = true
		}
		q.frames = append(q.frames, q.batch[done:k]...) // then moved to the front
		m := k - done
		copy(q.frames[m:], q.frames[:len(q.frames)-m])
		copy(q.frames[:m], q.batch[done:k])
	}
	clear(q.batch)
	s.frames -= done
	s.bytes -= n
	s.sent.Add(uint64(done))   //nolint:gosec // G115: frames written, never negative
	s.sentBytes.Add(uint64(n)) //nolint:gosec // G115: bytes written, never negative
	if len(q.frames) > 0 || s.closeFrame != nil {
		go s.flushFn() // owned by the socket, as startLocked's: s.writing stays set
		return
	}
	s.writing = false
	q.release() // an idle socket keeps no queue
	s.q = nil
}

// maxInPlace is the most frames release writes in place (more go to the
// writer, whose writev batches stay under the kernel's iovec limit).
const maxInPlace = 64

// inPlace is the scratch of one write in place, from inPlacePool so that
// a write allocates nothing: fn, bound once, is what RawConn.Write calls
// with the descriptor.
type inPlace struct {
	bufs [][]byte
	n    int
	err  error
	fn   func(fd uintptr) bool
}

var inPlacePool = sync.Pool{New: func() any {
	w := &inPlace{}
	w.fn = w.write
	return w
}}

// write makes one non-blocking writev (returning true tells RawConn.Write
// not to wait for the socket to drain).
func (w *inPlace) write(fd uintptr) bool {
	for {
		w.n, w.err = unix.Writev(int(fd), w.bufs)
		if !errors.Is(w.err, syscall.EINTR) {
			return true
		}
	}
}

// queueLocked appends f to the queue.
func (s *socket) queueLocked(f outFrame) {
	if s.q == nil {
		s.q = queuePool.Get().(*outQueue)
	}
	s.q.frames = append(s.q.frames, f)
	s.frames++
	s.bytes += f.size()
}

// startLocked starts the writer unless one runs.
func (s *socket) startLocked() {
	if !s.writing {
		s.writing = true
		go s.flushFn() // owned by the socket: ends when the queue is empty or a write fails
	}
}

// Close queues a close frame behind the frames already queued; the
// connection is closed once it is written, and at the latest closeGrace
// from now.
func (s *socket) Close(code pusher.CloseCode, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != sockOpen {
		return
	}
	s.state = sockClosing
	s.shut.Store(true)
	s.code = code
	s.closeFrame = closeFrame(code, reason)
	s.setDeadlineLocked(time.Now().Add(closeGrace))
	s.startLocked()
	s.wakeReader()
}

// abortLocked drops what is queued and closes with code: the close frame
// goes out as soon as the write in progress (if any) ends, and a write
// stuck on a client that does not read fails after abortGrace.
func (s *socket) abortLocked(code pusher.CloseCode, reason string) {
	s.state = sockClosing
	s.shut.Store(true)
	s.code = code
	if q := s.q; q != nil { // the batch being written, if any, is not in q: it goes out whole
		keep := 0
		if s.partial { // and so does a frame written in part
			keep = 1
		}
		for i := keep; i < len(q.frames); i++ {
			s.bytes -= q.frames[i].size()
		}
		s.frames -= len(q.frames) - keep
		clear(q.frames[keep:])
		q.frames = q.frames[:keep]
	}
	s.closeFrame = closeFrame(code, reason)
	s.setDeadlineLocked(time.Now().Add(abortGrace))
	s.startLocked()
	s.wakeReader()
}

// closed marks the socket gone (gws ended its read loop): nothing more is
// queued or written. It returns the code the server closed it with (0:
// the server did not close it).
func (s *socket) closed() pusher.CloseCode {
	s.mu.Lock()
	code := s.code
	s.shutLocked()
	if s.q != nil && !s.writing {
		s.q.release()
		s.q = nil
	}
	s.mu.Unlock()
	s.wakeReader()
	return code
}

// shutLocked marks the socket closed: nothing more is queued or written,
// the close frame included.
func (s *socket) shutLocked() {
	s.state = sockClosed
	s.shut.Store(true)
	s.closeFrame = nil
}

func (s *socket) setDeadlineLocked(t time.Time) {
	s.deadline = t
	_ = s.nc.SetWriteDeadline(t)
}

// flush is the writer: it writes what is queued in writevs of at most
// maxBatch bytes (so frames leave the count as they are written, not a
// whole backlog at once), again until the queue is empty, then the close
// frame if the socket is closing.
func (s *socket) flush() {
	for {
		s.mu.Lock()
		q := s.q
		if s.state == sockClosed || q == nil || len(q.frames) == 0 {
			s.writing = false
			cf := s.closeFrame
			s.closeFrame = nil
			if cf != nil {
				s.state = sockClosed
				s.shut.Store(true)
			}
			if q != nil { // an idle socket keeps no queue
				q.release()
				s.q = nil
			}
			s.mu.Unlock()
			if cf != nil {
				s.closeHandshake(cf)
			}
			return
		}
		k, n := q.take()
		s.partial = false // a partly written frame is first in the batch, which goes out whole
		if s.state == sockOpen {
			// A reading client never meets this deadline; it is moved
			// only when half of it has passed, not on every write.
			if now := time.Now(); s.deadline.Sub(now) < writeStall/2 {
				s.setDeadlineLocked(now.Add(writeStall))
			}
		}
		s.mu.Unlock()

		// q stays this socket's while the writer runs: only the writer
		// gives it back.
		q.buffers()
		q.cur = q.bufs
		_, err := q.cur.WriteTo(s.nc)
		clear(q.batch)
		clear(q.bufs)

		s.mu.Lock()
		s.frames -= k
		s.bytes -= n
		if err != nil {
			s.shutLocked()
			s.mu.Unlock()
			_ = s.nc.Close()
			s.wakeReader()
			continue // the top of the loop ends the writer and gives q back
		}
		s.mu.Unlock()
		s.sent.Add(uint64(k))      //nolint:gosec // G115: frames written, never negative
		s.sentBytes.Add(uint64(n)) //nolint:gosec // G115: bytes written, never negative
	}
}

// closeHandshake writes the close frame and shuts the write side: the
// client reads everything before it, answers with its own close (gws then
// closes the connection) or is cut closeGrace later. Closing at once
// would make the kernel answer a client still sending with a reset, which
// discards what it has not read yet, the close frame included.
func (s *socket) closeHandshake(cf []byte) {
	if _, err := s.nc.Write(cf); err == nil {
		if cw, ok := s.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			time.AfterFunc(closeGrace, func() { _ = s.nc.Close() })
			return
		}
	}
	_ = s.nc.Close()
}

// admitFrame counts a frame handed to the connection actor.
func (s *socket) admitFrame(n int) {
	s.inFrames.Add(1)
	s.inBytes.Add(int64(n))
}

// handled is the ClientFrame ack: the connection actor handled a frame of
// n bytes. It wakes the read loop if it waits.
func (s *socket) handled(n int) {
	s.inFrames.Add(-1)
	s.inBytes.Add(-int64(n))
	if s.waiting.Load() {
		s.wakeReader()
	}
}

func (s *socket) wakeReader() {
	if s.waiting.Load() {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// waitInbound blocks the read loop while the actor is behind by more than
// the inbound bounds, until it catches up or the socket closes.
func (s *socket) waitInbound() {
	if s.inFrames.Load() <= maxInboundFrames && s.inBytes.Load() <= maxInboundBytes {
		return
	}
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	s.waiting.Store(true)
	for (s.inFrames.Load() > maxInboundFrames || s.inBytes.Load() > maxInboundBytes) && !s.shut.Load() {
		<-s.wake
	}
	s.waiting.Store(false)
}

// putHeader writes the header of an unmasked, final frame of n bytes.
func putHeader(h []byte, op gws.Opcode, n int) int {
	h[0] = 0x80 | byte(op)
	switch {
	case n < 126:
		h[1] = byte(n) //nolint:gosec // G115: n < 126 in this case
		return 2
	case n <= 0xFFFF:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		return 4
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		return 10
	}
}

// closeFrame frames a close with code and reason (cut to fit a control
// frame's 125 bytes).
func closeFrame(code pusher.CloseCode, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	f := make([]byte, 4, 4+len(reason))
	f[0] = 0x80 | byte(gws.OpcodeCloseConnection)
	f[1] = byte(2 + len(reason)) //nolint:gosec // G115: reason is cut to 123 bytes above
	binary.BigEndian.PutUint16(f[2:], uint16(code))
	return append(f, reason...)
}

// sharedFrame is a text frame framed once for many sockets.
type sharedFrame []byte

// Release does nothing: the bytes are garbage collected once every
// socket has written them.
func (sharedFrame) Release() {}

// Broadcaster is the actors.Fanout of this transport: it frames each
// published event once, and every socket writes the same bytes. It has no
// state, so the zero value is ready before any server exists.
type Broadcaster struct{}

// Share frames frame once for every socket it is sent to.
func (Broadcaster) Share(frame []byte) actors.Shared { return frameText(frame) }

// frameText frames frame once as a text frame, for every socket.
func frameText(frame []byte) sharedFrame {
	var h [10]byte
	n := putHeader(h[:], gws.OpcodeText, len(frame))
	f := make([]byte, n+len(frame))
	copy(f, h[:n])
	copy(f[n:], frame)
	return f
}
