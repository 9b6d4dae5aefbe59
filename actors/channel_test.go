package actors

import (
	"testing"
	"time"

	"github.com/herald-push/herald/pusher"
)

// join sends a Join through the app, as a connection does, with a probe
// standing in for the connection actor.
func (e *testEnv) join(t *testing.T, channel string, member *pusher.Member) (*probe, *outbox) {
	t.Helper()
	p, o := newProbe(t, e.system), newOutbox()
	e.system.Root.Send(e.app().pid, &Join{Channel: channel, Conn: p.pid, Out: o, SocketID: p.pid.Id, Member: member})
	return p, o
}

func TestChannelPresenceIsPerUser(t *testing.T) {
	e := newEnv(t, nil)
	p1, o1 := e.join(t, "presence-room", &pusher.Member{UserID: "alice"})
	expect[*Joined](t, p1)
	var ok struct {
		Presence struct {
			Count int `json:"count"`
		} `json:"presence"`
	}
	if f := o1.next(t, &ok); f["event"] != pusher.EventSubscriptionSucceeded || ok.Presence.Count != 1 {
		t.Fatalf("frame %v", f)
	}
	expect[*ChannelOccupied](t, e.hooks)
	expect[*MemberAdded](t, e.hooks)

	p2, o2 := e.join(t, "presence-room", &pusher.Member{UserID: "bob"})
	expect[*Joined](t, p2)
	o2.next(t, nil)
	if f := o1.next(t, nil); f["event"] != pusher.EventMemberAdded {
		t.Fatalf("frame %v", f)
	}
	expect[*MemberAdded](t, e.hooks)

	// Bob's second connection adds no member.
	p3, o3 := e.join(t, "presence-room", &pusher.Member{UserID: "bob"})
	expect[*Joined](t, p3)
	o3.next(t, nil)
	o1.empty(t)

	// One of bob's connections leaving removes nobody; the second does.
	e.system.Root.Send(e.app().pid, &Leave{Channel: "presence-room", Conn: p2.pid})
	o1.empty(t)
	e.system.Root.Send(e.app().pid, &Leave{Channel: "presence-room", Conn: p3.pid})
	if f := o1.next(t, nil); f["event"] != pusher.EventMemberRemoved {
		t.Fatalf("frame %v", f)
	}
	if m := expect[*MemberRemoved](t, e.hooks); m.UserID != "bob" {
		t.Fatalf("removed %+v", m)
	}
	e.system.Root.Send(e.app().pid, &Leave{Channel: "presence-room", Conn: p1.pid})
	expect[*MemberRemoved](t, e.hooks)
	expect[*ChannelVacated](t, e.hooks)
}

func TestChannelMemberCapRefuses(t *testing.T) {
	e := newEnv(t, func(a *AppConfig) { a.MaxPresenceMembers = 1 })
	p1, _ := e.join(t, "presence-x", &pusher.Member{UserID: "a"})
	expect[*Joined](t, p1)
	p2, _ := e.join(t, "presence-x", &pusher.Member{UserID: "b"})
	if r := expect[*JoinRefused](t, p2); r.Channel != "presence-x" {
		t.Fatalf("%+v", r)
	}
	p3, _ := e.join(t, "presence-x", &pusher.Member{UserID: "a"}) // same user: allowed
	expect[*Joined](t, p3)
}

func TestChannelClientEventSkipsSender(t *testing.T) {
	e := newEnv(t, nil)
	p1, o1 := e.join(t, "private-c", nil)
	j := expect[*Joined](t, p1)
	o1.next(t, nil)
	p2, o2 := e.join(t, "private-c", nil)
	expect[*Joined](t, p2)
	o2.next(t, nil)
	e.system.Root.Send(j.PID, &PublishClientEvent{Channel: "private-c", Frame: []byte(`{"event":"client-a","channel":"private-c","data":"1"}`),
		Sender: p1.pid, Event: "client-a", Data: "1", SocketID: "s1"})
	if f := o2.next(t, nil); f["event"] != "client-a" {
		t.Fatalf("frame %v", f)
	}
	expect[*ChannelOccupied](t, e.hooks)
	if ev := expect[*ClientEventSent](t, e.hooks); ev.Event != "client-a" || ev.SocketID != "s1" {
		t.Fatalf("%+v", ev)
	}
	o1.empty(t)
}

