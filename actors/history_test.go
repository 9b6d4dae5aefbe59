package actors

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/pusher"
)

// testHistory is a history config for tests: size events kept a minute,
// replays bounded generously.
func testHistory(size int) HistoryConfig {
	return HistoryConfig{Size: size, TTL: time.Minute, MaxReplayFrames: 1 << 16, MaxReplayBytes: 1 << 30}
}

func frameNo(i int) []byte { return pusher.AppendEvent(nil, "e", "c", strconv.Itoa(i), "") }

// offsetsOf returns the offset of each frame (-1: none) and checks that
// its data is the offset, as the tests publish them.
func offsetsOf(t *testing.T, frames [][]byte) []int {
	t.Helper()
	out := make([]int, len(frames))
	for i, f := range frames {
		var v struct {
			Data   string  `json:"data"`
			Offset *uint64 `json:"offset"`
		}
		if err := json.Unmarshal(f, &v); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
		out[i] = -1
		if v.Offset != nil {
			out[i] = int(*v.Offset) //nolint:gosec // G115: small test offsets
		}
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestHistoryRingOffsetsAndEpoch(t *testing.T) {
	h := testHistory(10)
	now := time.Unix(1000, 0)
	r := newHistoryRing(h.Size, now)
	if other := newHistoryRing(h.Size, now); other.epoch == r.epoch || len(r.epoch) != 12 {
		t.Fatalf("epochs %q and %q: want two different 12-character epochs", r.epoch, other.epoch)
	}
	for i := 1; i <= 5; i++ {
		f, off := r.add(frameNo(i), now)
		if off != uint64(i) || string(f) != fmt.Sprintf(`{"event":"e","channel":"c","data":"%d","offset":%d}`, i, i) {
			t.Fatalf("add %d: offset %d frame %s", i, off, f)
		}
	}
	if p := r.position(); p.Offset != 5 || p.Epoch != r.epoch {
		t.Fatalf("position %+v", p)
	}
	got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 2}, now, &h)
	if !ok || !slices.Equal(offsetsOf(t, got), []int{3, 4, 5}) {
		t.Fatalf("since 2: %v %q", ok, got)
	}
	if got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 5}, now, &h); !ok || len(got) != 0 {
		t.Fatalf("since the newest: %v %q, want a complete empty recovery", ok, got)
	}
	for _, from := range []pusher.Position{
		{Epoch: r.epoch, Offset: 6}, // ahead of the stream
		{Epoch: "other", Offset: 2}, // another epoch
		{Epoch: "", Offset: 0},      // a recover field that could not be read
	} {
		if got, ok := r.since(from, now, &h); ok || got != nil {
			t.Errorf("since %+v: %v %q, want a failed recovery with nothing", from, ok, got)
		}
	}
}

func TestHistoryRingSize(t *testing.T) {
	h := testHistory(3)
	now := time.Unix(1000, 0)
	r := newHistoryRing(h.Size, now)
	for i := 1; i <= 10; i++ {
		r.add(frameNo(i), now)
	}
	if r.n != 3 || len(r.frames) != 3 {
		t.Fatalf("held %d in %d slots, want 3", r.n, len(r.frames))
	}
	got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 7}, now, &h)
	if !ok || !slices.Equal(offsetsOf(t, got), []int{8, 9, 10}) {
		t.Fatalf("since 7: %v %v", ok, offsetsOf(t, got))
	}
	if got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 6}, now, &h); ok || got != nil {
		t.Fatalf("since 6 (event 7 dropped): %v %q, want a failed recovery with nothing", ok, got)
	}
	// A reload shrinks it to the newest two, then grows it back.
	r.resize(2)
	if got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 8}, now, &h); !ok || !slices.Equal(offsetsOf(t, got), []int{9, 10}) {
		t.Fatalf("after resize(2), since 8: %v %v", ok, offsetsOf(t, got))
	}
	r.resize(4)
	for i := 11; i <= 13; i++ {
		r.add(frameNo(i), now)
	}
	if got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 9}, now, &h); !ok || !slices.Equal(offsetsOf(t, got), []int{10, 11, 12, 13}) {
		t.Fatalf("after resize(4), since 9: %v %v", ok, offsetsOf(t, got))
	}
}

