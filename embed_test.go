package herald_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
)

// inbox is an actor of the test that hands every message it receives,
// but the lifecycle ones, to the test.
type inbox struct {
	pid *actor.PID
	ch  chan any
}

func newInbox(system *actor.ActorSystem, opts ...actor.PropsOption) *inbox {
	in := &inbox{ch: make(chan any, 1024)}
	in.pid = system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
			return
		}
		in.ch <- ctx.Message()
	}, opts...))
	return in
}

// next returns the next message, which must be a T.
func next[T any](t *testing.T, in *inbox) T {
	t.Helper()
	select {
	case m := <-in.ch:
		v, ok := m.(T)
		if !ok {
			t.Fatalf("got %T %+v, want %T", m, m, *new(T))
		}
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %T within 5s", *new(T))
	}
	panic("unreachable")
}

// quiet checks that in receives nothing for d.
func quiet(t *testing.T, in *inbox, d time.Duration) {
	t.Helper()
	select {
	case m := <-in.ch:
		t.Fatalf("unexpected %T %+v", m, m)
	case <-time.After(d):
	}
}

// embedded is a Herald embedded in a test's ActorSystem, with listeners
// on loopback.
type embedded struct {
	*running
	system *actor.ActorSystem
}

func startIn(t *testing.T, system *actor.ActorSystem, opts herald.Options, mut func(*config.Config)) *embedded {
	t.Helper()
	cfg := config.Default()
	cfg.WebSocket.Listen, cfg.API.Listen = "127.0.0.1:0", "127.0.0.1:0"
	// Per-app defaults are left for New to fill in, as a program does.
	cfg.Apps = []config.App{{ID: "app-id", Key: "app-key", Secret: "app-secret", ClientEvents: true}}
	if mut != nil {
		mut(&cfg)
	}
	opts.System = system
	opts.Logger = slog.New(slog.DiscardHandler)
	h, err := herald.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{h: h}
	if !opts.NoListeners {
		r.ws = "ws://" + h.WebSocketAddr().String()
		r.api = pushertest.API{T: t, Base: "http://" + h.APIAddr().String(), ID: "app-id", Key: "app-key", Secret: "app-secret"}
	}
	t.Cleanup(func() { r.stop(t) })
	return &embedded{running: r, system: system}
}

func newSystem(t *testing.T) *actor.ActorSystem {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	t.Cleanup(system.Shutdown)
	return system
}

// subscriptionCount asks the HTTP API for channel's subscription_count.
func (e *embedded) subscriptionCount(t *testing.T, channel string) int {
	t.Helper()
	code, res := e.api.Call("GET", "/apps/app-id/channels/"+channel, map[string][]string{"info": {"subscription_count"}}, nil)
	if code != 200 {
		t.Fatalf("channel info: %d %v", code, res)
	}
	n, _ := res["subscription_count"].(float64)
	return int(n)
}

