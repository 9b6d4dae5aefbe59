//go:build clustertest

// The channel grain across three real cluster members in one process, on
// gRPC over loopback with Proto.Actor's test provider. Several remote nodes
// in one process race inside grpclog under -race (dependencies.md §2.4), so
// these tests run without it: go test -tags clustertest -run Grain ./actors/
package actors

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/herald-push/herald/actors/clusterpb"
	"github.com/herald-push/herald/pusher"
)

const testGrace = 400 * time.Millisecond

// testNode is one cluster member: its node actor and webhook actor are
// probes that hand what they get to the test.
type testNode struct {
	addr    string
	cluster *cluster.Cluster
	deliver chan *clusterpb.Deliver
	pulls   chan *clusterpb.StateRequest
}

func startNodes(t *testing.T, n int, facts chan any) []*testNode {
	t.Helper()
	agent := test.NewInMemAgent()
	var nodes []*testNode
	for i := 0; i < n; i++ {
		system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		}))
		tn := &testNode{deliver: make(chan *clusterpb.Deliver, 64), pulls: make(chan *clusterpb.StateRequest, 64)}
		hooks := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			switch ctx.Message().(type) {
			case *actor.Started, *actor.Stopping, *actor.Stopped:
			default:
				facts <- ctx.Message()
			}
		}))
		node := &clusterNode{grace: testGrace, log: slog.New(slog.DiscardHandler)}
		app := newAppInfo(testApp(AppConfig{ID: "1", Key: "key", MaxPresenceMembers: 3, Hooks: hooks}), system,
			appShared{log: slog.New(slog.DiscardHandler), node: node}, func(*actor.Props) {})
		node.setApps(&appSet{byKey: map[string]*App{"key": {info: app}}})
		kind := cluster.NewKind(GrainKind, newGrainProps(node))
		c := cluster.New(system, cluster.Configure("herald-test", test.NewTestProvider(agent), disthash.New(),
			remote.Configure("127.0.0.1", 0), cluster.WithKinds(kind)))
		node.cluster = c
		c.StartMember()
		if _, err := system.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *clusterpb.Deliver:
				tn.deliver <- m
			case *clusterpb.StateRequest:
				tn.pulls <- m
			}
		}), NodeActorName); err != nil {
			t.Fatal(err)
		}
		tn.addr, tn.cluster = system.Address(), c
		nodes = append(nodes, tn)
	}
	t.Cleanup(func() {
		for _, tn := range nodes {
			tn.cluster.Shutdown(false)
		}
	})
	return nodes
}

func (tn *testNode) send(t *testing.T, channel string, msg any) {
	t.Helper()
	pid := tn.cluster.Get("key/"+channel, GrainKind)
	if pid == nil {
		t.Fatalf("no grain for %s", channel)
	}
	tn.cluster.ActorSystem.Root.Send(pid, msg)
}

func (tn *testNode) ask(t *testing.T, channel string, msg any) any {
	t.Helper()
	res, err := tn.cluster.Request("key/"+channel, GrainKind, msg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// expectDeliver waits for the next Deliver on tn and checks its event.
func (tn *testNode) expectDeliver(t *testing.T, event, except string) map[string]any {
	t.Helper()
	select {
	case d := <-tn.deliver:
		var f map[string]any
		if err := json.Unmarshal(d.Frame, &f); err != nil {
			t.Fatal(err)
		}
		if f["event"] != event || d.Except != except || d.App != "key" {
			t.Fatalf("node %s got %v (except %q), want %s (except %q)", tn.addr, f, d.Except, event, except)
		}
		return f
	case <-time.After(3 * time.Second):
		t.Fatalf("node %s: no %s within 3s", tn.addr, event)
	}
	return nil
}

func (tn *testNode) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-tn.deliver:
		t.Fatalf("node %s: unexpected %s", tn.addr, m.Frame)
	case <-time.After(d):
	}
}

func expectFact[T any](t *testing.T, facts chan any) T {
	t.Helper()
	select {
	case m := <-facts:
		v, ok := m.(T)
		if !ok {
			t.Fatalf("fact %T %+v, want %T", m, m, *new(T))
		}
		return v
	case <-time.After(3 * time.Second):
		t.Fatalf("no %T within 3s", *new(T))
	}
	panic("unreachable")
}