func TestHistoryRingTTL(t *testing.T) {
	h := testHistory(10)
	h.TTL = 2 * time.Second
	t0 := time.Unix(1000, 0)
	r := newHistoryRing(h.Size, t0)
	r.add(frameNo(1), t0)
	r.add(frameNo(2), t0.Add(time.Second))
	r.add(frameNo(3), t0.Add(2*time.Second))
	at := t0.Add(2500 * time.Millisecond) // event 1 is 2.5 s old: gone
	if got, ok := r.since(pusher.Position{Epoch: r.epoch}, at, &h); ok || got != nil {
		t.Fatalf("since 0 after event 1 expired: %v %q", ok, got)
	}
	if got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 1}, at, &h); !ok || !slices.Equal(offsetsOf(t, got), []int{2, 3}) {
		t.Fatalf("since 1: %v %v", ok, offsetsOf(t, got))
	}
	// Everything expired: nothing held, but a subscriber at the newest
	// offset missed nothing, and the stream goes on from there.
	late := t0.Add(time.Hour)
	if got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 3}, late, &h); !ok || len(got) != 0 || r.n != 0 || r.frames != nil {
		t.Fatalf("since 3 an hour later: %v %q, held %d", ok, got, r.n)
	}
	if _, off := r.add(frameNo(4), late); off != 4 {
		t.Fatalf("offset after expiry %d, want 4", off)
	}
}

func TestHistoryRingReplayBounds(t *testing.T) {
	h := testHistory(10)
	now := time.Unix(1000, 0)
	r := newHistoryRing(h.Size, now)
	for i := 1; i <= 4; i++ {
		r.add(frameNo(i), now)
	}
	frames := h
	frames.MaxReplayFrames = 3
	if _, ok := r.since(pusher.Position{Epoch: r.epoch}, now, &frames); ok {
		t.Fatal("4 events replayed with a bound of 3 frames")
	}
	if got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 1}, now, &frames); !ok || len(got) != 3 {
		t.Fatalf("3 events with a bound of 3 frames: %v %d", ok, len(got))
	}
	bytes := h
	bytes.MaxReplayBytes = 2*len(frameNo(1)) + 2*len(`,"offset":1`)
	if _, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 1}, now, &bytes); ok {
		t.Fatal("3 events replayed within the bytes of 2")
	}
	if got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: 2}, now, &bytes); !ok || len(got) != 2 {
		t.Fatalf("2 events within the bytes of 2: %v %d", ok, len(got))
	}
}

// TestHistoryRingModel checks the ring against a plain list over random
// adds, expiries, resizes and recoveries.
func TestHistoryRingModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // G404: a reproducible test sequence
	h := testHistory(5)
	h.TTL = 10 * time.Second
	now := time.Unix(1000, 0)
	r := newHistoryRing(h.Size, now)
	type ev struct {
		off int
		at  time.Time
	}
	var model []ev
	last := 0
	for step := range 5000 {
		now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		for len(model) > 0 && !now.Before(model[0].at.Add(h.TTL)) {
			model = model[1:]
		}
		switch op := rng.IntN(10); {
		case op < 6:
			last++
			r.add(frameNo(last), now)
			model = append(model, ev{last, now})
			if len(model) > h.Size {
				model = model[len(model)-h.Size:]
			}
		case op < 7:
			h.Size = 1 + rng.IntN(8)
			r.resize(h.Size)
			if len(model) > h.Size {
				model = model[len(model)-h.Size:]
			}
		default:
			from := rng.IntN(last + 2)
			got, ok := r.since(pusher.Position{Epoch: r.epoch, Offset: uint64(from)}, now, &h) //nolint:gosec // G115: small
			want, wantOK := []int(nil), from <= last
			if wantOK && from < last {
				wantOK = len(model) > 0 && model[0].off <= from+1
				for _, e := range model {
					if wantOK && e.off > from {
						want = append(want, e.off)
					}
				}
			}
			if ok != wantOK || !slices.Equal(offsetsOf(t, got), want) {
				t.Fatalf("step %d: since %d (last %d, model %v): got %v %v, want %v %v", step, from, last, model, ok, offsetsOf(t, got), wantOK, want)
			}
		}
	}
}

