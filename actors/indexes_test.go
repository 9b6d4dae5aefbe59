package actors

import (
	"reflect"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestUserIndex(t *testing.T) {
	x := newUserIndex()
	pid := func(id string) *actor.PID { return &actor.PID{Id: id} }
	came, online := x.add(&userConn{pid: pid("c1"), userID: "ann", watchlist: []string{"bob"}})
	if !came || len(online) != 0 {
		t.Fatal(came, online)
	}
	came, _ = x.add(&userConn{pid: pid("c2"), userID: "bob"})
	if !came || len(x.watchersOf("bob")) != 1 {
		t.Fatal("bob online, watched by ann")
	}
	if came, _ := x.add(&userConn{pid: pid("c3"), userID: "bob"}); came {
		t.Fatal("second connection is not a transition")
	}
	if _, online := x.add(&userConn{pid: pid("c4"), userID: "cy", watchlist: []string{"bob", "zed"}}); !reflect.DeepEqual(online, []string{"bob"}) {
		t.Fatal(online)
	}
	if c, off := x.remove("c2"); c == nil || off {
		t.Fatal("bob has c3 left")
	}
	if c, off := x.remove("c3"); c == nil || !off {
		t.Fatal("bob's last connection")
	}
	if c, _ := x.remove("nope"); c != nil {
		t.Fatal("unknown connection")
	}
	x.remove("c1")
	x.remove("c4")
	if len(x.byConn)+len(x.byUser)+len(x.watchers) != 0 {
		t.Fatal("index not empty", x.byConn, x.byUser, x.watchers)
	}
}

func TestTokenBucket(t *testing.T) {
	now := time.Unix(0, 0)
	b := newTokenBucket(10, now)
	n := 0
	for i := 0; i < 20; i++ {
		if b.allow(now, 10) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("burst %d", n)
	}
	if !b.allow(now.Add(100*time.Millisecond), 10) || b.allow(now.Add(100*time.Millisecond), 10) {
		t.Fatal("refill of one token per 100ms")
	}
	// A reload lowers the rate to 2 a second: refill is one per 500ms, a
	// burst at most 2.
	later := now.Add(10 * time.Second)
	n = 0
	for i := 0; i < 5; i++ {
		if b.allow(later, 2) {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("burst %d after the rate fell to 2", n)
	}
	if b.allow(later.Add(400*time.Millisecond), 2) || !b.allow(later.Add(500*time.Millisecond), 2) {
		t.Fatal("refill at the new rate")
	}
}

func TestCacheStore(t *testing.T) {
	now := time.Unix(0, 0)
	c := newCacheStore()
	c.put("cache-a", "e", "1", []byte("f1"), now, time.Minute)
	c.put("cache-a", "e", "2", []byte("f2"), now, time.Minute)
	if e := c.get("cache-a", now.Add(59*time.Second)); e == nil || e.data != "2" {
		t.Fatal(e)
	}
	if c.get("cache-a", now.Add(time.Minute)) != nil || c.get("cache-b", now) != nil {
		t.Fatal("expired or unknown entry returned")
	}
	for i := 0; i < 200; i++ {
		c.put("cache-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "e", "", nil, now, time.Minute)
	}
	// Sweeps are amortised: once the map doubles, expired entries go.
	for i := 0; i < 300; i++ {
		c.put("cache-new-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "e", "", nil, now.Add(2*time.Minute), time.Minute)
	}
	if len(c.entries) != 300 {
		t.Fatalf("expired entries not swept: %d left, want the 300 live ones", len(c.entries))
	}
}

func TestNameSlots(t *testing.T) {
	var n nameSlots
	a, b, c := n.take(), n.take(), n.take()
	if a != 1 || b != 2 || c != 3 {
		t.Fatalf("fresh numbers %d %d %d", a, b, c)
	}
	n.give(b)
	if got := n.take(); got != 2 {
		t.Fatalf("reused %d, want 2", got)
	}
	if got := n.take(); got != 4 {
		t.Fatalf("next %d, want 4", got)
	}
	for id, want := range map[string]int{"herald-app-k/conn-17": 17, "herald-app-k/ch-3": 3, "herald-app-k": 0, "x/ch-": 0} {
		if got := slotOf(id); got != want {
			t.Errorf("slotOf(%q) = %d, want %d", id, got, want)
		}
	}
}