func noFact(t *testing.T, facts chan any, d time.Duration) {
	t.Helper()
	select {
	case m := <-facts:
		t.Fatalf("unexpected fact %T %+v", m, m)
	case <-time.After(d):
	}
}

func pbMember(id string, conns int32) *clusterpb.Member {
	return &clusterpb.Member{UserId: id, Info: json.RawMessage(`{"name":"` + id + `"}`), Conns: conns}
}

// One presence channel across three nodes: members are counted once for
// the cluster, events reach every node with subscribers once, a node that
// leaves takes only its own members, and a member who reconnects within
// the grace window is never seen to leave.
func TestGrainPresenceAcrossNodes(t *testing.T) {
	facts := make(chan any, 64)
	nodes := startNodes(t, 3, facts)
	a, b, c := nodes[0], nodes[1], nodes[2]
	const ch = "presence-room"

	a.send(t, ch, &clusterpb.NodeState{Node: a.addr, Subscriptions: 1, Members: []*clusterpb.Member{pbMember("ann", 1)}, Version: 1, Joined: "1.1"})
	if f := a.expectDeliver(t, pusher.EventMemberAdded, "1.1"); f["channel"] != ch {
		t.Fatalf("frame %v", f)
	}
	expectFact[*ChannelOccupied](t, facts)
	if m := expectFact[*MemberAdded](t, facts); m.UserID != "ann" {
		t.Fatalf("fact %+v", m)
	}

	// bob on B is told who is there, and everyone hears of bob once.
	ans := b.ask(t, ch, &clusterpb.JoinCheck{UserId: "bob"}).(*clusterpb.JoinAnswer)
	if !ans.Ok || len(ans.Members) != 1 || ans.Members[0].UserId != "ann" || string(ans.Members[0].Info) != `{"name":"ann"}` {
		t.Fatalf("join answer %+v", ans)
	}
	b.send(t, ch, &clusterpb.NodeState{Node: b.addr, Subscriptions: 1, Members: []*clusterpb.Member{pbMember("bob", 1)}, Version: 1, Joined: "2.1"})
	a.expectDeliver(t, pusher.EventMemberAdded, "2.1")
	b.expectDeliver(t, pusher.EventMemberAdded, "2.1")
	expectFact[*MemberAdded](t, facts)

	// ann's second tab, on B, adds nobody; a re-sent state changes nothing.
	state := &clusterpb.NodeState{Node: b.addr, Subscriptions: 2, Members: []*clusterpb.Member{pbMember("bob", 1), pbMember("ann", 1)}, Version: 2}
	b.send(t, ch, state)
	b.send(t, ch, state)
	info := c.ask(t, ch, &clusterpb.InfoRequest{}).(*clusterpb.Info)
	if info.Subscriptions != 3 || info.Users != 2 {
		t.Fatalf("info %+v", info)
	}
	a.quiet(t, 50*time.Millisecond)
	noFact(t, facts, 10*time.Millisecond)

	// A publish from C reaches A and B once each, and not C.
	c.send(t, ch, &clusterpb.Publish{Frame: pusher.AppendEvent(nil, "news", ch, "1", ""), Except: "2.1"})
	a.expectDeliver(t, "news", "2.1")
	b.expectDeliver(t, "news", "2.1")
	c.quiet(t, 50*time.Millisecond)

	// A leaves the cluster: ann is still on B, so nobody leaves.
	c.send(t, ch, &clusterpb.NodeLeft{Node: a.addr})
	b.quiet(t, testGrace+200*time.Millisecond)
	noFact(t, facts, 10*time.Millisecond)

	// ann's tab on B goes: after the grace window she is removed, once.
	b.send(t, ch, &clusterpb.NodeState{Node: b.addr, Subscriptions: 1, Members: []*clusterpb.Member{pbMember("bob", 1)}, Version: 3})
	b.quiet(t, testGrace/2)
	b.expectDeliver(t, pusher.EventMemberRemoved, "")
	if m := expectFact[*MemberRemoved](t, facts); m.UserID != "ann" {
		t.Fatalf("fact %+v", m)
	}

	// bob reconnects within the window (a rolling restart): nothing shows,
	// neither a departure nor a return nor a vacancy.
	b.send(t, ch, &clusterpb.NodeState{Node: b.addr, Subscriptions: 0, Version: 4})
	time.Sleep(testGrace / 4)
	c.send(t, ch, &clusterpb.NodeState{Node: c.addr, Subscriptions: 1, Members: []*clusterpb.Member{pbMember("bob", 1)}, Version: 1, Joined: "3.1"})
	b.quiet(t, testGrace+200*time.Millisecond)
	c.quiet(t, 10*time.Millisecond)
	noFact(t, facts, 10*time.Millisecond)
	if info := a.ask(t, ch, &clusterpb.InfoRequest{}).(*clusterpb.Info); info.Subscriptions != 1 || info.Users != 1 || info.UserIds[0] != "bob" {
		t.Fatalf("info %+v", info)
	}

	// The last one goes: removed and vacated after the window.
	c.send(t, ch, &clusterpb.NodeState{Node: c.addr, Subscriptions: 0, Version: 2})
	expectFact[*MemberRemoved](t, facts)
	expectFact[*ChannelVacated](t, facts)
}

