package transport_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
	"github.com/lxzan/gws"
)

func TestHandshake(t *testing.T) {
	b := startBroker(t)
	c1 := b.dial("/app/" + testKey + "?protocol=7")
	f := c1.Expect(pusher.EventConnectionEstablished)
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	c1.DataJSON(f, &d)
	if !pusher.ValidSocketID(d.SocketID) {
		t.Fatalf("socket_id %q", d.SocketID)
	}
	if d.ActivityTimeout != 30 {
		t.Fatalf("activity_timeout %d, want 30", d.ActivityTimeout)
	}
	// A path prefix (a proxy's) works too, and socket ids are unique.
	c2 := b.dial("/ws/herald/app/" + testKey)
	var d2 struct {
		SocketID string `json:"socket_id"`
	}
	c2.DataJSON(c2.Expect(pusher.EventConnectionEstablished), &d2)
	if d2.SocketID == d.SocketID {
		t.Fatal("two sockets got the same socket_id")
	}
}

func TestUnknownAppKeyIsRefusedWith4001(t *testing.T) {
	b := startBroker(t)
	c := b.dial("/app/nope")
	f := c.Expect(pusher.EventError)
	data := f["data"].(map[string]any)
	if data["code"] != float64(4001) {
		t.Fatalf("error %v", f)
	}
	if e := c.WaitClose(); e.Code != 4001 {
		t.Fatalf("closed with %d, want 4001", e.Code)
	}
}

func TestUnsupportedProtocolIsRefusedWith4007(t *testing.T) {
	b := startBroker(t)
	c := b.dial("/app/" + testKey + "?protocol=3")
	c.Expect(pusher.EventError)
	if e := c.WaitClose(); e.Code != 4007 {
		t.Fatalf("closed with %d, want 4007", e.Code)
	}
}

func TestPublicChannelReceivesAPIEventExactly(t *testing.T) {
	b := startBroker(t)
	c := b.connect()
	c.Subscribe("user-1")
	b.api.Trigger("user-1", "message", `{"text":"hi \"there\""}`, nil)
	f := c.Expect("message")
	if f["channel"] != "user-1" || f["data"] != `{"text":"hi \"there\""}` {
		t.Fatalf("frame %v", f)
	}
	if len(f) != 3 {
		t.Fatalf("frame has extra fields: %v", f)
	}
}

// An event to several channels and a batch reach every subscriber once
// per channel it is on, in order within a channel: the frames one request
// makes for a socket go out in one write (a burst), which must lose or
// repeat none of them, also with a channel that has no subscriber.
func TestMultiChannelEventAndBatchReachEverySubscriberOnce(t *testing.T) {
	b := startBroker(t)
	all, one := b.connect(), b.connect()
	for _, ch := range []string{"a", "b", "c"} {
		all.Subscribe(ch)
	}
	one.Subscribe("b")
	if code, res := b.api.Call("POST", "/apps/"+testID+"/events", nil,
		map[string]any{"name": "e", "data": "0", "channels": []string{"a", "b", "c", "nobody"}}); code != 200 {
		t.Fatalf("trigger: %d %v", code, res)
	}
	batch := []map[string]any{{"name": "e", "data": "1", "channel": "a"}, {"name": "e", "data": "2", "channel": "b"},
		{"name": "e", "data": "3", "channel": "a"}, {"name": "e", "data": "4", "channel": "nobody"}}
	if code, res := b.api.Call("POST", "/apps/"+testID+"/batch_events", nil, map[string]any{"batch": batch}); code != 200 {
		t.Fatalf("batch: %d %v", code, res)
	}
	got := map[string][]any{}
	for range 6 {
		f := all.Expect("e")
		got[f["channel"].(string)] = append(got[f["channel"].(string)], f["data"])
	}
	want := map[string][]any{"a": {"0", "1", "3"}, "b": {"0", "2"}, "c": {"0"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("on a, b and c got %v, want %v", got, want)
	}
	for _, data := range []string{"0", "2"} {
		if f := one.Expect("e"); f["channel"] != "b" || f["data"] != data {
			t.Fatalf("on b got %v, want data %s", f, data)
		}
	}
	all.Quiet(50 * time.Millisecond)
	one.Quiet(10 * time.Millisecond)
}

func TestPingPong(t *testing.T) {
	b := startBroker(t)
	c := b.connect()
	c.Send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	f := c.Expect(pusher.EventPong)
	if f["data"] != "{}" {
		t.Fatalf("pong %v", f)
	}
}

func TestPrivateChannelAuth(t *testing.T) {
	b := startBroker(t)
	c := b.connect()
	c.Subscribe("private-orders")

	want := sign(testSecret, c.SocketID+":private-bad")
	c.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": "private-bad", "auth": testKey + ":" + strings.Repeat("0", 64)}})
	f := c.Expect(pusher.EventSubscriptionError)
	if f["channel"] != "private-bad" {
		t.Fatalf("frame %v", f)
	}
	var e struct {
		Type   string `json:"type"`
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	c.DataJSON(f, &e)
	if e.Status != 401 || strings.Contains(f["data"].(string), want) {
		t.Fatalf("refusal %v (must not reveal the signature)", f)
	}
	// Missing auth is refused the same way; the socket stays usable.
	c.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "private-none"}})
	c.Expect(pusher.EventSubscriptionError)
	b.api.Trigger("private-orders", "created", "1", nil)
	c.Expect("created")
}

