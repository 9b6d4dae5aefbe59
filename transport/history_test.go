package transport_test

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
)

// withHistory keeps size events per channel of the test app.
func withHistory(size int) func(*actors.AppConfig) {
	return func(a *actors.AppConfig) {
		a.History = actors.HistoryConfig{Size: size, TTL: 5 * time.Minute, MaxReplayFrames: 512, MaxReplayBytes: 1 << 19}
	}
}

// offset returns a frame's offset, failing when it has none.
func offset(t *testing.T, f map[string]any) int {
	t.Helper()
	o, ok := f["offset"].(float64)
	if !ok {
		t.Fatalf("frame without an offset: %v", f)
	}
	return int(o)
}

// expectEvents reads events from c and checks their data and offsets are
// from..to, in order.
func expectEvents(t *testing.T, c *pushertest.Client, event string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		f := c.Expect(event)
		if f["data"] != strconv.Itoa(i) || offset(t, f) != i {
			t.Fatalf("want event %d, got %v", i, f)
		}
	}
}

// The wire of channel history: offsets in event frames, the epoch and
// offset in subscription_succeeded, a recovering subscribe answered with
// the missed events then the live ones, and info=history.
func TestHistoryOnTheWire(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { withHistory(10)(&ac.Apps[0]) })
	first := b.connect()
	ok := first.SubscribeRecover("hist", nil)
	epoch, _ := ok["epoch"].(string)
	if epoch == "" || ok["offset"] != float64(0) || ok["recovered"] != nil || ok["data"] != "{}" {
		t.Fatalf("subscription_succeeded %v: want an epoch, offset 0, no recovered", ok)
	}
	for i := 1; i <= 3; i++ {
		b.api.Trigger("hist", "tick", strconv.Itoa(i), nil)
	}
	expectEvents(t, first, "tick", 1, 3)

	// Back from offset 1: events 2 and 3, then the live stream.
	again := b.connect()
	ok = again.SubscribeRecover("hist", &pusher.Position{Epoch: epoch, Offset: 1})
	if ok["recovered"] != true || ok["epoch"] != epoch || offset(t, ok) != 3 {
		t.Fatalf("recovering subscription_succeeded %v", ok)
	}
	expectEvents(t, again, "tick", 2, 3)
	b.api.Trigger("hist", "tick", "4", nil)
	expectEvents(t, again, "tick", 4, 4)
	expectEvents(t, first, "tick", 4, 4)

	// Too far back for 10 events, or another epoch: told, given nothing.
	for i := 5; i <= 20; i++ {
		b.api.Trigger("hist", "tick", strconv.Itoa(i), nil)
	}
	expectEvents(t, first, "tick", 5, 20)
	for _, from := range []pusher.Position{{Epoch: epoch, Offset: 4}, {Epoch: "0123456789ab", Offset: 19}} {
		late := b.connect()
		ok = late.SubscribeRecover("hist", &from)
		if ok["recovered"] != false || ok["epoch"] != epoch || offset(t, ok) != 20 {
			t.Fatalf("from %+v: %v, want recovered false at %s/20", from, ok, epoch)
		}
		late.Quiet(200 * time.Millisecond)
	}
	code, res := b.api.Call("GET", "/apps/"+testID+"/channels/hist", url.Values{"info": {"history"}}, nil)
	if h, _ := res["history"].(map[string]any); code != 200 || h["epoch"] != epoch || h["offset"] != float64(20) || h["events"] != float64(10) {
		t.Fatalf("info=history: %d %v", code, res)
	}

	// Client events are numbered in the same stream and replayed too.
	alice, bob := b.connect(), b.connect()
	alice.Subscribe("private-talk")
	bob.Subscribe("private-talk")
	alice.Send(map[string]any{"event": "client-hi", "channel": "private-talk", "data": map[string]any{"n": 1}})
	if f := bob.Expect("client-hi"); offset(t, f) != 1 {
		t.Fatalf("client event %v", f)
	}
	alice.Quiet(100 * time.Millisecond)
}

// A subscriber that recovers while events keep coming gets each once, in
// order, over the replay/live seam.
func TestHistoryRecoverUnderLoad(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { withHistory(1000)(&ac.Apps[0]) })
	first := b.connect()
	epoch := first.SubscribeRecover("busy", nil)["epoch"].(string)
	for i := 1; i <= 10; i++ {
		b.api.Trigger("busy", "n", strconv.Itoa(i), nil)
	}
	expectEvents(t, first, "n", 1, 10)
	done := make(chan struct{})
	go func() { // owned by the test: ends after its publishes
		defer close(done)
		for i := 11; i <= 210; i++ {
			b.api.Trigger("busy", "n", strconv.Itoa(i), nil)
		}
	}()
	late := b.connect()
	late.Wait = 20 * time.Second
	if ok := late.SubscribeRecover("busy", &pusher.Position{Epoch: epoch, Offset: 4}); ok["recovered"] != true {
		t.Fatalf("%v", ok)
	}
	<-done
	expectEvents(t, late, "n", 5, 210)
	late.Quiet(200 * time.Millisecond)
}