func TestIdleChannelIsStoppedAndReplaced(t *testing.T) {
	e := newEnv(t, nil)
	p1, _ := e.join(t, "news", nil)
	first := expect[*Joined](t, p1).PID
	e.system.Root.Send(e.app().pid, &Leave{Channel: "news", Conn: p1.pid})
	expect[*ChannelOccupied](t, e.hooks)
	expect[*ChannelVacated](t, e.hooks)
	// The next Join reaches a channel actor either way; once the idle one
	// is stopped, a new one serves the name.
	p2, o2 := e.join(t, "news", nil)
	second := expect[*Joined](t, p2).PID
	o2.next(t, nil)
	// The channel reports its counts to the app after it answers the
	// Join: the app may answer a query from the counts before.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		res, err := e.broker.Request(&ChannelRequest{App: "key", Channel: "news"})
		if err == nil && res.(*ChannelResponse).Info.Occupied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v %v", res, err)
		}
	}
	_ = first
	_ = second
}

// Every message type of messages.go that an actor accepts reaches a case
// of its Receive: none is logged as unexpected (newEnv's cleanup fails the
// test on any warning).
func TestEveryMessageIsHandled(t *testing.T) {
	e := newEnv(t, nil)
	app := e.app()
	p, o := e.join(t, "presence-all", &pusher.Member{UserID: "u"})
	ch := expect[*Joined](t, p).PID
	o.next(t, nil)
	root := e.system.Root
	root.Send(app.pid, &SignedOut{Conn: p.pid})
	root.Send(app.pid, &ChannelStats{Channel: "x", PID: ch})
	root.Send(ch, &Publish{Channel: "presence-all", Frame: []byte(`{}`)})
	root.Send(ch, &PublishClientEvent{Channel: "presence-all", Frame: []byte(`{}`), Sender: p.pid})
	for _, q := range []any{
		&TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "e", Channels: []string{"presence-all"}, Info: []string{"user_count"}}}},
		&ChannelsRequest{App: "key"}, &ChannelRequest{App: "key", Channel: "presence-all"},
		&UsersRequest{App: "key", Channel: "presence-all"},
	} {
		if _, err := e.broker.Request(q); err != nil {
			t.Fatalf("%T: %v", q, err)
		}
	}
	conn, err := e.broker.Connect(app, "9.9", newOutbox())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []any{&ClientFrame{Raw: []byte(`{"event":"pusher:ping"}`)}, &BadFrame{Reason: "x"}, &Activity{},
		&Joined{Channel: "x"}, &JoinRefused{Channel: "x"}, &ChannelLost{Channel: "x", PID: ch}, &SocketClosed{}} {
		root.Send(conn, m)
	}
	if _, err := e.broker.Request(&UsersRequest{App: "key", Channel: "presence-all"}); err != nil {
		t.Fatal(err)
	}
}

// A connection actor that stops, whatever stopped it, leaves its channels.
func TestStoppedConnectionLeavesItsChannels(t *testing.T) {
	e := newEnv(t, nil)
	watcher, wo := e.join(t, "presence-stop", &pusher.Member{UserID: "w"})
	expect[*Joined](t, watcher)
	wo.next(t, nil)
	out := newOutbox()
	conn, err := e.broker.Connect(e.app(), "1.1", out)
	if err != nil {
		t.Fatal(err)
	}
	out.next(t, nil) // connection_established
	cd := `{"user_id":"gone"}`
	e.system.Root.Send(conn, &ClientFrame{Raw: []byte(`{"event":"pusher:subscribe","data":{"channel":"presence-stop","channel_data":` +
		string(pusher.AppendString(nil, cd)) + `,"auth":"` + pusher.ChannelAuth("key", "secret", "1.1", "presence-stop", cd) + `"}}`)})
	if f := out.next(t, nil); f["event"] != pusher.EventSubscriptionSucceeded {
		t.Fatalf("frame %v", f)
	}
	if f := wo.next(t, nil); f["event"] != pusher.EventMemberAdded {
		t.Fatalf("frame %v", f)
	}
	e.system.Root.Stop(conn)
	if f := wo.next(t, nil); f["event"] != pusher.EventMemberRemoved {
		t.Fatalf("frame %v", f)
	}
}
