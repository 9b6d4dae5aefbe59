//go:build clustertest

// Three brokers, each in its own actor system with its own listeners, as
// one cluster (Proto.Actor's test provider, gRPC on loopback), driven by
// real WebSocket clients and the HTTP API. Several remote nodes in one
// process race inside grpclog under -race (docs/cluster.md), so this runs
// without it: go test -tags clustertest -run Cluster ./transport/
package transport_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
)

// startClusterBrokers starts n brokers as one cluster, the test app
// changed by mut (if any).
func startClusterBrokers(t *testing.T, n int, mut ...func(*actors.AppConfig)) []*broker {
	t.Helper()
	agent := test.NewInMemAgent()
	var bs []*broker
	for i := 0; i < n; i++ {
		bs = append(bs, startBroker(t, func(ac *actors.Config, _ *transport.Config) {
			for _, m := range mut {
				m(&ac.Apps[0])
			}
			ac.Cluster = &actors.ClusterConfig{Name: "herald-test", Provider: test.NewTestProvider(agent),
				Listen: "127.0.0.1:0", Grace: 500 * time.Millisecond}
		}))
	}
	// Every member sees every other before a test sends across them.
	waitFor(t, func() bool {
		for _, b := range bs {
			if b.b.ClusterMembers() != n {
				return false
			}
		}
		return true
	})
	return bs
}