func TestPresenceMembersArePerUser(t *testing.T) {
	b := startBroker(t)
	alice1 := b.connect()
	f := alice1.SubscribePresence("presence-room", "alice", map[string]string{"name": "Alice"})
	var p struct {
		Presence struct {
			IDs   []string                  `json:"ids"`
			Hash  map[string]map[string]any `json:"hash"`
			Count int                       `json:"count"`
		} `json:"presence"`
	}
	alice1.DataJSON(f, &p)
	if p.Presence.Count != 1 || p.Presence.IDs[0] != "alice" || p.Presence.Hash["alice"]["name"] != "Alice" {
		t.Fatalf("presence %+v", p)
	}

	bob := b.connect()
	bob.SubscribePresence("presence-room", "bob", nil)
	var added struct {
		UserID string `json:"user_id"`
	}
	alice1.DataJSON(alice1.Expect(pusher.EventMemberAdded), &added)
	if added.UserID != "bob" {
		t.Fatalf("member_added %+v", added)
	}

	// Alice's second tab: bob sees no second member_added.
	alice2 := b.connect()
	alice2.SubscribePresence("presence-room", "alice", map[string]string{"name": "Alice"})
	bob.Quiet(200 * time.Millisecond)

	code, res := b.api.Call("GET", "/apps/"+testID+"/channels/presence-room/users", nil, nil)
	if code != 200 || len(res["users"].([]any)) != 2 {
		t.Fatalf("users %d %v", code, res)
	}
	code, res = b.api.Call("GET", "/apps/"+testID+"/channels/presence-room", url.Values{"info": {"user_count,subscription_count"}}, nil)
	if code != 200 || res["user_count"] != float64(2) || res["subscription_count"] != float64(3) || res["occupied"] != true {
		t.Fatalf("channel %d %v", code, res)
	}

	// One tab closing removes nobody; the last one does.
	_ = alice1.Conn.WriteClose(1000, nil)
	bob.Quiet(200 * time.Millisecond)
	alice2.Send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": "presence-room"}})
	var removed struct {
		UserID string `json:"user_id"`
	}
	bob.DataJSON(bob.Expect(pusher.EventMemberRemoved), &removed)
	if removed.UserID != "alice" {
		t.Fatalf("member_removed %+v", removed)
	}
}

