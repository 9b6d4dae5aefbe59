package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/pusher"
)

// boomBox is an outbox that panics when it is handed a frame holding
// word: a fault injected into whichever actor writes to it.
type boomBox struct {
	*outbox
	word string
}

func (b boomBox) Send(f []byte) {
	if strings.Contains(string(f), b.word) {
		panic("injected: " + string(f))
	}
	b.outbox.Send(f)
}

func (b boomBox) SendShared(s Shared) { b.Send(s.(PlainShared)) }

// connect starts a connection actor over out and reads its
// connection_established.
func (e *testEnv) connect(t *testing.T, socketID string, out Outbound, o *outbox) *connectionHandle {
	t.Helper()
	pid, err := e.broker.Connect(e.app(), socketID, out)
	if err != nil {
		t.Fatal(err)
	}
	o.next(t, nil)
	return &connectionHandle{e: e, out: o, pid: pid}
}

type connectionHandle struct {
	e   *testEnv
	out *outbox
	pid *actor.PID
}

// send hands the connection a frame, as the transport does.
func (c *connectionHandle) send(frame string) {
	c.e.system.Root.Send(c.pid, &ClientFrame{Raw: []byte(frame)})
}

// waitClosed waits for o to be closed with code.
func waitClosed(t *testing.T, o *outbox, code pusher.CloseCode) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		o.mu.Lock()
		got := o.closed
		o.mu.Unlock()
		if got == code {
			return
		}
		if got != 0 || time.Now().After(deadline) {
			t.Fatalf("closed with %d, want %d", got, code)
		}
	}
}

// takePanics returns the logged lines and forgets them, so newEnv's
// cleanup (which fails on any warning) sees only the unexpected ones.
func (w *warnings) takePanics(t *testing.T) []string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.lines
	w.lines = nil
	for _, l := range lines {
		if !strings.HasPrefix(l, "actor panicked") {
			t.Errorf("unexpected log line %q", l)
		}
	}
	return lines
}

// A channel whose actor panics costs that channel only: its subscribers
// are told (subscription_error, status 500) and can subscribe again; the
// app, its other channels and the connections go on.
func TestChannelPanicCostsThatChannel(t *testing.T) {
	e := newEnv(t, nil)
	ao, bo := newOutbox(), newOutbox()
	a := e.connect(t, "1.1", boomBox{ao, "boom"}, ao)
	b := e.connect(t, "2.2", bo, bo)
	for _, c := range []*connectionHandle{a, b} {
		c.send(`{"event":"pusher:subscribe","data":{"channel":"doomed"}}`)
		c.out.next(t, nil)
	}
	a.send(`{"event":"pusher:subscribe","data":{"channel":"calm"}}`)
	ao.next(t, nil)
	expect[*ChannelOccupied](t, e.hooks)
	expect[*ChannelOccupied](t, e.hooks)

	// The fan-out to a's socket panics inside the channel actor.
	if _, err := e.broker.Trigger(&TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "boom", Data: "1", Channels: []string{"doomed"}}}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*outbox{ao, bo} {
		for {
			f := o.next(t, nil)
			if f["event"] == pusher.EventSubscriptionError {
				if f["channel"] != "doomed" || !strings.Contains(f["data"].(string), `"status":500`) {
					t.Fatalf("frame %v", f)
				}
				break
			}
		}
	}
	if v := expect[*ChannelVacated](t, e.hooks); v.Channel != "doomed" {
		t.Fatalf("vacated %+v", v)
	}
	lines := e.warn.takePanics(t)
	if len(lines) != 1 || !strings.Contains(lines[0], "channel=doomed") || !strings.Contains(lines[0], "app=1") {
		t.Fatalf("panic log %q", lines)
	}

	// The other channel, and the lost one once subscribed again, work.
	if err := e.broker.Post(&TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "fine", Data: "1", Channels: []string{"calm"}}}}); err != nil {
		t.Fatal(err)
	}
	if f := ao.next(t, nil); f["event"] != "fine" {
		t.Fatalf("frame %v", f)
	}
	b.send(`{"event":"pusher:subscribe","data":{"channel":"doomed"}}`)
	if f := bo.next(t, nil); f["event"] != pusher.EventSubscriptionSucceeded {
		t.Fatalf("frame %v", f)
	}
	expect[*ChannelOccupied](t, e.hooks)
	if err := e.broker.Post(&TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "again", Data: "1", Channels: []string{"doomed"}}}}); err != nil {
		t.Fatal(err)
	}
	if f := bo.next(t, nil); f["event"] != "again" {
		t.Fatalf("frame %v", f)
	}
}