// The member cap counts users across the cluster (and those still in
// their grace window).
func TestGrainMemberCapIsClusterWide(t *testing.T) {
	facts := make(chan any, 64)
	nodes := startNodes(t, 2, facts)
	a, b := nodes[0], nodes[1]
	const ch = "presence-full"
	a.send(t, ch, &clusterpb.NodeState{Node: a.addr, Subscriptions: 2, Members: []*clusterpb.Member{pbMember("u1", 1), pbMember("u2", 1)}, Version: 1})
	b.send(t, ch, &clusterpb.NodeState{Node: b.addr, Subscriptions: 1, Members: []*clusterpb.Member{pbMember("u3", 1)}, Version: 1})
	for deadline := time.Now().Add(3 * time.Second); b.ask(t, ch, &clusterpb.InfoRequest{}).(*clusterpb.Info).Users < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the two states did not arrive")
		}
	}
	if ans := b.ask(t, ch, &clusterpb.JoinCheck{UserId: "u4"}).(*clusterpb.JoinAnswer); ans.Ok || len(ans.Members) != 3 {
		t.Fatalf("a fourth user on a channel capped at 3: %+v", ans)
	}
	if ans := b.ask(t, ch, &clusterpb.JoinCheck{UserId: "u1"}).(*clusterpb.JoinAnswer); !ans.Ok {
		t.Fatal("a member's further connection was refused")
	}
}

// A grain that lost its state (it moved, or its node died) learns from
// the nodes' re-sync which members their clients were told of: those no
// node reports any more are removed once, after the grace window; those
// still there, and the channel, show nothing.
func TestGrainRemovesKnownMembersNobodyReports(t *testing.T) {
	facts := make(chan any, 64)
	nodes := startNodes(t, 2, facts)
	a, b := nodes[0], nodes[1]
	const ch = "presence-moved"
	known := []string{"ann", "cy", "bob"}
	a.send(t, ch, &clusterpb.NodeState{Node: a.addr, Subscriptions: 1, Members: []*clusterpb.Member{pbMember("ann", 1)},
		Version: 1, Known: known, Resync: true})
	// The rebuilt grain asks the other node for its state at once, once.
	select {
	case p := <-b.pulls:
		if p.Channel != ch || p.App != "key" || p.GrainAddress == "" {
			t.Fatalf("state request %+v", p)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no state request reached the other node")
	}
	b.send(t, ch, &clusterpb.NodeState{Node: b.addr, Subscriptions: 1, Members: []*clusterpb.Member{pbMember("bob", 1)},
		Version: 1, Known: known, Resync: true})
	if info := a.ask(t, ch, &clusterpb.InfoRequest{}).(*clusterpb.Info); info.Users != 3 {
		t.Fatalf("during the window cy is still listed: %+v", info)
	}
	a.expectDeliver(t, pusher.EventMemberRemoved, "")
	b.expectDeliver(t, pusher.EventMemberRemoved, "")
	if m := expectFact[*MemberRemoved](t, facts); m.UserID != "cy" {
		t.Fatalf("removed %+v", m)
	}
	noFact(t, facts, testGrace)
	a.quiet(t, 10*time.Millisecond)
	if len(a.pulls)+len(b.pulls) != 0 {
		t.Fatalf("%d more state requests", len(a.pulls)+len(b.pulls))
	}
}