// waitCount waits until channel has want subscriptions.
func (e *embedded) waitCount(t *testing.T, channel string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n := e.subscriptionCount(t, channel); n != want; n = e.subscriptionCount(t, channel) {
		if time.Now().After(deadline) {
			t.Fatalf("subscription_count of %s is %d, want %d", channel, n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A server-side subscriber gets the events published through the HTTP API
// and the client events of a real socket, counts as one subscription, and
// is removed when it stops.
func TestServerSubscriberGetsAPIAndClientEvents(t *testing.T) {
	e := startIn(t, newSystem(t), herald.Options{}, nil)
	sub := newInbox(e.system)
	ctx := context.Background()
	if err := e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "presence-room", Subscriber: sub.pid, UserID: "bot", UserInfo: map[string]string{"name": "Bot"}}); err != nil {
		t.Fatal(err)
	}
	if s := next[*herald.Subscribed](t, sub); s.App != "app-key" || s.Channel != "presence-room" {
		t.Fatalf("%+v", s)
	}

	// A socket joins: it sees the bot as a member.
	c := e.connect(t)
	ok := c.SubscribePresence("presence-room", "alice", nil)
	var presence struct {
		Presence struct {
			IDs  []string                     `json:"ids"`
			Hash map[string]map[string]string `json:"hash"`
		} `json:"presence"`
	}
	c.DataJSON(ok, &presence)
	if len(presence.Presence.IDs) != 2 || presence.Presence.Hash["bot"]["name"] != "Bot" {
		t.Fatalf("members %+v", presence.Presence)
	}

	e.api.Trigger("presence-room", "news", `{"n":1}`, nil)
	if ev := next[*herald.ChannelEvent](t, sub); ev.Event != "news" || ev.Data != `{"n":1}` || ev.Channel != "presence-room" || ev.UserID != "" {
		t.Fatalf("%+v", ev)
	}
	c.Expect("news")

	c.Send(map[string]any{"event": "client-hello", "channel": "presence-room", "data": map[string]string{"text": "hi"}})
	if ev := next[*herald.ChannelEvent](t, sub); ev.Event != "client-hello" || ev.Data != `{"text":"hi"}` || ev.UserID != "alice" {
		t.Fatalf("%+v", ev)
	}
	e.waitCount(t, "presence-room", 2)

	// The subscriber stops: it is removed (member_removed to the socket).
	e.system.Root.Stop(sub.pid)
	f := c.Expect(pusher.EventMemberRemoved)
	var gone struct {
		UserID string `json:"user_id"`
	}
	c.DataJSON(f, &gone)
	if gone.UserID != "bot" {
		t.Fatalf("member_removed %v", f)
	}
	e.waitCount(t, "presence-room", 1)
}

// Publish by method and by message reach a socket; Unsubscribe ends a
// server-side subscription; bad input is refused with typed errors.
func TestPublishMethodMessageAndErrors(t *testing.T) {
	e := startIn(t, newSystem(t), herald.Options{}, nil)
	ctx := context.Background()
	c := e.connect(t)
	c.Subscribe("news")
	sub := newInbox(e.system)
	if err := e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "news", Subscriber: sub.pid}); err != nil {
		t.Fatal(err)
	}
	next[*herald.Subscribed](t, sub)

	if err := e.h.Publish(ctx, herald.Publish{App: "app-key", Channels: []string{"news"}, Event: "by-method", Data: "1"}); err != nil {
		t.Fatal(err)
	}
	c.Expect("by-method")
	next[*herald.ChannelEvent](t, sub)

	// From an actor, with a sender: answered with Done.
	asker := newInbox(e.system)
	e.system.Root.RequestWithCustomSender(e.h.PID(), &herald.Publish{App: "app-key", Channels: []string{"news"}, Event: "by-message", Data: "2"}, asker.pid)
	if d := next[*herald.Done](t, asker); d.Err != nil {
		t.Fatal(d.Err)
	}
	c.Expect("by-message")
	next[*herald.ChannelEvent](t, sub)

	// Excluding a socket.
	if err := e.h.Publish(ctx, herald.Publish{App: "app-key", Channels: []string{"news"}, Event: "not-for-c", Data: "3", ExceptSocketID: c.SocketID}); err != nil {
		t.Fatal(err)
	}
	if ev := next[*herald.ChannelEvent](t, sub); ev.Event != "not-for-c" {
		t.Fatalf("%+v", ev)
	}
	if err := e.h.Unsubscribe(herald.Unsubscribe{App: "app-key", Channel: "news", Subscriber: sub.pid}); err != nil {
		t.Fatal(err)
	}
	e.waitCount(t, "news", 1)
	if err := e.h.Publish(ctx, herald.Publish{App: "app-key", Channels: []string{"news"}, Event: "after", Data: "4"}); err != nil {
		t.Fatal(err)
	}
	c.Expect("after") // c had no not-for-c before it
	quiet(t, sub, 200*time.Millisecond)

	for _, tc := range []struct {
		p    herald.Publish
		want error
	}{
		{herald.Publish{App: "nope", Channels: []string{"a"}, Event: "e"}, herald.ErrUnknownApp},
		{herald.Publish{App: "app-key", Channels: []string{"a b"}, Event: "e"}, herald.ErrInvalidChannel},
		{herald.Publish{App: "app-key", Event: "e"}, herald.ErrNoChannels},
		{herald.Publish{App: "app-key", Channels: make([]string, 101), Event: "e"}, herald.ErrTooManyChannels},
		{herald.Publish{App: "app-key", Channels: []string{"a"}}, herald.ErrInvalidEvent},
		{herald.Publish{App: "app-key", Channels: []string{"a"}, Event: "e", Data: strings.Repeat("x", 10*1024+1)}, herald.ErrDataTooLarge},
		{herald.Publish{App: "app-key", Channels: []string{"a"}, Event: "e", ExceptSocketID: "x"}, herald.ErrInvalidSocketID},
	} {
		if err := e.h.Publish(ctx, tc.p); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.p, err, tc.want)
		}
		e.system.Root.RequestWithCustomSender(e.h.PID(), &tc.p, asker.pid)
		if d := next[*herald.Done](t, asker); !errors.Is(d.Err, tc.want) {
			t.Errorf("message %+v: %v, want %v", tc.p, d.Err, tc.want)
		}
	}
	// Subscriptions refused: a presence channel needs a member, a name
	// must be valid.
	var se *herald.SubscriptionError
	if err := e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "presence-x", Subscriber: sub.pid}); !errors.Is(err, herald.ErrInvalidMember) {
		t.Errorf("presence without a member: %v", err)
	}
	if err := e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "bad name", Subscriber: sub.pid}); !errors.As(err, &se) || se.Channel != "bad name" {
		t.Errorf("bad name: %v", err)
	}
	if m := next[*herald.SubscriptionError](t, sub); m.Channel != "bad name" {
		t.Errorf("%+v", m)
	}
	if err := e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "news"}); !errors.Is(err, herald.ErrNoActor) {
		t.Errorf("no subscriber: %v", err)
	}
}