func TestPresenceRefusesBadChannelData(t *testing.T) {
	b := startBroker(t)
	c := b.connect()
	cd := `{"user_info":{}}`
	c.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": "presence-x", "channel_data": cd,
		"auth": testKey + ":" + sign(testSecret, c.SocketID+":presence-x:"+cd)}})
	c.Expect(pusher.EventSubscriptionError)
	// user_info is optional (webman required it).
	cd = `{"user_id":7}`
	c.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": "presence-x", "channel_data": cd,
		"auth": testKey + ":" + sign(testSecret, c.SocketID+":presence-x:"+cd)}})
	var p struct {
		Presence struct{ IDs []string } `json:"presence"`
	}
	c.DataJSON(c.Expect(pusher.EventSubscriptionSucceeded), &p)
	if len(p.Presence.IDs) != 1 || p.Presence.IDs[0] != "7" {
		t.Fatalf("ids %v", p.Presence.IDs)
	}
}

func TestPresenceMemberCap(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { ac.Apps[0].MaxPresenceMembers = 2 })
	for _, u := range []string{"a", "b"} {
		b.connect().SubscribePresence("presence-full", u, nil)
	}
	c := b.connect()
	cd := `{"user_id":"c"}`
	c.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": "presence-full", "channel_data": cd,
		"auth": testKey + ":" + sign(testSecret, c.SocketID+":presence-full:"+cd)}})
	c.Expect(pusher.EventSubscriptionError)
}

func TestClientEvents(t *testing.T) {
	b := startBroker(t)
	a, o := b.connect(), b.connect()
	a.Subscribe("private-chat")
	o.Subscribe("private-chat")
	a.Send(map[string]any{"event": "client-typing", "channel": "private-chat", "data": map[string]any{"who": "a"}})
	f := o.Expect("client-typing")
	if f["data"] != `{"who":"a"}` || f["channel"] != "private-chat" {
		t.Fatalf("frame %v", f)
	}
	a.Quiet(200 * time.Millisecond) // never echoed

	// On presence channels the sender's user_id is added.
	a.SubscribePresence("presence-chat", "ann", nil)
	o.SubscribePresence("presence-chat", "otto", nil)
	a.Expect(pusher.EventMemberAdded)
	a.Send(map[string]any{"event": "client-wave", "channel": "presence-chat", "data": "hi"})
	f = o.Expect("client-wave")
	if f["user_id"] != "ann" || f["data"] != `"hi"` {
		t.Fatalf("frame %v", f)
	}

	// Public channels, unsubscribed channels and names without client- are refused with 4301.
	a.Subscribe("public-room")
	for _, ev := range []map[string]any{
		{"event": "client-x", "channel": "public-room", "data": "{}"},
		{"event": "client-x", "channel": "private-elsewhere", "data": "{}"},
		{"event": "typing", "channel": "private-chat", "data": "{}"},
	} {
		a.Send(ev)
		e := a.Expect(pusher.EventError)
		if e["data"].(map[string]any)["code"] != float64(4301) {
			t.Fatalf("error %v for %v", e, ev)
		}
	}
	o.Quiet(100 * time.Millisecond)
}

func TestClientEventRateLimit(t *testing.T) {
	b := startBroker(t)
	a, o := b.connect(), b.connect()
	a.Subscribe("private-fast")
	o.Subscribe("private-fast")
	for i := 0; i < 15; i++ {
		a.Send(map[string]any{"event": "client-n", "channel": "private-fast", "data": i})
	}
	got := 0
	for i := 0; i < 10; i++ {
		o.Expect("client-n")
		got++
	}
	o.Quiet(200 * time.Millisecond)
	errs := 0
	for i := 0; i < 5; i++ {
		e := a.Expect(pusher.EventError)
		if e["data"].(map[string]any)["code"] == float64(4301) {
			errs++
		}
	}
	if got != 10 || errs != 5 {
		t.Fatalf("delivered %d, refused %d", got, errs)
	}
	// The socket stays open.
	a.Send(map[string]any{"event": "pusher:ping"})
	a.Expect(pusher.EventPong)
}

func TestClientEventsOffForApp(t *testing.T) {
	b := startBroker(t)
	c := b.dial("/app/quiet-key")
	f := c.Expect(pusher.EventConnectionEstablished)
	var d struct {
		SocketID string `json:"socket_id"`
	}
	c.DataJSON(f, &d)
	c.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": "private-q", "auth": "quiet-key:" + sign("quiet-secret", d.SocketID+":private-q")}})
	c.Expect(pusher.EventSubscriptionSucceeded)
	c.Send(map[string]any{"event": "client-x", "channel": "private-q", "data": "{}"})
	if e := c.Expect(pusher.EventError); e["data"].(map[string]any)["code"] != float64(4301) {
		t.Fatalf("error %v", e)
	}
}