func TestClusterOneLogicalBroker(t *testing.T) {
	nodes := startClusterBrokers(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	// A publish on any node's API reaches the subscribers of every node
	// once, in order; socket_id exclusion works across nodes.
	ca, cb := a.connect(), b.connect()
	ca.Subscribe("news")
	cb.Subscribe("news")
	for i := 0; i < 20; i++ {
		c.api.Trigger("news", "item", string(rune('a'+i)), nil)
	}
	for _, cl := range []*pushertest.Client{ca, cb} {
		for i := 0; i < 20; i++ {
			if f := cl.Expect("item"); f["data"] != string(rune('a'+i)) {
				t.Fatalf("event %d: %v", i, f)
			}
		}
	}
	c.api.Trigger("news", "not-for-b", "1", map[string]any{"socket_id": cb.SocketID})
	ca.Expect("not-for-b")
	cb.Quiet(300 * time.Millisecond)

	// Presence is cluster-wide: each member is listed wherever they are,
	// added once per user, and a second tab on a third node adds nobody.
	ann := a.connect()
	ann.SubscribePresence("presence-room", "ann", map[string]string{"name": "Ann"})
	bob := b.connect()
	var d struct {
		Presence struct {
			Count int      `json:"count"`
			IDs   []string `json:"ids"`
		} `json:"presence"`
	}
	bob.DataJSON(bob.SubscribePresence("presence-room", "bob", nil), &d)
	if d.Presence.Count != 2 {
		t.Fatalf("bob sees %+v", d.Presence)
	}
	if f := ann.Expect(pusher.EventMemberAdded); f["channel"] != "presence-room" {
		t.Fatalf("frame %v", f)
	}
	annTab := c.connect()
	annTab.SubscribePresence("presence-room", "ann", map[string]string{"name": "Ann"})
	ann.Quiet(300 * time.Millisecond)
	bob.Quiet(10 * time.Millisecond)
	code, res := a.api.Call("GET", "/apps/"+testID+"/channels/presence-room", url.Values{"info": {"user_count,subscription_count"}}, nil)
	if code != 200 || res["user_count"] != float64(2) || res["subscription_count"] != float64(3) {
		t.Fatalf("channel info from A: %d %v", code, res)
	}
	code, res = c.api.Call("GET", "/apps/"+testID+"/channels/presence-room/users", nil, nil)
	if users, _ := res["users"].([]any); code != 200 || len(users) != 2 {
		t.Fatalf("users from C: %d %v", code, res)
	}

	// Client events reach the other nodes' subscribers, never the sender.
	bob.Send(map[string]any{"event": "client-typing", "channel": "presence-room", "data": map[string]any{"on": true}})
	for _, cl := range []*pushertest.Client{ann, annTab} {
		if f := cl.Expect("client-typing"); f["user_id"] != "bob" {
			t.Fatalf("client event %v", f)
		}
	}
	bob.Quiet(200 * time.Millisecond)

	// ann's first tab leaves: she is still there. Her last one leaves:
	// after the grace window, one member_removed.
	ann.Unsubscribe("presence-room")
	bob.Quiet(800 * time.Millisecond)
	annTab.Unsubscribe("presence-room")
	if f := bob.Expect(pusher.EventMemberRemoved); f["channel"] != "presence-room" {
		t.Fatalf("frame %v", f)
	}
	bob.Quiet(800 * time.Millisecond)
}

// Server-to-user events and terminate_connections reach a user's
// connections on every node.
func TestClusterUsersAcrossNodes(t *testing.T) {
	nodes := startClusterBrokers(t, 2)
	a, b := nodes[0], nodes[1]
	onA, onB := a.connect(), b.connect()
	onA.Signin("ann", nil)
	onB.Signin("ann", nil)
	other := b.connect()
	other.Signin("bob", nil)
	b.api.Trigger("#server-to-user-ann", "notice", "hi", nil)
	onA.Expect("notice")
	onB.Expect("notice")
	other.Quiet(200 * time.Millisecond)

	if code, res := a.api.Call("POST", "/apps/"+testID+"/users/ann/terminate_connections", nil, map[string]any{}); code != 200 {
		t.Fatalf("terminate: %d %v", code, res)
	}
	for _, c := range []*pushertest.Client{onA, onB} {
		c.Expect(pusher.EventError)
		if e := c.WaitClose(); e.Code != uint16(pusher.CloseUnauthorized) {
			t.Fatalf("closed with %d, want 4009", e.Code)
		}
	}
	other.Send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	other.Expect(pusher.EventPong)
}

// A cache channel keeps one last event for the whole cluster.
func TestClusterCacheChannel(t *testing.T) {
	nodes := startClusterBrokers(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	a.api.Trigger("cache-prices", "price", `{"eur":1}`, nil)
	a.api.Trigger("cache-prices", "price", `{"eur":2}`, nil)
	waitFor(t, func() bool {
		_, res := c.api.Call("GET", "/apps/"+testID+"/channels/cache-prices", url.Values{"info": {"cache"}}, nil)
		cache, _ := res["cache"].(map[string]any)
		return cache["data"] == `{"eur":2}` && cache["event"] == "price"
	})
	late := b.connect()
	late.Subscribe("cache-prices")
	if f := late.Expect("price"); f["data"] != `{"eur":2}` {
		t.Fatalf("cached event %v", f)
	}
	empty := c.connect()
	empty.Subscribe("cache-empty")
	empty.Expect(pusher.EventCacheMiss)
}

// Members joining at the same time on different nodes all end up with the
// same member list, each member seen once: a join's list and the member
// events around it neither miss nor repeat anyone.
func TestClusterConcurrentPresenceJoins(t *testing.T) {
	nodes := startClusterBrokers(t, 3)
	const users = 12
	type view struct {
		c     *pushertest.Client
		first map[string]any
	}
	views := make([]view, users)
	clients := make([]*pushertest.Client, users)
	for i := range clients {
		clients[i] = nodes[i%3].connect()
	}
	done := make(chan int, users)
	for i := range clients {
		go func(i int) { // ends once its subscribe is sent
			c := clients[i]
			cd := fmt.Sprintf(`{"user_id":"u%02d"}`, i)
			c.Send(map[string]any{"event": pusher.EventSubscribe, "data": map[string]string{
				"channel": "presence-rush", "channel_data": cd,
				"auth": pusher.ChannelAuth(testKey, testSecret, c.SocketID, "presence-rush", cd)}})
			done <- i
		}(i)
	}
	for range clients {
		<-done
	}
	for i, c := range clients {
		views[i] = view{c: c, first: c.Expect(pusher.EventSubscriptionSucceeded)}
	}
	waitFor(t, func() bool {
		_, res := nodes[0].api.Call("GET", "/apps/"+testID+"/channels/presence-rush", url.Values{"info": {"user_count"}}, nil)
		return res["user_count"] == float64(users)
	})
	time.Sleep(500 * time.Millisecond) // the last member events are on their way
	for i, v := range views {
		var d struct {
			Presence struct {
				IDs []string `json:"ids"`
			} `json:"presence"`
		}
		v.c.DataJSON(v.first, &d)
		seen := map[string]int{}
		for _, id := range d.Presence.IDs {
			seen[id]++
		}
	drain:
		for {
			select {
			case f := <-v.c.Frames():
				if f["event"] == pusher.EventMemberAdded {
					var m struct {
						UserID string `json:"user_id"`
					}
					v.c.DataJSON(f, &m)
					seen[m.UserID]++
				}
			default:
				break drain
			}
		}
		if len(seen) != users {
			t.Errorf("u%02d sees %d members: %v", i, len(seen), seen)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("u%02d saw %s %d times", i, id, n)
			}
		}
	}
}

// GET /channels lists the occupied channels of every node, with the
// cluster's counts.
func TestClusterChannelsList(t *testing.T) {
	nodes := startClusterBrokers(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	a.connect().Subscribe("room-1")
	b.connect().Subscribe("room-1")
	c.connect().Subscribe("room-2")
	b.connect().SubscribePresence("presence-x", "ann", nil)
	c.connect().SubscribePresence("presence-x", "ann", nil)
	waitFor(t, func() bool {
		code, res := a.api.Call("GET", "/apps/"+testID+"/channels", url.Values{"info": {"subscription_count"}}, nil)
		chs, _ := res["channels"].(map[string]any)
		r1, _ := chs["room-1"].(map[string]any)
		return code == 200 && len(chs) == 3 && r1["subscription_count"] == float64(2)
	})
	code, res := c.api.Call("GET", "/apps/"+testID+"/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, nil)
	chs, _ := res["channels"].(map[string]any)
	px, _ := chs["presence-x"].(map[string]any)
	if code != 200 || len(chs) != 1 || px["user_count"] != float64(1) {
		t.Fatalf("presence channels: %d %v", code, res)
	}
}

// subscription_count counts the subscribers of every node.
func TestClusterSubscriptionCount(t *testing.T) {
	nodes := startClusterBrokers(t, 2, func(a *actors.AppConfig) { a.SubscriptionCount = true })
	first := nodes[0].connect()
	first.Subscribe("counted")
	counts := func(c *pushertest.Client, want float64) {
		t.Helper()
		for {
			f := c.Expect(pusher.EventSubscriptionCount)
			var d struct {
				N float64 `json:"subscription_count"`
			}
			c.DataJSON(f, &d)
			if d.N == want {
				return
			}
		}
	}
	counts(first, 1)
	second := nodes[1].connect()
	second.Subscribe("counted")
	counts(first, 2)
	counts(second, 2)
}

// The watchlist counts a user online or offline once for the cluster:
// watchers on other nodes hear of the first connection anywhere and (after
// the grace window) of the last.
func TestClusterWatchlist(t *testing.T) {
	nodes := startClusterBrokers(t, 3, func(a *actors.AppConfig) { a.Watchlist = true })
	a, b, c := nodes[0], nodes[1], nodes[2]
	watchEvent := func(cl *pushertest.Client) (string, []string) {
		t.Helper()
		var d struct {
			Events []struct {
				Name    string   `json:"name"`
				UserIDs []string `json:"user_ids"`
			} `json:"events"`
		}
		cl.DataJSON(cl.Expect(pusher.EventWatchlist), &d)
		return d.Events[0].Name, d.Events[0].UserIDs
	}
	watcher := a.connect()
	watcher.Signin("ann", []string{"bob"})
	bob := b.connect()
	bob.Signin("bob", nil)
	if name, ids := watchEvent(watcher); name != "online" || len(ids) != 1 || ids[0] != "bob" {
		t.Fatalf("watcher heard %s %v", name, ids)
	}
	bobTab := c.connect()
	bobTab.Signin("bob", nil)
	watcher.Quiet(300 * time.Millisecond) // a second connection is not news

	late := c.connect()
	late.Signin("cy", []string{"bob"})
	if name, ids := watchEvent(late); name != "online" || len(ids) != 1 || ids[0] != "bob" {
		t.Fatalf("a late watcher's snapshot: %s %v", name, ids)
	}

	_ = bob.Conn.WriteClose(1000, nil)
	watcher.Quiet(800 * time.Millisecond) // bob is still on C
	_ = bobTab.Conn.WriteClose(1000, nil)
	for _, w := range []*pushertest.Client{watcher, late} {
		if name, ids := watchEvent(w); name != "offline" || ids[0] != "bob" {
			t.Fatalf("heard %s %v, want offline bob", name, ids)
		}
	}
}

// Each node reloads its own apps (as each herald process reloads its own
// file on SIGHUP): once both have added an app, its events and members
// cross nodes (a grain on either node finds the app, the node actors
// route to it); once both have removed it, its clients on every node are
// closed with 4001 while the other app's stay.
func TestClusterReloadAddsAndRemovesAnApp(t *testing.T) {
	nodes := startClusterBrokers(t, 2)
	a, b := nodes[0], nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reload := func(apps []actors.AppConfig) {
		for _, n := range nodes {
			if _, err := n.b.Reload(ctx, apps); err != nil {
				t.Fatal(err)
			}
		}
	}
	var kept []actors.AppConfig
	for _, app := range a.b.Apps() {
		kept = append(kept, app.Config())
	}
	added := testApp(config.App{ID: "added-id", Key: "added-key", Secret: "added-secret"})
	reload(append(kept, added))

	stays := a.connect()
	stays.Subscribe("news")
	ca := pushertest.Connect(t, a.ws, "added-key", "added-secret")
	cb := pushertest.Connect(t, b.ws, "added-key", "added-secret")
	var names []string
	for i := 0; i < 8; i++ { // enough channels for grains on both nodes
		names = append(names, fmt.Sprintf("private-added-%d", i))
	}
	for _, name := range names {
		ca.Subscribe(name)
		cb.Subscribe(name)
	}
	api := pushertest.API{T: t, Base: b.api.Base, ID: "added-id", Key: "added-key", Secret: "added-secret"}
	for _, name := range names {
		api.Trigger(name, "crossed", name, nil)
		for _, c := range []*pushertest.Client{ca, cb} {
			if f := c.Expect("crossed"); f["channel"] != name {
				t.Fatalf("frame %v, want the event on %s", f, name)
			}
		}
	}
	ca.SubscribePresence("presence-added", "ann", nil)
	cb.SubscribePresence("presence-added", "bob", nil)
	if f := ca.Expect(pusher.EventMemberAdded); f["channel"] != "presence-added" {
		t.Fatalf("frame %v", f)
	}

	reload(kept)
	for _, c := range []*pushertest.Client{ca, cb} {
		if e := c.WaitClose(); e.Code != uint16(pusher.CloseAppNotFound) {
			t.Fatalf("closed with %d, want 4001", e.Code)
		}
	}
	b.api.Trigger("news", "after", "1", nil)
	stays.Expect("after")
}

// Channel history in a cluster: the grain numbers the events of every
// node's publishes in one stream, a subscriber on another node recovers
// what it missed while events keep coming, and when a node leaves, the
// channels whose grain it held get a new epoch that their subscribers
// are told of (history_reset), never a silent gap.
func TestClusterHistory(t *testing.T) {
	nodes := startClusterBrokers(t, 3, withHistory(1000))
	a, b, c := nodes[0], nodes[1], nodes[2]

	ca := a.connect()
	ok := ca.SubscribeRecover("hist", nil)
	epoch, _ := ok["epoch"].(string)
	if epoch == "" || offset(t, ok) != 0 {
		t.Fatalf("subscription_succeeded %v", ok)
	}
	for i := 1; i <= 10; i++ {
		nodes[i%3].api.Trigger("hist", "n", strconv.Itoa(i), nil)
		expectEvents(t, ca, "n", i, i)
	}
	done := make(chan struct{})
	go func() { // owned by the test: ends after its publishes
		defer close(done)
		for i := 11; i <= 110; i++ {
			c.api.Trigger("hist", "n", strconv.Itoa(i), nil)
		}
	}()
	cb := b.connect()
	cb.Wait = 20 * time.Second
	if ok := cb.SubscribeRecover("hist", &pusher.Position{Epoch: epoch, Offset: 3}); ok["recovered"] != true || ok["epoch"] != epoch {
		t.Fatalf("recovering on another node: %v", ok)
	}
	<-done
	expectEvents(t, cb, "n", 4, 110)
	expectEvents(t, ca, "n", 11, 110)
	cb.Quiet(200 * time.Millisecond)

	// Subscribers on A and B of many channels, whose grains are spread
	// over the three nodes; then C leaves.
	const channels = 24
	epochs := map[string]string{}
	var subs []*pushertest.Client
	for i := range channels {
		name := fmt.Sprintf("spread-%d", i)
		for _, n := range []*broker{a, b} {
			cl := n.connect()
			epochs[name] = cl.SubscribeRecover(name, nil)["epoch"].(string)
			subs = append(subs, cl)
		}
		a.api.Trigger(name, "n", "1", nil)
	}
	for i, cl := range subs {
		if f := cl.Expect("n"); offset(t, f) != 1 || f["channel"] != fmt.Sprintf("spread-%d", i/2) {
			t.Fatalf("frame %v", f)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
	_ = c.b.Stop(ctx)

	// Each channel's next event: of the same epoch, or, where C held the
	// grain, preceded by a history_reset naming the new epoch.
	reset := 0
	for i := range channels {
		name := fmt.Sprintf("spread-%d", i)
		var next map[string]any
		for deadline := time.Now().Add(20 * time.Second); ; {
			// The channel's grain, rebuilt or not, counts both nodes.
			code, res := a.api.Call("GET", "/apps/"+testID+"/channels/"+name, url.Values{"info": {"history,subscription_count"}}, nil)
			if h, _ := res["history"].(map[string]any); code == 200 && h != nil && res["subscription_count"] == float64(2) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no grain answers after the loss: %d %v", name, code, res)
			}
			time.Sleep(100 * time.Millisecond)
		}
		a.api.Trigger(name, "n", "2", nil)
		_, res := a.api.Call("GET", "/apps/"+testID+"/channels/"+name, url.Values{"info": {"history"}}, nil)
		now, _ := res["history"].(map[string]any)
		moved := now["epoch"] != epochs[name]
		for _, cl := range subs[2*i : 2*i+2] {
			cl.Wait = 20 * time.Second
			next = cl.Next()
			told := next["event"] == pusher.EventHistoryReset
			if told != moved {
				t.Fatalf("%s: epoch %v → %v, first frame after the loss %v", name, epochs[name], now["epoch"], next)
			}
			if told {
				if next["epoch"] != now["epoch"] || next["recovered"] != false {
					t.Fatalf("%s: reset %v, want the new epoch %v", name, next, now["epoch"])
				}
				reset++
				next = cl.Next()
			}
			if next["event"] != "n" || next["data"] != "2" {
				t.Fatalf("%s: after the loss %v", name, next)
			}
		}
	}
	if reset == 0 {
		t.Fatalf("none of %d channels had its grain on the node that left", channels)
	}
	t.Logf("%d of %d subscribers were told their history was reset", reset, 2*channels)
}

// A server-side subscriber is node-local, like a socket: its node's
// channel gets the events from the grain, wherever they were published
// or sent from.
func TestClusterServerSubscriber(t *testing.T) {
	nodes := startClusterBrokers(t, 2)
	a, b := nodes[0], nodes[1]
	got := make(chan any, 16)
	sub := b.system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actors.Subscribed, *actors.ChannelEvent:
			got <- m
		}
	}))
	app, _ := b.b.App(testKey)
	done := make(chan error, 1)
	b.b.Subscribe(app, &actors.AddSubscriber{Channel: "presence-mixed", Subscriber: sub,
		Member: &pusher.Member{UserID: "bot"}, Reply: func(err error) { done <- err }})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m, ok := (<-got).(*actors.Subscribed); !ok || m.Channel != "presence-mixed" {
		t.Fatalf("%+v", m)
	}
	c := a.connect()
	f := c.SubscribePresence("presence-mixed", "ann", nil)
	var p struct {
		Presence struct {
			Count int `json:"count"`
		} `json:"presence"`
	}
	c.DataJSON(f, &p)
	if p.Presence.Count != 2 {
		t.Fatalf("the bot on the other node is not a member: %v", f)
	}
	a.api.Trigger("presence-mixed", "from-api", "1", nil)
	c.Send(map[string]any{"event": "client-hi", "channel": "presence-mixed", "data": "2"})
	seen := map[string]string{} // event → sender's user id; the two come from different nodes, in either order
	for range 2 {
		select {
		case m := <-got:
			ev, ok := m.(*actors.ChannelEvent)
			if !ok {
				t.Fatalf("got %+v", m)
			}
			seen[ev.Event] = ev.UserID
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v within 5s", seen)
		}
	}
	if u, ok := seen["from-api"]; !ok || u != "" || seen["client-hi"] != "ann" {
		t.Fatalf("got %v", seen)
	}
}