func TestHistoryStoreKeepsIdleRingsForTheTTL(t *testing.T) {
	h := testHistory(10)
	s := newHistoryStore()
	occupied := map[string]bool{}
	isOcc := func(c string) bool { return occupied[c] }
	t0 := time.Unix(1000, 0)
	r := s.ring("a", t0, &h, isOcc)
	r.add(frameNo(1), t0)
	if s.ring("a", t0.Add(59*time.Second), &h, isOcc) != r {
		t.Fatal("a ring within its ttl was replaced")
	}
	// Published to at 59 s: kept until 1m59s, then a new epoch.
	if got := s.ring("a", t0.Add(2*time.Minute), &h, isOcc); got == r || got.epoch == r.epoch || got.last != 0 {
		t.Fatalf("an idle ring past its ttl was kept: %+v", got)
	}
	// An occupied channel keeps its ring however long it is idle.
	occupied["b"] = true
	rb := s.ring("b", t0, &h, isOcc)
	if s.ring("b", t0.Add(time.Hour), &h, isOcc) != rb {
		t.Fatal("an occupied channel's ring was replaced")
	}
	// Vacated: the ttl runs from then.
	delete(occupied, "b")
	s.vacated("b", t0.Add(time.Hour))
	if s.peek("b", t0.Add(time.Hour+30*time.Second), &h, isOcc) != rb {
		t.Fatal("a vacated ring was dropped within its ttl")
	}
	if s.peek("b", t0.Add(time.Hour+time.Minute), &h, isOcc) != nil {
		t.Fatal("a vacated ring is still there after its ttl")
	}
	// Rings idle past their ttl are swept as the store grows.
	for i := range 200 {
		s.ring(fmt.Sprintf("x%d", i), t0.Add(time.Duration(i)*time.Second), &h, isOcc)
	}
	if len(s.rings) > 150 {
		t.Fatalf("%d rings kept: the idle ones were not swept", len(s.rings))
	}
}

// recorder is an Outbound that keeps every frame, for joiners that get
// more frames than an outbox holds.
type recorder struct {
	mu     sync.Mutex
	frames [][]byte
}

func (r *recorder) Send(f []byte)                  { r.mu.Lock(); r.frames = append(r.frames, f); r.mu.Unlock() }
func (r *recorder) SendShared(s Shared)            { r.Send(s.(PlainShared)) }
func (r *recorder) Close(pusher.CloseCode, string) {}
func (r *recorder) snapshot() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.frames)
}

