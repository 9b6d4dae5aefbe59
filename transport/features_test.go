package transport_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
)

func signin(t *testing.T, c *pushertest.Client, user pusher.UserData) {
	t.Helper()
	res, err := pusher.AuthenticateUser(testKey, testSecret, c.SocketID, user)
	if err != nil {
		t.Fatal(err)
	}
	c.Send(map[string]any{"event": "pusher:signin", "data": res})
	f := c.Expect(pusher.EventSigninSuccess)
	var d struct {
		UserData string `json:"user_data"`
	}
	c.DataJSON(f, &d)
	if d.UserData != res.UserData {
		t.Fatalf("signin_success %v", f)
	}
}

func TestSigninAndServerToUserEvents(t *testing.T) {
	b := startBroker(t)
	tab1, tab2, other := b.connect(), b.connect(), b.connect()
	signin(t, tab1, pusher.UserData{ID: "u1"})
	signin(t, tab2, pusher.UserData{ID: "u1"})
	signin(t, other, pusher.UserData{ID: "u2"})
	// pusher-js subscribes to its own #server-to-user- channel after signin.
	tab1.Subscribe("#server-to-user-u1")
	tab1.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "#server-to-user-u2"}})
	tab1.Expect(pusher.EventSubscriptionError)

	b.api.Trigger("#server-to-user-u1", "notice", `{"n":1}`, nil)
	for _, c := range []*pushertest.Client{tab1, tab2} {
		if f := c.Expect("notice"); f["channel"] != "#server-to-user-u1" || f["data"] != `{"n":1}` {
			t.Fatalf("frame %v", f)
		}
	}
	other.Quiet(200 * time.Millisecond)

	code, res := b.api.Call("POST", "/apps/"+testID+"/users/u1/terminate_connections", nil, map[string]any{})
	if code != 200 || len(res) != 0 {
		t.Fatalf("terminate: %d %v", code, res)
	}
	for _, c := range []*pushertest.Client{tab1, tab2} {
		c.Expect(pusher.EventError)
		if e := c.WaitClose(); e.Code != 4009 {
			t.Fatalf("closed with %d, want 4009", e.Code)
		}
	}
	other.Send(map[string]any{"event": "pusher:ping"})
	other.Expect(pusher.EventPong)
}

func TestSigninRefused(t *testing.T) {
	b := startBroker(t)
	cases := map[string]func(c *pushertest.Client) any{
		"bad signature": func(c *pushertest.Client) any {
			return map[string]string{"auth": testKey + ":" + sign("wrong", c.SocketID+"::user::{\"id\":\"u\"}"), "user_data": `{"id":"u"}`}
		},
		"missing id": func(c *pushertest.Client) any {
			ud := `{"name":"x"}`
			return map[string]string{"auth": pusher.UserAuth(testKey, testSecret, c.SocketID, ud), "user_data": ud}
		},
		"numeric id": func(c *pushertest.Client) any {
			ud := `{"id":5}`
			return map[string]string{"auth": pusher.UserAuth(testKey, testSecret, c.SocketID, ud), "user_data": ud}
		},
	}
	for name, data := range cases {
		c := b.connect()
		c.Send(map[string]any{"event": "pusher:signin", "data": data(c)})
		f := c.Expect(pusher.EventError)
		if f["data"].(map[string]any)["code"] != float64(4009) {
			t.Fatalf("%s: %v", name, f)
		}
		if e := c.WaitClose(); e.Code != 4009 {
			t.Fatalf("%s: closed with %d", name, e.Code)
		}
	}
}

func watchlistEvents(t *testing.T, c *pushertest.Client) []map[string]any {
	t.Helper()
	var d struct {
		Events []map[string]any `json:"events"`
	}
	c.DataJSON(c.Expect(pusher.EventWatchlist), &d)
	return d.Events
}

func TestWatchlist(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { ac.Apps[0].Watchlist = true })
	ann := b.connect()
	signin(t, ann, pusher.UserData{ID: "ann", Watchlist: []string{"bob", "cy"}})
	ann.Quiet(100 * time.Millisecond) // nobody watched is online yet

	bob := b.connect()
	signin(t, bob, pusher.UserData{ID: "bob"})
	ev := watchlistEvents(t, ann)
	if len(ev) != 1 || ev[0]["name"] != "online" || ev[0]["user_ids"].([]any)[0] != "bob" {
		t.Fatalf("events %v", ev)
	}
	// A second connection of bob is not a transition.
	bob2 := b.connect()
	signin(t, bob2, pusher.UserData{ID: "bob"})
	ann.Quiet(100 * time.Millisecond)

	// A late watcher gets the snapshot of who is online.
	dee := b.connect()
	signin(t, dee, pusher.UserData{ID: "dee", Watchlist: []string{"bob"}})
	if ev := watchlistEvents(t, dee); ev[0]["name"] != "online" || len(ev[0]["user_ids"].([]any)) != 1 {
		t.Fatalf("snapshot %v", ev)
	}

	_ = bob.Conn.WriteClose(1000, nil)
	ann.Quiet(200 * time.Millisecond)
	_ = bob2.Conn.WriteClose(1000, nil)
	for _, c := range []*pushertest.Client{ann, dee} {
		if ev := watchlistEvents(t, c); ev[0]["name"] != "offline" || ev[0]["user_ids"].([]any)[0] != "bob" {
			t.Fatalf("events %v", ev)
		}
	}
}

