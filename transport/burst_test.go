package transport

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
)

// recConn is a net.Conn that records what is written to it. It is not a
// *net.TCPConn, so net.Buffers.WriteTo calls Write once per buffer: the
// tests count the writer's batches by its starts instead (one start, one
// writev here: the frames are far below maxBatch).
type recConn struct {
	sinkConn
	gate chan struct{} // when set, the first Write waits for it to close
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (c *recConn) Write(p []byte) (int, error) {
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *recConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}

// burstSocket is a socket over a recConn whose writer starts are counted.
func burstSocket(t *testing.T) (*socket, *recConn, *atomic.Int32) {
	t.Helper()
	nc := &recConn{sinkConn: sinkConn{closed: make(chan struct{})}}
	s := newSocket(nc, &writeLimits{frames: 64, bytes: 1 << 20})
	starts := new(atomic.Int32)
	s.flushFn = func() { starts.Add(1); s.flush() }
	t.Cleanup(func() { _ = nc.Close() })
	return s, nc, starts
}

// framed is what a socket writes for frame: Broadcaster's framing.
func framed(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, Broadcaster{}.Share(f).(sharedFrame)...)
	}
	return out
}

// putFrame is what Send writes for frame: a header made by the socket.
func putFrame(frame []byte) []byte {
	var h [10]byte
	n := putHeader(h[:], 1, len(frame))
	return append(h[:n:n], frame...)
}