func TestBadInputHarmsOnlyThatSocket(t *testing.T) {
	b := startBroker(t, func(_ *actors.Config, tc *transport.Config) { tc.MaxMessageSize = 4096 })
	good := b.connect()
	good.Subscribe("news")
	bad := b.connect()
	bad.Subscribe("news")

	cases := []struct {
		name  string
		frame []byte
	}{
		{"invalid JSON", []byte(`{"event":`)},
		{"not an object", []byte(`[1,2]`)},
		{"missing event", []byte(`{"data":{}}`)},
		{"unknown pusher event", []byte(`{"event":"pusher:frobnicate","data":{}}`)},
		{"subscribe without channel", []byte(`{"event":"pusher:subscribe","data":"x"}`)},
		{"invalid channel name", []byte(`{"event":"pusher:subscribe","data":{"channel":"bad name!"}}`)},
		{"server-to-user channel", []byte(`{"event":"pusher:subscribe","data":{"channel":"#server-to-user-1"}}`)},
	}
	for _, tc := range cases {
		bad.SendRaw(tc.frame)
		f := bad.Next()
		if f["event"] != pusher.EventError && f["event"] != pusher.EventSubscriptionError {
			t.Fatalf("%s: got %v", tc.name, f)
		}
	}
	if err := bad.Conn.WriteMessage(gws.OpcodeBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	bad.Expect(pusher.EventError)

	b.api.Trigger("news", "headline", "1", nil)
	good.Expect("headline")
	bad.Expect("headline")

	// An oversized frame closes that socket (1009) and only that one.
	if err := bad.Conn.WriteMessage(gws.OpcodeText, []byte(`{"event":"client-x","data":"`+strings.Repeat("x", 5000)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if e := bad.WaitClose(); e.Code != 1009 {
		t.Fatalf("closed with %d, want 1009", e.Code)
	}
	b.api.Trigger("news", "headline", "2", nil)
	if f := good.Expect("headline"); f["data"] != "2" {
		t.Fatalf("frame %v", f)
	}
}

func TestDuplicateSubscribeAndStrayUnsubscribe(t *testing.T) {
	b := startBroker(t)
	c := b.connect()
	c.Subscribe("dup")
	c.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "dup"}})
	c.Send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": "never"}})
	c.Quiet(200 * time.Millisecond)
	code, res := b.api.Call("GET", "/apps/"+testID+"/channels/dup", url.Values{"info": {"subscription_count"}}, nil)
	if code != 200 || res["subscription_count"] != float64(1) {
		t.Fatalf("%d %v", code, res)
	}
	c.Send(map[string]any{"event": "pusher:unsubscribe", "data": map[string]string{"channel": "dup"}})
	waitFor(t, func() bool {
		_, res := b.api.Call("GET", "/apps/"+testID+"/channels/dup", nil, nil)
		return res["occupied"] == false
	})
}

func TestServerPingsIdleClientAndClosesWith4201(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, tc *transport.Config) {
		ac.Timing = actors.Timing{ActivityTimeout: time.Second, PongTimeout: 500 * time.Millisecond}
	})
	c := b.connect()
	f := c.Expect(pusher.EventPing)
	c.Send(map[string]any{"event": "pusher:pong", "data": map[string]any{}})
	// Answered: the next ping comes after another idle second, not a close.
	c.Expect(pusher.EventPing)
	if e := c.WaitClose(); e.Code != 4201 {
		t.Fatalf("closed with %d, want 4201 (%v)", e.Code, f)
	}
}

func TestShutdownClosesSocketsWith4200(t *testing.T) {
	b := startBroker(t)
	c := b.connect()
	go func() { _ = b.srv.Shutdown(t.Context()) }()
	if e := c.WaitClose(); e.Code != 4200 {
		t.Fatalf("closed with %d, want 4200", e.Code)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
