package actors

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/pusher"
)

// Micro-benchmarks of the actor paths: subscribe (a Join through the app
// to the channel actor) and fan-out (a Publish through the app to a
// channel actor that writes to every subscriber's Outbound). The Outbound
// is a counter, so these measure the actors alone; the socket side (gws)
// is measured in transport/fanout_bench_test.go. Run with
//
//	go test -run '^$' -bench . -benchmem ./actors/

// countOut is an Outbound that counts frames. SendShared signals done when
// the expected number of shared frames has arrived.
type countOut struct {
	sent   atomic.Int64 // Send: subscription_succeeded and the like
	shared *atomic.Int64
	done   chan struct{}
}

func (o *countOut) Send([]byte) {
	o.sent.Add(1)
	select {
	case o.done <- struct{}{}:
	default:
	}
}

func (o *countOut) SendShared(Shared) {
	if o.shared.Add(-1) == 0 {
		o.done <- struct{}{}
	}
}
func (o *countOut) Close(pusher.CloseCode, string) {}

type benchEnv struct {
	system *actor.ActorSystem
	broker *Broker
	app    *App
}

func newBenchEnv(b *testing.B, mut func(*AppConfig)) *benchEnv {
	b.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	ac := AppConfig{ID: "1", Key: "key", Secret: "secret"}
	if mut != nil {
		mut(&ac)
	}
	br, err := Start(system, testConfig(Config{Apps: []AppConfig{ac}}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = br.Stop(ctx)
		system.Shutdown()
	})
	app, _ := br.App("key")
	return &benchEnv{system: system, broker: br, app: app}
}

// idleConn is a stand-in connection actor: the channel watches it and
// sends it Joined, which it ignores.
var idleConn = actor.PropsFromFunc(func(actor.Context) {})

func wait(b *testing.B, c <-chan struct{}, what string) {
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		b.Fatalf("no %s within 10s", what)
	}
}

// BenchmarkFanout publishes one event to a channel of N subscribers and
// waits until every subscriber's Outbound has it. allocs/op is per
// publish: it must not grow with N.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run("subs="+strconv.Itoa(n), func(b *testing.B) {
			e := newBenchEnv(b, nil)
			shared := new(atomic.Int64)
			out := &countOut{shared: shared, done: make(chan struct{}, 1)}
			for i := 0; i < n; i++ {
				pid := e.system.Root.Spawn(idleConn)
				e.system.Root.Send(e.app.pid, &Join{Channel: "bench", Conn: pid, Out: out, SocketID: pid.Id})
				wait(b, out.done, "subscription_succeeded")
			}
			frame := pusher.AppendEvent(nil, "bench", "bench", `{"t":1,"s":2,"c":0}`, "")
			msg := &Publish{Channel: "bench", Frame: frame}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				shared.Store(int64(n))
				e.system.Root.Send(e.app.pid, msg)
				wait(b, out.done, "fan-out")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// BenchmarkTrigger is the API side of a publish without HTTP: a
// TriggerRequest through the adapter actor and the app (RequestFuture),
// answered once the app has routed it, to a channel of 10 subscribers.
func BenchmarkTrigger(b *testing.B) {
	e := newBenchEnv(b, nil)
	shared := new(atomic.Int64)
	out := &countOut{shared: shared, done: make(chan struct{}, 1)}
	const n = 10
	for i := 0; i < n; i++ {
		pid := e.system.Root.Spawn(idleConn)
		e.system.Root.Send(e.app.pid, &Join{Channel: "bench", Conn: pid, Out: out, SocketID: pid.Id})
		wait(b, out.done, "subscription_succeeded")
	}
	req := &TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "bench", Data: `{"t":1,"s":2,"c":0}`, Channels: []string{"bench"}}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		shared.Store(n)
		if _, err := e.broker.Request(req); err != nil {
			b.Fatal(err)
		}
		wait(b, out.done, "fan-out")
	}
}

// BenchmarkSubscribe is the subscribe path of an existing channel.
//
//   - join: a Join through the app to the channel actor until the
//     subscriber's Outbound gets subscription_succeeded (what the
//     connection actor sends once it has checked the frame).
//   - frame: the whole path from a decoded pusher:subscribe frame: the
//     connection actor parses and checks it, then the Join as above.
//   - private: the same for a private channel (signature check included).
func BenchmarkSubscribe(b *testing.B) {
	b.Run("join", func(b *testing.B) {
		e := newBenchEnv(b, nil)
		out := &countOut{shared: new(atomic.Int64), done: make(chan struct{}, 1)}
		pids := make([]*actor.PID, b.N+1)
		for i := range pids {
			pids[i] = e.system.Root.Spawn(idleConn)
		}
		e.system.Root.Send(e.app.pid, &Join{Channel: "bench", Conn: pids[b.N], Out: out, SocketID: "0.0"})
		wait(b, out.done, "subscription_succeeded")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e.system.Root.Send(e.app.pid, &Join{Channel: "bench", Conn: pids[i], Out: out, SocketID: pids[i].Id})
			wait(b, out.done, "subscription_succeeded")
		}
	})
	for _, private := range []bool{false, true} {
		name, channel := "frame", "bench"
		if private {
			name, channel = "private", "private-bench"
		}
		b.Run(name, func(b *testing.B) {
			e := newBenchEnv(b, nil)
			type conn struct {
				pid   *actor.PID
				out   *countOut
				frame []byte
			}
			conns := make([]conn, b.N)
			for i := range conns {
				out := &countOut{shared: new(atomic.Int64), done: make(chan struct{}, 1)}
				socketID := pusher.NewSocketID(uint64(i + 1))
				pid, err := e.broker.Connect(e.app, socketID, out)
				if err != nil {
					b.Fatal(err)
				}
				wait(b, out.done, "connection_established")
				data := `{"channel":"` + channel + `"}`
				if private {
					data = fmt.Sprintf(`{"channel":%q,"auth":%q}`, channel, pusher.ChannelAuth("key", "secret", socketID, channel, ""))
				}
				conns[i] = conn{pid: pid, out: out, frame: []byte(`{"event":"pusher:subscribe","data":` + data + `}`)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, c := range conns {
				e.broker.Tell(c.pid, &ClientFrame{Raw: c.frame})
				wait(b, c.out.done, "subscription_succeeded")
			}
		})
	}
}