// A connection whose actor panics is closed with 4200 (the client
// reconnects) and leaves its channels; the others go on.
func TestConnectionPanicCostsThatConnection(t *testing.T) {
	e := newEnv(t, nil)
	ao, bo := newOutbox(), newOutbox()
	a := e.connect(t, "1.1", boomBox{ao, "boom"}, ao)
	b := e.connect(t, "2.2", bo, bo)
	for _, c := range []*connectionHandle{a, b} {
		c.send(`{"event":"pusher:subscribe","data":{"channel":"shared"}}`)
		c.out.next(t, nil)
	}
	// a's answer to an unknown event quotes it, and its Outbound panics.
	a.send(`{"event":"pusher:boom","data":{}}`)
	waitClosed(t, ao, pusher.CloseReconnect)
	lines := e.warn.takePanics(t)
	if len(lines) != 1 || !strings.Contains(lines[0], "socket_id=1.1") {
		t.Fatalf("panic log %q", lines)
	}
	if err := e.broker.Post(&TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "still", Data: "1", Channels: []string{"shared"}}}}); err != nil {
		t.Fatal(err)
	}
	if f := bo.next(t, nil); f["event"] != "still" {
		t.Fatalf("frame %v", f)
	}
	res, err := e.broker.Channel(&ChannelRequest{App: "key", Channel: "shared"})
	if err != nil || res.Info.Subscriptions != 1 {
		t.Fatalf("after the panic: %+v %v", res, err)
	}
}

// A panic in the app actor is logged and the message dropped: the app
// does not restart, so its connections and channels stay.
func TestAppPanicKeepsTheApp(t *testing.T) {
	e := newEnv(t, func(a *AppConfig) { a.Watchlist = true })
	wo, xo := newOutbox(), newOutbox()
	w := e.connect(t, "1.1", boomBox{wo, "online"}, wo)
	x := e.connect(t, "2.2", xo, xo)
	signin := func(c *connectionHandle, socketID, userData string) {
		c.send(`{"event":"pusher:signin","data":{"auth":"` + pusher.UserAuth("key", "secret", socketID, userData) +
			`","user_data":` + string(pusher.AppendString(nil, userData)) + `}}`)
	}
	signin(w, "1.1", `{"id":"watcher","watchlist":["boom"]}`)
	wo.next(t, nil) // signin_success
	x.send(`{"event":"pusher:subscribe","data":{"channel":"kept"}}`)
	xo.next(t, nil)
	expect[*ChannelOccupied](t, e.hooks)
	// boom comes online: the app writes the watchlist event to w, which panics.
	signin(x, "2.2", `{"id":"boom"}`)
	xo.next(t, nil) // signin_success
	if _, err := e.broker.Channels(&ChannelsRequest{App: "key"}); err != nil {
		t.Fatal(err)
	}
	if lines := e.warn.takePanics(t); len(lines) != 1 || !strings.Contains(lines[0], "actor=app") {
		t.Fatalf("panic log %q", lines)
	}
	// The app still serves: x keeps its subscription, w its socket.
	if err := e.broker.Post(&TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "after", Data: "1", Channels: []string{"kept"}}}}); err != nil {
		t.Fatal(err)
	}
	if f := xo.next(t, nil); f["event"] != "after" {
		t.Fatalf("frame %v", f)
	}
	w.send(`{"event":"pusher:ping","data":{}}`)
	if f := wo.next(t, nil); f["event"] != pusher.EventPong {
		t.Fatalf("frame %v", f)
	}
}

// A connection actor's name is reused once it stops; what its
// predecessor's socket still sends to that name is ignored.
func TestReusedNameIgnoresThePredecessor(t *testing.T) {
	e := newEnv(t, nil)
	ao := newOutbox()
	a := e.connect(t, "1.1", ao, ao)
	a.send(`{"event":"pusher:signin","data":{"auth":"key:bad","user_data":"{\"id\":\"u\"}"}}`)
	waitClosed(t, ao, pusher.CloseUnauthorized)
	var b *connectionHandle
	bo := newOutbox()
	for deadline := time.Now().Add(3 * time.Second); ; {
		b = e.connect(t, "2.2", bo, bo)
		if b.pid.Id == a.pid.Id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("name %s not reused (got %s)", a.pid.Id, b.pid.Id)
		}
		e.system.Root.Stop(b.pid)
		bo = newOutbox()
		time.Sleep(10 * time.Millisecond)
	}
	root := e.system.Root
	root.Send(b.pid, &ClientFrame{Raw: []byte(`{"event":"pusher:ping","data":{}}`), From: ao})
	root.Send(b.pid, &SocketClosed{From: ao})
	b.send(`{"event":"pusher:ping","data":{}}`)
	if f := bo.next(t, nil); f["event"] != pusher.EventPong {
		t.Fatalf("frame %v", f)
	}
	bo.empty(t)
	bo.mu.Lock()
	defer bo.mu.Unlock()
	if bo.closed != 0 {
		t.Fatalf("the new connection was closed with %d", bo.closed)
	}
}
