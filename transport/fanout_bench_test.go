package transport

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
	"github.com/lxzan/gws"
)

// Micro-benchmarks of the socket side of a fan-out: what the channel
// actor's loop costs per subscriber once it calls Outbound.SendShared,
// down to the net.Conn Write. The sockets are real server-side *gws.Conn
// over a net.Conn that counts and discards what is written, so there is
// no syscall and no client in the numbers (on loopback the write syscall
// is ~8-12 µs per frame, see BENCHMARKS.md). Run with
//
//	go test -run '^$' -bench Fanout -benchmem ./transport/
//
// allocs/op is per publish. BenchmarkFanoutSocket is Herald's socket: the
// frame is framed once (Broadcaster.Share) and each socket queues the same
// bytes and writes them from its own writer goroutine.
// BenchmarkFanoutBroadcaster is gws's Broadcaster, the baseline's path;
// it allocates two per subscriber inside gws v1.8.9 (the closure of
// `go c.do(job)` and Broadcast's per-connection job).

// sinkConn is a net.Conn whose writes are counted and dropped. Reads block
// until Close (nothing reads them: ReadLoop is never started).
type sinkConn struct {
	sink   *sink
	closed chan struct{}
	once   sync.Once
}

type sink struct {
	writes atomic.Int64
	want   atomic.Int64
	done   chan struct{}
}

func (s *sink) expect(n int) { s.want.Store(s.writes.Load() + int64(n)) }

func (s *sink) wait(b *testing.B) {
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		b.Fatalf("writes %d, want %d", s.writes.Load(), s.want.Load())
	}
}

func (c *sinkConn) Write(p []byte) (int, error) {
	if n := c.sink.writes.Add(1); n == c.sink.want.Load() {
		c.sink.done <- struct{}{}
	}
	return len(p), nil
}
func (c *sinkConn) Read([]byte) (int, error) {
	<-c.closed
	return 0, net.ErrClosed
}
func (c *sinkConn) Close() error        { c.once.Do(func() { close(c.closed) }); return nil }
func (c *sinkConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3131} }
func (c *sinkConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *sinkConn) SetDeadline(time.Time) error      { return nil }
func (c *sinkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *sinkConn) SetWriteDeadline(time.Time) error { return nil }

// sinkConns upgrades n server-side gws connections over sinkConns, with
// the options transport/websocket.go uses.
func sinkConns(b *testing.B, n int) ([]*gws.Conn, *sink) {
	b.Helper()
	up := gws.NewUpgrader(&gws.BuiltinEventHandler{}, &gws.ServerOption{
		ReadMaxPayloadSize: 32 << 10, ReadBufferSize: 1024, CheckUtf8Enabled: true,
		NewSession: func() gws.SessionStorage { return &slot{} },
	})
	s := &sink{done: make(chan struct{}, 1)}
	conns := make([]*gws.Conn, n)
	for i := range conns {
		r, _ := http.NewRequest(http.MethodGet, "/app/app-key?protocol=7", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		nc := &sinkConn{sink: s, closed: make(chan struct{})}
		c, err := up.UpgradeFromConn(nc, bufio.NewReader(nc), r)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	s.writes.Store(0) // the handshake responses
	b.Cleanup(func() {
		for _, c := range conns {
			_ = c.NetConn().Close()
		}
	})
	return conns, s
}

var benchFrame = pusher.AppendEvent(nil, "bench", "bench-0",
	`{"t":1732283400000000000,"s":12345,"c":0,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`, "")

var fanoutSizes = []int{10, 100, 1000}

// BenchmarkFanoutSocket is Herald's path: Broadcaster.Share once, then
// socket.SendShared per subscriber, Release.
func BenchmarkFanoutSocket(b *testing.B) {
	for _, n := range fanoutSizes {
		b.Run("subs="+strconv.Itoa(n), func(b *testing.B) {
			conns, s := sinkConns(b, n)
			socks := make([]actors.Outbound, n)
			for i, c := range conns {
				socks[i] = newSocket(c.NetConn(), &writeLimits{frames: 1024, bytes: 1 << 20})
			}
			var fan actors.Fanout = Broadcaster{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.expect(n)
				sh := fan.Share(benchFrame)
				for _, o := range socks {
					o.SendShared(sh)
				}
				sh.Release()
				s.wait(b)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// BenchmarkFanoutBroadcaster is the baseline's path (bench/baseline):
// Broadcaster.Broadcast per connection, nothing else.
func BenchmarkFanoutBroadcaster(b *testing.B) {
	for _, n := range fanoutSizes {
		b.Run("subs="+strconv.Itoa(n), func(b *testing.B) {
			conns, s := sinkConns(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.expect(n)
				bc := gws.NewBroadcaster(gws.OpcodeText, benchFrame)
				for _, c := range conns {
					_ = bc.Broadcast(c)
				}
				_ = bc.Close()
				s.wait(b)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}
