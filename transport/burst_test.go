package transport

import (
	"bytes"
	"net"
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