// waitFrames waits until r holds n frames.
func (r *recorder) waitFrames(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := r.snapshot()
		if len(f) >= n {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames within 10s, want %d: %q", len(f), n, f)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *testEnv) publish(channel string, i int) {
	// A single node's Post only queues: it cannot fail.
	_ = e.broker.Post(&TriggerRequest{App: "key", Events: []TriggerEvent{{Name: "e", Data: strconv.Itoa(i), Channels: []string{channel}}}})
}

// joinRecording joins channel with a recorder as its socket, recovering
// from from when not nil.
func (e *testEnv) joinRecording(t *testing.T, channel string, from *pusher.Position) (*probe, *recorder) {
	t.Helper()
	p, r := newProbe(t, e.system), &recorder{}
	e.system.Root.Send(e.app().pid, &Join{Channel: channel, Conn: p.pid, Out: r, SocketID: p.pid.Id, Recover: from})
	return p, r
}

type succeeded struct {
	Event     string `json:"event"`
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Recovered *bool  `json:"recovered"`
}

func parseSucceeded(t *testing.T, f []byte) succeeded {
	t.Helper()
	var s succeeded
	if err := json.Unmarshal(f, &s); err != nil || s.Event != pusher.EventSubscriptionSucceeded {
		t.Fatalf("want subscription_succeeded, got %s (%v)", f, err)
	}
	return s
}

// TestHistoryReplayLiveSeam joins with a recovery while events are being
// published: the joiner gets every event after its offset exactly once and
// in order, whichever side of its join each was published on.
func TestHistoryReplayLiveSeam(t *testing.T) {
	e := newEnv(t, func(a *AppConfig) { a.History = testHistory(1000) })
	const channel, total = "seam", 300
	p0, first := e.joinRecording(t, channel, nil)
	expect[*Joined](t, p0)
	s0 := parseSucceeded(t, first.waitFrames(t, 1)[0])
	if s0.Epoch == "" || s0.Offset != 0 || s0.Recovered != nil {
		t.Fatalf("first subscriber's subscription_succeeded %+v: want an epoch, offset 0, no recovered", s0)
	}
	for i := 1; i <= 20; i++ {
		e.publish(channel, i)
	}
	first.waitFrames(t, 21)

	for round := range 5 {
		from := 15 + round*total
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // owned by the test: ends after its publishes
			defer wg.Done()
			for i := 21 + round*total; i <= 20+(round+1)*total; i++ {
				e.publish(channel, i)
			}
		}()
		time.Sleep(time.Duration(round) * time.Millisecond)                                          // the join lands somewhere in the burst
		p, r := e.joinRecording(t, channel, &pusher.Position{Epoch: s0.Epoch, Offset: uint64(from)}) //nolint:gosec // G115: small
		expect[*Joined](t, p)
		wg.Wait()
		last := 20 + (round+1)*total
		frames := r.waitFrames(t, 1+last-from)
		s := parseSucceeded(t, frames[0])
		if s.Recovered == nil || !*s.Recovered || s.Epoch != s0.Epoch || s.Offset < 20 {
			t.Fatalf("round %d: subscription_succeeded %+v: want recovered in epoch %s", round, s, s0.Epoch)
		}
		if got := offsetsOf(t, frames[1:]); !slices.Equal(got, seq(from+1, last)) {
			t.Fatalf("round %d: joined at offset %d recovering from %d: offsets %v, want %d..%d once each in order", round, s.Offset, from, got, from+1, last)
		}
		e.system.Root.Send(e.app().pid, &Leave{Channel: channel, Conn: p.pid})
	}
}

func TestHistoryRecoveryFailsWhole(t *testing.T) {
	e := newEnv(t, func(a *AppConfig) { a.History = testHistory(10) })
	p0, first := e.joinRecording(t, "small", nil)
	expect[*Joined](t, p0)
	epoch := parseSucceeded(t, first.waitFrames(t, 1)[0]).Epoch
	for i := 1; i <= 50; i++ {
		e.publish("small", i)
	}
	first.waitFrames(t, 51)
	// Too far back for a ring of 10, and another epoch: recovered false,
	// the current position, and no event but the live ones.
	for round, from := range []pusher.Position{{Epoch: epoch, Offset: 5}, {Epoch: "gone", Offset: 45}} {
		top := uint64(50 + round) //nolint:gosec // G115: small
		p, r := e.joinRecording(t, "small", &from)
		expect[*Joined](t, p)
		s := parseSucceeded(t, r.waitFrames(t, 1)[0])
		if s.Recovered == nil || *s.Recovered || s.Epoch != epoch || s.Offset != top {
			t.Fatalf("from %+v: %+v, want recovered false at %s/%d", from, s, epoch, top)
		}
		e.publish("small", int(top)+1)
		r.waitFrames(t, 2)
		time.Sleep(50 * time.Millisecond)
		if frames := r.snapshot(); len(frames) != 2 || !slices.Equal(offsetsOf(t, frames[1:]), []int{int(top) + 1}) {
			t.Fatalf("from %+v: frames %q, want subscription_succeeded then only the live event %d", from, frames, top+1)
		}
		e.system.Root.Send(e.app().pid, &Leave{Channel: "small", Conn: p.pid})
	}
}