// Facts arrive as typed messages, in the order the channel tells them;
// with Debounce, a reload within the window shows nothing.
func TestFactsInOrder(t *testing.T) {
	e := startIn(t, newSystem(t), herald.Options{}, nil)
	ctx := context.Background()
	w := newInbox(e.system)
	if err := e.h.WatchFacts(ctx, herald.WatchFacts{App: "app-key", Watcher: w.pid}); err != nil {
		t.Fatal(err)
	}
	a, b := e.connect(t), e.connect(t)
	a.SubscribePresence("presence-facts", "alice", nil)
	b.SubscribePresence("presence-facts", "bob", nil)
	a.Expect(pusher.EventMemberAdded)
	a.Send(map[string]any{"event": "client-wave", "channel": "presence-facts", "data": "{}"})
	b.Expect("client-wave")
	a.Unsubscribe("presence-facts")
	b.Unsubscribe("presence-facts")

	if f := next[*herald.ChannelOccupied](t, w); f.Channel != "presence-facts" || f.App != "app-id" {
		t.Fatalf("%+v", f)
	}
	if f := next[*herald.MemberAdded](t, w); f.UserID != "alice" {
		t.Fatalf("%+v", f)
	}
	if f := next[*herald.MemberAdded](t, w); f.UserID != "bob" {
		t.Fatalf("%+v", f)
	}
	if f := next[*herald.ClientEventSent](t, w); f.Event != "client-wave" || f.SocketID != a.SocketID || f.UserID != "alice" {
		t.Fatalf("%+v", f)
	}
	// The two sockets leave through their own actors: in either order.
	removed := next[*herald.MemberRemoved](t, w).UserID + " " + next[*herald.MemberRemoved](t, w).UserID
	if removed != "alice bob" && removed != "bob alice" {
		t.Fatalf("removed %s", removed)
	}
	next[*herald.ChannelVacated](t, w)

	// Unwatched: nothing more.
	if err := e.h.UnwatchFacts(herald.UnwatchFacts{App: "app-key", Watcher: w.pid}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // UnwatchFacts does not wait
	e.connect(t).Subscribe("after-unwatch")
	quiet(t, w, 200*time.Millisecond)

	// Debounced: a page reload (leave and come back within the window)
	// shows nothing; leaving for good shows after the window.
	d := newInbox(e.system)
	if err := e.h.WatchFacts(ctx, herald.WatchFacts{App: "app-key", Watcher: d.pid, Debounce: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	a = e.connect(t)
	a.SubscribePresence("presence-page", "alice", nil)
	next[*herald.ChannelOccupied](t, d)
	next[*herald.MemberAdded](t, d)
	a.Unsubscribe("presence-page")
	a.SubscribePresence("presence-page", "alice", nil)
	quiet(t, d, 600*time.Millisecond)
	a.Unsubscribe("presence-page")
	if f := next[*herald.MemberRemoved](t, d); f.UserID != "alice" {
		t.Fatalf("%+v", f)
	}
	next[*herald.ChannelVacated](t, d)

	// A watcher that stops is forgotten.
	e.system.Root.Stop(d.pid)
	time.Sleep(50 * time.Millisecond)
	a.Subscribe("after-stop")
	quiet(t, d, 200*time.Millisecond)
}

// Two Heralds in one ActorSystem, with the same app key, do not collide:
// each has its own actors, sockets, subscribers and facts.
func TestTwoHeraldsInOneSystem(t *testing.T) {
	system := newSystem(t)
	one := startIn(t, system, herald.Options{}, nil)
	two := startIn(t, system, herald.Options{}, nil)
	ctx := context.Background()
	c1, c2 := one.connect(t), two.connect(t)
	c1.Subscribe("news")
	c2.Subscribe("news")
	s1, s2 := newInbox(system), newInbox(system)
	for _, x := range []struct {
		e *embedded
		s *inbox
	}{{one, s1}, {two, s2}} {
		if err := x.e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "news", Subscriber: x.s.pid}); err != nil {
			t.Fatal(err)
		}
		next[*herald.Subscribed](t, x.s)
	}
	if err := one.h.Publish(ctx, herald.Publish{App: "app-key", Channels: []string{"news"}, Event: "from-one", Data: "1"}); err != nil {
		t.Fatal(err)
	}
	system.Root.Send(two.h.PID(), &herald.Publish{App: "app-key", Channels: []string{"news"}, Event: "from-two", Data: "2"})
	c1.Expect("from-one")
	c2.Expect("from-two")
	if ev := next[*herald.ChannelEvent](t, s1); ev.Event != "from-one" {
		t.Fatalf("one's subscriber got %+v", ev)
	}
	if ev := next[*herald.ChannelEvent](t, s2); ev.Event != "from-two" {
		t.Fatalf("two's subscriber got %+v", ev)
	}
	if one.h.PID().Equal(two.h.PID()) {
		t.Fatal("one gateway for two Heralds")
	}
	// One shuts down; the other keeps serving, in the same system.
	one.stop(t)
	if err := one.h.Publish(ctx, herald.Publish{App: "app-key", Channels: []string{"news"}, Event: "x", Data: "1"}); !errors.Is(err, herald.ErrNotRunning) {
		t.Fatalf("publish after shutdown: %v", err)
	}
	if m := next[*herald.SubscriptionError](t, s1); m.Channel != "news" {
		t.Fatalf("%+v", m)
	}
	two.api.Trigger("news", "still", "3", nil)
	c2.Expect("still")
	if ev := next[*herald.ChannelEvent](t, s2); ev.Event != "still" {
		t.Fatalf("%+v", ev)
	}
	c1.Quiet(100 * time.Millisecond)
}

// A subscriber slower than its channel never holds the channel up: with a
// bounded dropping mailbox it keeps the newest events, and sockets get
// every one.
func TestSlowSubscriberDoesNotStallTheChannel(t *testing.T) {
	e := startIn(t, newSystem(t), herald.Options{}, nil)
	ctx := context.Background()
	release := make(chan struct{})
	got := make(chan string, 64)
	slow := e.system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*herald.ChannelEvent); ok {
			<-release // blocked until the test has published everything
			got <- ev.Data
		}
	}, actor.WithMailbox(actor.BoundedDropping(8))))
	if err := e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "firehose", Subscriber: slow}); err != nil {
		t.Fatal(err)
	}
	c := e.connect(t)
	c.Subscribe("firehose")
	const n = 200
	for i := range n {
		if err := e.h.Publish(ctx, herald.Publish{App: "app-key", Channels: []string{"firehose"}, Event: "e", Data: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		c.Expect("e")
	}
	close(release)
	var last string
	count := 0
	for done := false; !done; {
		select {
		case d := <-got:
			last, count = d, count+1
		case <-time.After(300 * time.Millisecond):
			done = true
		}
	}
	if last != fmt.Sprint(n-1) || count > 16 {
		t.Fatalf("the slow subscriber got %d events, the last %q: want the newest few, ending with %d", count, last, n-1)
	}
}

// Options.NoListeners: the program serves Handler (and APIHandler) on its
// own server.
func TestHandlersOnTheProgramsOwnMux(t *testing.T) {
	e := startIn(t, newSystem(t), herald.Options{NoListeners: true}, nil)
	if e.h.WebSocketAddr() != nil || e.h.APIAddr() != nil {
		t.Fatal("listeners opened")
	}
	mux := http.NewServeMux()
	mux.Handle("/realtime/app/", e.h.Handler())
	mux.Handle("/apps/", e.h.APIHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := pushertest.Connect(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/realtime", "app-key", "app-secret")
	c.Subscribe("own-mux")
	api := pushertest.API{T: t, Base: srv.URL, ID: "app-id", Key: "app-key", Secret: "app-secret"}
	api.Trigger("own-mux", "hello", "1", nil)
	c.Expect("hello")
}

// The in-process authorizer signs what it grants, which a real socket
// then subscribes with, and refuses with 403 and the authorizer's reason.
func TestAuthorizerSignsAndRefuses(t *testing.T) {
	var asked []*herald.AuthRequest
	authorize := func(r *herald.AuthRequest) (herald.Grant, error) {
		asked = append(asked, r) // one request at a time in this test
		user := r.HTTP.Header.Get("X-User")
		switch {
		case user == "":
			return herald.Grant{}, errors.New("not signed in")
		case strings.Contains(r.Channel, "admin") && user != "root":
			return herald.Grant{}, errors.New("admins only")
		}
		return herald.Grant{UserID: user, UserInfo: map[string]string{"name": strings.ToUpper(user)}}, nil
	}
	e := startIn(t, newSystem(t), herald.Options{Authorizer: authorize}, nil)
	c := e.connect(t)
	auth := func(path string, form url.Values, user string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.api.Base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.Header.Set("X-User", user)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		if err := jsonDecode(res, &out); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, out
	}

	code, res := auth("/auth/app-key", url.Values{"socket_id": {c.SocketID}, "channel_name": {"presence-lobby"}}, "ann")
	if code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	if a := asked[0]; a.App != "app-key" || a.SocketID != c.SocketID || a.Channel != "presence-lobby" {
		t.Fatalf("asked %+v", a)
	}
	c.Send(map[string]any{"event": pusher.EventSubscribe, "data": map[string]any{
		"channel": "presence-lobby", "auth": res["auth"], "channel_data": res["channel_data"]}})
	f := c.Expect(pusher.EventSubscriptionSucceeded)
	var p struct {
		Presence struct {
			Hash map[string]map[string]string `json:"hash"`
		} `json:"presence"`
	}
	c.DataJSON(f, &p)
	if p.Presence.Hash["ann"]["name"] != "ANN" {
		t.Fatalf("members %+v", p.Presence)
	}

	// A private channel, then a sign-in (no channel_name).
	if code, res = auth("/auth/app-key", url.Values{"socket_id": {c.SocketID}, "channel_name": {"private-x"}}, "ann"); code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	c.Send(map[string]any{"event": pusher.EventSubscribe, "data": map[string]any{"channel": "private-x", "auth": res["auth"]}})
	c.Expect(pusher.EventSubscriptionSucceeded)
	if code, res = auth("/auth/app-key", url.Values{"socket_id": {c.SocketID}}, "ann"); code != 200 || res["user_data"] != `{"id":"ann","user_info":{"name":"ANN"}}` {
		t.Fatalf("%d %v", code, res)
	}
	c.Send(map[string]any{"event": pusher.EventSignin, "data": map[string]any{"auth": res["auth"], "user_data": res["user_data"]}})
	c.Expect(pusher.EventSigninSuccess)

	for _, tc := range []struct {
		path, channel, user string
		code                int
		msg                 string
	}{
		{"/auth/app-key", "private-admin", "ann", 403, "admins only"},
		{"/auth/app-key", "private-x", "", 403, "not signed in"},
		{"/auth/app-key", "news", "ann", 400, "only private- and presence- channels are authorized"},
		{"/auth/app-key", "private-encrypted-x", "ann", 400, ""},
		{"/auth/nope", "private-x", "ann", 404, "unknown app"},
	} {
		code, res := auth(tc.path, url.Values{"socket_id": {c.SocketID}, "channel_name": {tc.channel}}, tc.user)
		if code != tc.code || (tc.msg != "" && res["error"] != tc.msg) {
			t.Errorf("%+v: %d %v", tc, code, res)
		}
	}
	if code, _ := auth("/auth/app-key", url.Values{"socket_id": {"1.1; x"}, "channel_name": {"private-x"}}, "ann"); code != 400 {
		t.Errorf("bad socket id: %d", code)
	}
}

func jsonDecode(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }

// Every command is also a message to PID: with a sender it is answered
// Done, and a nil Subscriber or Watcher means the sender.
func TestCommandsAsMessages(t *testing.T) {
	e := startIn(t, newSystem(t), herald.Options{}, nil)
	self := newInbox(e.system) // the sender, subscriber and watcher
	ask := func(m any) error {
		t.Helper()
		e.system.Root.RequestWithCustomSender(e.h.PID(), m, self.pid)
		return next[*herald.Done](t, self).Err
	}
	if err := ask(&herald.WatchFacts{App: "app-key"}); err != nil {
		t.Fatal(err)
	}
	// Subscribed and the occupied fact come from the channel, Done from the
	// subscription's stand-in: in any order.
	e.system.Root.RequestWithCustomSender(e.h.PID(), &herald.Subscribe{App: "app-key", Channel: "private-cmd"}, self.pid)
	got := map[string]bool{}
	for range 3 {
		select {
		case m := <-self.ch:
			switch m := m.(type) {
			case *herald.Done:
				got["done"] = m.Err == nil
			case *herald.Subscribed:
				got["subscribed"] = m.Channel == "private-cmd"
			case *herald.ChannelOccupied:
				got["occupied"] = m.Channel == "private-cmd"
			default:
				t.Fatalf("got %T %+v", m, m)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("got only %v within 5s", got)
		}
	}
	if !got["done"] || !got["subscribed"] || !got["occupied"] {
		t.Fatalf("got %v", got)
	}
	// Done from the gateway, the vacated fact from the channel: in any order.
	e.system.Root.RequestWithCustomSender(e.h.PID(), &herald.Unsubscribe{App: "app-key", Channel: "private-cmd"}, self.pid)
	for range 2 {
		switch m := (<-self.ch).(type) {
		case *herald.Done:
			if m.Err != nil {
				t.Fatal(m.Err)
			}
		case *herald.ChannelVacated:
		default:
			t.Fatalf("got %T %+v", m, m)
		}
	}
	if err := ask(&herald.UnwatchFacts{App: "app-key"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []any{&herald.Subscribe{App: "nope", Channel: "x"}, &herald.Unsubscribe{App: "nope"},
		&herald.WatchFacts{App: "nope"}, &herald.UnwatchFacts{App: "nope"}, &herald.Publish{App: "nope", Channels: []string{"x"}, Event: "e"}} {
		if err := ask(m); !errors.Is(err, herald.ErrUnknownApp) {
			t.Errorf("%T to an unknown app: %v", m, err)
		}
	}
	// Before Start and after Shutdown the API refuses.
	e.stop(t)
	if err := e.h.Subscribe(context.Background(), herald.Subscribe{App: "app-key", Channel: "x", Subscriber: self.pid}); !errors.Is(err, herald.ErrNotRunning) {
		t.Fatalf("after shutdown: %v", err)
	}
	h, err := herald.New(config.Default(), herald.Options{NoListeners: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Publish(context.Background(), herald.Publish{App: "app-key", Channels: []string{"x"}, Event: "e"}); !errors.Is(err, herald.ErrNotRunning) || h.PID() != nil {
		t.Fatalf("before start: %v", err)
	}
}