// A channel whose last local subscriber left (its node-local actor
// stopped) and that is subscribed again on the same node is counted again
// by the grain: the new actor's states are not taken for old ones.
func TestClusterResubscribeAfterIdle(t *testing.T) {
	nodes := startClusterBrokers(t, 2)
	a, b := nodes[0], nodes[1]
	count := func() any {
		_, res := b.api.Call("GET", "/apps/"+testID+"/channels/again", url.Values{"info": {"subscription_count"}}, nil)
		return res["subscription_count"]
	}
	for round := 0; round < 3; round++ {
		c := a.connect()
		c.Subscribe("again")
		waitFor(t, func() bool { return count() == float64(1) })
		c.Unsubscribe("again")
		waitFor(t, func() bool { return count() == float64(0) })
		time.Sleep(100 * time.Millisecond) // the idle channel actor stops
	}
	c := a.connect()
	c.Subscribe("again")
	waitFor(t, func() bool { return count() == float64(1) })
	b.api.Trigger("again", "still", "1", nil)
	c.Expect("still")
}

// Events published one after the other through different nodes' APIs,
// each answered before the next is sent, arrive in that order, also on a
// channel none of those nodes has published to before (so each must find
// the channel's grain first). Before Broker.Post waited in a cluster, a
// node still resolving the grain let the next event, through a node that
// had it, overtake its own.
func TestClusterPublishesThroughEveryNodeStayInOrder(t *testing.T) {
	nodes := startClusterBrokers(t, 3)
	sub := nodes[0].connect()
	for round := 0; round < 10; round++ {
		ch := fmt.Sprintf("order-%d", round)
		sub.Subscribe(ch)
		for i := 0; i < 6; i++ {
			nodes[(i+1)%3].api.Trigger(ch, "n", strconv.Itoa(i), nil)
		}
		for i := 0; i < 6; i++ {
			if f := sub.Expect("n"); f["channel"] != ch || f["data"] != strconv.Itoa(i) {
				t.Fatalf("round %d, event %d: got %v", round, i, f)
			}
		}
	}
}