func TestWatchlistCap(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { ac.Apps[0].Watchlist = true })
	c := b.connect()
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = "u" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	ud, _ := json.Marshal(map[string]any{"id": "me", "watchlist": ids})
	c.Send(map[string]any{"event": "pusher:signin", "data": map[string]string{
		"auth": pusher.UserAuth(testKey, testSecret, c.SocketID, string(ud)), "user_data": string(ud)}})
	c.Expect(pusher.EventError)
	if e := c.WaitClose(); e.Code != 4009 {
		t.Fatalf("closed with %d", e.Code)
	}
}

func TestCacheChannels(t *testing.T) {
	b := startBroker(t)
	// Nothing cached: a cache miss.
	c := b.connect()
	c.Subscribe("cache-prices")
	if f := c.Expect(pusher.EventCacheMiss); f["channel"] != "cache-prices" {
		t.Fatalf("frame %v", f)
	}
	// Published while nobody listens: a late subscriber gets it first.
	b.api.Trigger("cache-empty-room", "price", `{"eur":1}`, nil)
	b.api.Trigger("cache-empty-room", "price", `{"eur":2}`, nil)
	// A trigger is answered once it is queued, not once it is cached: wait
	// for the second before a client subscribes.
	waitFor(t, func() bool {
		_, res := b.api.Call("GET", "/apps/"+testID+"/channels/cache-empty-room", url.Values{"info": {"cache"}}, nil)
		cache, _ := res["cache"].(map[string]any)
		return cache["data"] == `{"eur":2}`
	})
	late := b.connect()
	late.Subscribe("cache-empty-room")
	if f := late.Expect("price"); f["data"] != `{"eur":2}` || f["channel"] != "cache-empty-room" {
		t.Fatalf("frame %v", f)
	}
	code, res := b.api.Call("GET", "/apps/"+testID+"/channels/cache-empty-room", url.Values{"info": {"cache"}}, nil)
	cache, _ := res["cache"].(map[string]any)
	if code != 200 || cache["event"] != "price" || cache["data"] != `{"eur":2}` || cache["ttl"].(float64) <= 0 {
		t.Fatalf("%d %v", code, res)
	}
	// Private cache channels too.
	b.api.Trigger("private-cache-x", "e", "1", nil)
	p := b.connect()
	p.Subscribe("private-cache-x")
	p.Expect("e")
}

func TestCacheTTL(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { ac.Apps[0].CacheTTL = 100 * time.Millisecond })
	b.api.Trigger("cache-short", "e", "1", nil)
	time.Sleep(150 * time.Millisecond)
	c := b.connect()
	c.Subscribe("cache-short")
	c.Expect(pusher.EventCacheMiss)
}

func TestSubscriptionCount(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { ac.Apps[0].SubscriptionCount = true })
	count := func(c *pushertest.Client) int {
		t.Helper()
		var d struct {
			N int `json:"subscription_count"`
		}
		c.DataJSON(c.Expect(pusher.EventSubscriptionCount), &d)
		return d.N
	}
	a := b.connect()
	a.Subscribe("live")
	if n := count(a); n != 1 {
		t.Fatalf("count %d", n)
	}
	last := time.Now() // when the previous count frame arrived
	// Three more join at once: the counts are coalesced, at most one
	// frame a second, until the last one says 4.
	var others []*pushertest.Client
	for i := 0; i < 3; i++ {
		o := b.connect()
		o.Subscribe("live")
		others = append(others, o)
	}
	for n := 0; n != 4; {
		n = count(a)
		if gap := time.Since(last); gap < 800*time.Millisecond {
			t.Fatalf("count %d came %s after the previous one: not coalesced", n, gap)
		}
		last = time.Now()
	}
	a.Quiet(300 * time.Millisecond)
	// Presence channels use user_count instead.
	a.SubscribePresence("presence-live", "u", nil)
	a.Quiet(1200 * time.Millisecond)
	_ = others
}

func TestUserAuthenticationTimeout(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) {
		ac.Apps[0].UserAuthenticationTimeout = 300 * time.Millisecond
	})
	anon, signed, private := b.connect(), b.connect(), b.connect()
	signin(t, signed, pusher.UserData{ID: "s"})
	private.Subscribe("private-ok")
	anon.Expect(pusher.EventError)
	if e := anon.WaitClose(); e.Code != 4009 {
		t.Fatalf("closed with %d", e.Code)
	}
	for _, c := range []*pushertest.Client{signed, private} {
		c.Quiet(300 * time.Millisecond)
		c.Send(map[string]any{"event": "pusher:ping"})
		c.Expect(pusher.EventPong)
	}
}