// TestHistoryOutlivesTheChannel publishes to a channel nobody subscribes
// to any more: the history is kept by the app, and a client coming back
// recovers it.
func TestHistoryOutlivesTheChannel(t *testing.T) {
	e := newEnv(t, func(a *AppConfig) { a.History = testHistory(100) })
	p0, first := e.joinRecording(t, "away", nil)
	expect[*Joined](t, p0)
	e.publish("away", 1)
	frames := first.waitFrames(t, 2)
	epoch := parseSucceeded(t, frames[0]).Epoch
	e.system.Root.Send(e.app().pid, &Leave{Channel: "away", Conn: p0.pid})
	for i := 2; i <= 6; i++ {
		e.publish("away", i)
	}
	res, err := e.broker.Channel(&ChannelRequest{App: "key", Channel: "away"})
	if err != nil {
		t.Fatal(err)
	}
	if h := res.History; h == nil || h.Epoch != epoch || h.Offset != 6 || h.Events != 6 {
		t.Fatalf("history info %+v, want %s/6 with 6 events", h, epoch)
	}
	p, r := e.joinRecording(t, "away", &pusher.Position{Epoch: epoch, Offset: 1})
	expect[*Joined](t, p)
	got := r.waitFrames(t, 6)
	if s := parseSucceeded(t, got[0]); s.Recovered == nil || !*s.Recovered || s.Offset != 6 {
		t.Fatalf("%+v", s)
	}
	if off := offsetsOf(t, got[1:]); !slices.Equal(off, seq(2, 6)) {
		t.Fatalf("offsets %v, want 2..6", off)
	}
}

// TestHistoryClientEvents numbers client events in the same stream as API
// events, never echoes them to their sender, and replays them.
func TestHistoryClientEvents(t *testing.T) {
	e := newEnv(t, func(a *AppConfig) { a.History = testHistory(100) })
	pa, ra := e.joinRecording(t, "private-talk", nil)
	ja := expect[*Joined](t, pa)
	pb, rb := e.joinRecording(t, "private-talk", nil)
	expect[*Joined](t, pb)
	epoch := parseSucceeded(t, ra.waitFrames(t, 1)[0]).Epoch
	e.publish("private-talk", 1)
	rb.waitFrames(t, 2)
	e.system.Root.Send(ja.PID, &PublishClientEvent{Channel: "private-talk", Frame: pusher.AppendEvent(nil, "client-x", "private-talk", "2", ""),
		Sender: pa.pid, Event: "client-x", Data: "2", SocketID: pa.pid.Id})
	rb.waitFrames(t, 3)
	e.publish("private-talk", 3)
	if got := offsetsOf(t, rb.waitFrames(t, 4)[1:]); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("receiver's offsets %v, want 1 2 3", got)
	}
	if got := offsetsOf(t, ra.waitFrames(t, 3)[1:]); !slices.Equal(got, []int{1, 3}) {
		t.Fatalf("sender's offsets %v, want 1 3 (its own event not echoed)", got)
	}
	expect[*ChannelOccupied](t, e.hooks)
	if m := expect[*ClientEventSent](t, e.hooks); m.Event != "client-x" || m.SocketID != pa.pid.Id {
		t.Fatalf("webhook fact %+v", m)
	}
	pc, rc := e.joinRecording(t, "private-talk", &pusher.Position{Epoch: epoch})
	expect[*Joined](t, pc)
	if got := offsetsOf(t, rc.waitFrames(t, 4)[1:]); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("recovered offsets %v, want 1 2 3", got)
	}
}

// TestHistoryOff leaves frames as they were on channels without history.
func TestHistoryOff(t *testing.T) {
	e := newEnv(t, func(a *AppConfig) {
		a.History = testHistory(10)
		a.History.Prefixes = "kept- also-"
	})
	p, r := e.joinRecording(t, "plain", &pusher.Position{Epoch: "x", Offset: 1})
	expect[*Joined](t, p)
	e.publish("plain", 1)
	frames := r.waitFrames(t, 2)
	if string(frames[0]) != `{"event":"pusher_internal:subscription_succeeded","channel":"plain","data":"{}"}` ||
		string(frames[1]) != `{"event":"e","channel":"plain","data":"1"}` {
		t.Fatalf("frames %q, want them without history fields", frames)
	}
	pk, rk := e.joinRecording(t, "also-this", nil)
	expect[*Joined](t, pk)
	if s := parseSucceeded(t, rk.waitFrames(t, 1)[0]); s.Epoch == "" {
		t.Fatalf("a channel of the second prefix has no history: %+v", s)
	}
}