func waitWritten(t *testing.T, c *recConn, want []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !bytes.Equal(c.written(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("written %q, want %q", c.written(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func held(s *socket) (held, writing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held, s.writing
}

// A burst's frames to one socket wait until every channel of the burst is
// done, then leave together: one writer start, one writev, in order.
func TestBurstHoldsFramesUntilItsLastChannel(t *testing.T) {
	s, nc, starts := burstSocket(t)
	b := Broadcaster{}.Burst(3)
	f1 := pusher.AppendEvent(nil, "e", "a", `{"n":1}`, "")
	f2 := pusher.AppendEvent(nil, "e", "b", `{"n":2}`, "")
	s.SendShared(b.Share(f1))
	b.Done() // channel a
	s.SendShared(b.Share(f2))
	b.Done() // channel b
	if h, w := held(s); !h || w {
		t.Fatalf("held %v, writing %v before the burst ended: want held, no writer", h, w)
	}
	if got := starts.Load(); got != 0 {
		t.Fatalf("writer started %d times before the burst ended", got)
	}
	b.Done() // channel c, which this socket is not on: the burst ends
	waitWritten(t, nc, framed(f1, f2))
	if got := starts.Load(); got != 1 {
		t.Fatalf("writer started %d times for one burst, want 1", got)
	}
	if h, _ := held(s); h {
		t.Fatal("still held after the burst ended")
	}
}

// A Publish of a burst that never reaches its channel (the channel actor
// stopped meanwhile) holds the other frames for burstWait at most.
func TestBurstWithALostPublishEndsByItself(t *testing.T) {
	s, nc, starts := burstSocket(t)
	b := Broadcaster{}.Burst(2)
	f := pusher.AppendEvent(nil, "e", "a", `{}`, "")
	s.SendShared(b.Share(f))
	b.Done() // the other Done never comes
	waitWritten(t, nc, framed(f))
	if got := starts.Load(); got != 1 {
		t.Fatalf("writer started %d times, want 1", got)
	}
	b.Done() // a late Done after the timer ended it changes nothing
}

// A frame of a burst to a socket whose writer runs is not held: the
// writer takes it. One to a burst that ended is written at once.
func TestBurstNeverDelaysABusyOrEndedSocket(t *testing.T) {
	s, nc, _ := burstSocket(t)
	nc.gate = make(chan struct{})
	f0 := pusher.AppendEvent(nil, "e", "x", `{"n":0}`, "")
	f1 := pusher.AppendEvent(nil, "e", "a", `{"n":1}`, "")
	f2 := pusher.AppendEvent(nil, "e", "a", `{"n":2}`, "")
	s.Send(f0) // the writer starts and waits in Write on the gate
	b := Broadcaster{}.Burst(2)
	s.SendShared(b.Share(f1))
	if h, w := held(s); h || !w {
		t.Fatalf("held %v, writing %v: a frame to a socket being written must not be held", h, w)
	}
	close(nc.gate)
	want := append(putFrame(f0), framed(f1)...)
	waitWritten(t, nc, want) // without waiting for the burst

	ended := Broadcaster{}.Burst(1)
	ended.Done()
	s.SendShared(ended.(*burst).Share(f2))
	waitWritten(t, nc, append(want, framed(f2)...))
	b.Done()
	b.Done()
}

// A socket closed while a burst holds its frames writes them, then its
// close frame, and the burst's end does not start a writer on it again.
func TestBurstHeldSocketClosesCleanly(t *testing.T) {
	s, nc, starts := burstSocket(t)
	b := Broadcaster{}.Burst(1)
	f := pusher.AppendEvent(nil, "e", "a", `{}`, "")
	s.SendShared(b.Share(f))
	s.Close(pusher.CloseUnauthorized, "bye")
	want := append(framed(f), closeFrame(pusher.CloseUnauthorized, "bye")...)
	waitWritten(t, nc, want)
	b.Done()
	time.Sleep(10 * time.Millisecond)
	if got := starts.Load(); got != 1 {
		t.Fatalf("writer started %d times, want 1", got)
	}
	if !bytes.Equal(nc.written(), want) {
		t.Fatalf("written after the burst ended: %q", nc.written())
	}
}

var _ actors.BurstFanout = Broadcaster{}

var _ net.Conn = (*recConn)(nil)

// tcpSocket is a socket over the server side of a real loopback TCP
// connection whose buffers are small, and the client side, which reads
// nothing until the test does.
func tcpSocket(t *testing.T, limits *writeLimits) (*socket, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = server.(*net.TCPConn).SetWriteBuffer(64 << 10)
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	s := newSocket(server, limits)
	if s.raw == nil {
		t.Fatal("a plain TCP socket has no raw conn: nothing would be written in place")
	}
	return s, client
}

// readN reads n bytes from c.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, n)
	got := 0
	for got < n {
		k, err := c.Read(buf[got:])
		got += k
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v", got, n, err)
		}
	}
	return buf
}

// A burst's frames too large for the kernel to take at once are written
// in part in place and the rest by the writer, in order, byte for byte,
// with what was queued meanwhile after them.
func TestBurstReleaseWritesInPartThenTheRest(t *testing.T) {
	s, client := tcpSocket(t, &writeLimits{frames: 64, bytes: 4 << 20})
	big := pusher.AppendEvent(nil, "e", "a", `"`+strings.Repeat("x", 1<<20)+`"`, "")
	small := pusher.AppendEvent(nil, "e", "b", `{}`, "")
	b := slowBurst(2)
	s.SendShared(b.Share(big))
	s.SendShared(b.Share(small))
	b.Done()
	b.Done() // release: one non-blocking writev takes part of big
	waitWrittenInPlace(t, s)
	after := pusher.AppendEvent(nil, "e", "c", `{"n":3}`, "")
	s.Send(after) // queued behind the rest
	want := append(framed(big, small), putFrame(after)...)
	if got := readN(t, client, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("the client read %d bytes that differ from the %d sent", len(got), len(want))
	}
	waitIdle(t, s)
	if s.sentBytes.Load() != uint64(len(want)) || s.sent.Load() != 3 {
		t.Fatalf("counted %d frames, %d bytes; want 3, %d", s.sent.Load(), s.sentBytes.Load(), len(want))
	}
}

// A socket cut for over capacity (4100) while the rest of a frame written
// in part waits keeps that rest: the client gets whole frames, then the
// close frame, never a frame cut short.
func TestOverCapacityKeepsAFrameWrittenInPart(t *testing.T) {
	big := pusher.AppendEvent(nil, "e", "a", `"`+strings.Repeat("x", 1<<20)+`"`, "")
	var s *socket
	var client net.Conn
	// The kernel may take nothing at once (EAGAIN: the writer then writes
	// it all): try a few sockets for one it took part of.
	for try := 0; s == nil; try++ {
		if try == 10 {
			t.Fatal("no socket took part of the frame in place in 10 tries")
		}
		s, client = tcpSocket(t, &writeLimits{frames: 64, bytes: 1 << 20})
		b := slowBurst(1)
		s.SendShared(b.Share(big))
		b.Done()
		for i := 0; i < 100 && s.sentBytes.Load() == 0; i++ {
			time.Sleep(time.Millisecond)
		}
		s.mu.Lock()
		ok := s.sentBytes.Load() > 0 && (s.partial || s.writing)
		s.mu.Unlock()
		if !ok {
			_ = client.Close()
			_ = s.nc.Close()
			s = nil
		}
	}
	for range 3 { // past the byte bound: cut with 4100
		s.Send(make([]byte, 400<<10))
	}
	want := append(framed(big), closeFrame(pusher.CloseOverCapacity, "Over capacity: the client is not reading fast enough")...)
	if got := readN(t, client, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("the client read %d bytes that differ from a whole frame and the close frame", len(got))
	}
}

// slowBurst is Broadcaster.Burst with a wait long enough that framing a
// large frame (a copy, slow under the race detector) does not end it.
func slowBurst(n int) *burst {
	b := &burst{left: n}
	b.timer = time.AfterFunc(time.Minute, b.end)
	return b
}

// waitWrittenInPlace waits for the first bytes written to s, which a
// burst's release writes in place (the client reads nothing yet).
func waitWrittenInPlace(t *testing.T, s *socket) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.sentBytes.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing written in place")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitIdle waits until no writer runs on s.
func waitIdle(t *testing.T, s *socket) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, w := held(s); !w {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer did not end")
		}
		time.Sleep(time.Millisecond)
	}
}
