package actors

import (
	"errors"
	"testing"
	"time"

	"github.com/herald-push/herald/pusher"
)

// subscribe subscribes a probe (a server-side subscriber) through the
// app and returns it once the app's answer came.
func (e *testEnv) subscribe(t *testing.T, channel string, member *pusher.Member) *probe {
	t.Helper()
	p := newProbe(t, e.system)
	done := make(chan error, 1)
	e.broker.Subscribe(e.app(), &AddSubscriber{Channel: channel, Subscriber: p.pid, Member: member, Reply: func(err error) { done <- err }})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no answer within 3s")
	}
	return p
}

// A server-side subscriber's stand-in joins like a connection: it gets
// Subscribed, then each event and client event, never member or count
// frames; it counts as a subscription and leaves when the subscriber
// stops.
func TestServerSubscriberThroughItsStandIn(t *testing.T) {
	e := newEnv(t, nil)
	sub := e.subscribe(t, "presence-bots", &pusher.Member{UserID: "bot"})
	if m := expect[*Subscribed](t, sub); m.App != "key" || m.Channel != "presence-bots" {
		t.Fatalf("%+v", m)
	}
	expect[*ChannelOccupied](t, e.hooks)
	expect[*MemberAdded](t, e.hooks)

	p, o := e.join(t, "presence-bots", &pusher.Member{UserID: "ann"})
	ch := expect[*Joined](t, p).PID
	o.next(t, nil)
	expect[*MemberAdded](t, e.hooks)
	if err := e.broker.Post(&TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "news", Data: `{"a":1}`, Channels: []string{"presence-bots"}}}}); err != nil {
		t.Fatal(err)
	}
	if m := expect[*ChannelEvent](t, sub); m.Event != "news" || m.Data != `{"a":1}` || m.UserID != "" {
		t.Fatalf("%+v", m)
	}
	e.system.Root.Send(ch, &PublishClientEvent{Channel: "presence-bots", Sender: p.pid, Event: "client-x", Data: "1", SocketID: p.pid.Id, UserID: "ann",
		Frame: pusher.AppendEvent(nil, "client-x", "presence-bots", "1", "ann")})
	if m := expect[*ChannelEvent](t, sub); m.Event != "client-x" || m.UserID != "ann" {
		t.Fatalf("%+v", m)
	}
	expect[*ClientEventSent](t, e.hooks)

	// Subscribing again is a no-op answered at once.
	again := make(chan error, 1)
	e.broker.Subscribe(e.app(), &AddSubscriber{Channel: "presence-bots", Subscriber: sub.pid, Member: &pusher.Member{UserID: "bot"}, Reply: func(err error) { again <- err }})
	if err := <-again; err != nil {
		t.Fatal(err)
	}

	e.system.Root.Stop(sub.pid)
	if m := expect[*MemberRemoved](t, e.hooks); m.UserID != "bot" {
		t.Fatalf("%+v", m)
	}
	o.next(t, nil) // member_removed
}

// A refused subscription is a SubscriptionError, to the subscriber and to
// Reply: refused by the stand-in (a name, the channel cap) or by the
// channel (a presence channel without a member).
func TestServerSubscriberRefused(t *testing.T) {
	e := newEnv(t, func(a *AppConfig) { a.MaxChannelsPerConnection = 1 })
	p := newProbe(t, e.system)
	for _, tc := range []struct{ channel, refused string }{
		{"presence-x", "presence-x"}, {"#server-to-user-u", "#server-to-user-u"}, {"ok", ""}, {"one-too-many", "one-too-many"},
	} {
		done := make(chan error, 1)
		e.broker.Subscribe(e.app(), &AddSubscriber{Channel: tc.channel, Subscriber: p.pid, Reply: func(err error) { done <- err }})
		err := <-done
		if tc.refused == "" {
			if err != nil {
				t.Fatal(err)
			}
			expect[*Subscribed](t, p)
			continue
		}
		var se *SubscriptionError
		if !errors.As(err, &se) || se.Channel != tc.refused {
			t.Fatalf("got %v, want a refusal of %s", err, tc.refused)
		}
		if m := expect[*SubscriptionError](t, p); m.Channel != tc.refused {
			t.Fatalf("%+v", m)
		}
	}
}

// Facts reach a watcher as the webhook actor gets them, until it
// unwatches; every fact type passes a debouncer.
func TestFactWatchers(t *testing.T) {
	e := newEnv(t, nil)
	w, d := newProbe(t, e.system), newProbe(t, e.system)
	for _, m := range []*WatchFacts{{Watcher: w.pid}, {Watcher: d.pid, Debounce: time.Hour}} {
		done := make(chan error, 1)
		m.Reply = func(err error) { done <- err }
		e.broker.WatchFacts(e.app(), m)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	p, _ := e.join(t, "presence-f", &pusher.Member{UserID: "u"})
	expect[*Joined](t, p)
	expect[*ChannelOccupied](t, w)
	expect[*MemberAdded](t, w)
	expect[*ChannelOccupied](t, d)
	expect[*MemberAdded](t, d)
	e.system.Root.Send(e.app().pid, &Leave{Channel: "presence-f", Conn: p.pid})
	expect[*MemberRemoved](t, w)
	expect[*ChannelVacated](t, w)
	// The debouncer holds those for an hour; the others pass.
	debouncer := e.app().info.watchers.Load()
	for _, pid := range *debouncer {
		if pid.Equal(w.pid) {
			continue
		}
		for _, f := range []any{&ClientEventSent{}, &CacheMissed{}, &SubscriptionCountChanged{}} {
			e.system.Root.Send(pid, f)
		}
	}
	expect[*ClientEventSent](t, d)
	expect[*CacheMissed](t, d)
	expect[*SubscriptionCountChanged](t, d)
	e.broker.UnwatchFacts(e.app(), &UnwatchFacts{Watcher: w.pid})
	e.broker.UnwatchFacts(e.app(), &UnwatchFacts{Watcher: d.pid})
	for deadline := time.Now().Add(3 * time.Second); len(*e.app().info.watchers.Load()) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("watchers still registered")
		}
	}
	expect[*ChannelOccupied](t, e.hooks) // the webhook actor still gets every fact
}
