package webhooks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
)

func occupied(ch string) *actors.ChannelOccupied {
	return &actors.ChannelOccupied{App: "a", Channel: ch, At: time.Now()}
}

func vacated(ch string) *actors.ChannelVacated {
	return &actors.ChannelVacated{App: "a", Channel: ch, At: time.Now()}
}

func added(ch, user string) *actors.MemberAdded {
	return &actors.MemberAdded{App: "a", Channel: ch, UserID: user, At: time.Now()}
}

func removed(ch, user string) *actors.MemberRemoved {
	return &actors.MemberRemoved{App: "a", Channel: ch, UserID: user, At: time.Now()}
}

func clientEvent(ch, data, user string) *actors.ClientEventSent {
	return &actors.ClientEventSent{App: "a", Channel: ch, Event: "client-typing",
		Data: data, SocketID: "123.456", UserID: user, At: time.Now()}
}

func TestOccupiedNowVacatedAfterDebounce(t *testing.T) {
	clk, r := newFakeClock(), newReceiver(t)
	ep := r.endpoint("")
	ep.Headers = map[string]string{"Authorization": "Bearer abc", "X-Pusher-Signature": "forged"}
	h := start(t, Config{Endpoints: []Endpoint{ep}, Clock: clk, BatchMax: 1})

	h.send(occupied("room"))
	expectNames(t, r.waitEvents(1), "channel_occupied room")

	h.send(vacated("room"))
	h.stats() // the vacated is held before the clock moves
	clk.Advance(defaults.Debounce - time.Millisecond)
	if s := h.stats(); s.Held != 1 || len(r.events()) != 1 {
		t.Fatalf("vacated left before the window: held %d, events %v", s.Held, r.events())
	}
	clk.Advance(time.Millisecond)
	expectNames(t, r.waitEvents(2), "channel_occupied room", "channel_vacated room")
	r.check()

	for _, hd := range r.headers() {
		if hd.Get("Authorization") != "Bearer abc" {
			t.Errorf("configured header missing: %v", hd)
		}
	}
	if p := r.payloads()[1]; p.TimeMs != clk.Now().UnixMilli() {
		t.Errorf("time_ms %d, want %d", p.TimeMs, clk.Now().UnixMilli())
	}
	if strings.Contains(h.logs.all(), testSecret) || strings.Contains(h.logs.all(), "t0ps3cret") {
		t.Errorf("logs leak a secret:\n%s", h.logs.all())
	}
}

func TestMembersAddedNowRemovedAfterDebounce(t *testing.T) {
	clk, r := newFakeClock(), newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint(FormatPusher)}, Clock: clk, BatchMax: 1})

	h.send(added("presence-room", "u1"), added("presence-room", "u2"), removed("presence-room", "u1"))
	h.stats()
	clk.Advance(defaults.Debounce)
	expectNames(t, r.waitEvents(3),
		"member_added presence-room u1", "member_added presence-room u2", "member_removed presence-room u1")
	r.check()
}

func TestClientEventFields(t *testing.T) {
	r := newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, BatchMax: 1})

	h.send(clientEvent("private-chat", `{"x":1}`, ""), clientEvent("presence-chat", "", "u7"))
	got := r.waitEvents(2)
	want := []Event{
		{Name: "client_event", Channel: "private-chat", Event: "client-typing", Data: `{"x":1}`, SocketID: "123.456"},
		{Name: "client_event", Channel: "presence-chat", Event: "client-typing", SocketID: "123.456", UserID: "u7"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	raw := r.bodies()
	if strings.Contains(string(raw[0]), "user_id") {
		t.Errorf("user_id sent off presence: %s", raw[0])
	}
	if !strings.Contains(string(raw[1]), `"data":""`) || !strings.Contains(string(raw[1]), `"user_id":"u7"`) {
		t.Errorf("presence client_event body: %s", raw[1])
	}
	r.check()
}

func TestReloadFlapSendsNothing(t *testing.T) {
	clk, r := newFakeClock(), newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, Clock: clk, BatchMax: 1})

	h.send(occupied("room"), added("presence-room", "u1"))
	r.waitEvents(2)

	// A page reload: unsubscribe, resubscribe within a second.
	h.send(vacated("room"), removed("presence-room", "u1"))
	h.stats()
	clk.Advance(time.Second)
	h.send(occupied("room"), added("presence-room", "u1"))
	if s := h.stats(); s.Held != 0 {
		t.Fatalf("held %d after the flap", s.Held)
	}
	clk.Advance(time.Minute)
	if res := h.flush(clk.Now().Add(time.Minute)); res.Pending != 0 {
		t.Fatalf("flush pending %d", res.Pending)
	}
	expectNames(t, r.events(), "channel_occupied room", "member_added presence-room u1")

	// Leave, come back, leave again: one vacated, never two.
	h.send(vacated("room"))
	h.stats()
	clk.Advance(time.Second)
	h.send(occupied("room"), vacated("room"))
	h.stats()
	clk.Advance(time.Second)
	h.send(vacated("room")) // a duplicate while held is ignored
	h.stats()
	clk.Advance(defaults.Debounce)
	expectNames(t, r.waitEvents(3),
		"channel_occupied room", "member_added presence-room u1", "channel_vacated room")
	h.flush(clk.Now().Add(time.Minute))
	if n := len(r.events()); n != 3 {
		t.Fatalf("%d events, want 3: %v", n, names(r.events()))
	}
	r.check()
}

func TestRetryDeliversEachEventOnceInOrder(t *testing.T) {
	r := newReceiver(t)
	r.setStatus(func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, BatchMax: 1, BatchWindow: -1,
		BackoffMin: 2 * time.Millisecond, BackoffMax: 8 * time.Millisecond})

	for i := range 5 {
		h.send(clientEvent("private-c", fmt.Sprint(i), ""))
	}
	r.waitEvents(5)
	if res := h.flush(time.Now().Add(waitLimit)); res.Pending != 0 {
		t.Fatalf("flush pending %d", res.Pending)
	}
	var data []string
	for _, e := range r.events() {
		data = append(data, e.Data)
	}
	if !slices.Equal(data, []string{"0", "1", "2", "3", "4"}) {
		t.Fatalf("delivered %q, want each of 0..4 once, in order", data)
	}
	if s := h.stats().Endpoints[0]; s.Delivered != 5 || s.Dropped != 0 {
		t.Fatalf("stats %+v", s)
	}
	if len(h.logs.matching("will retry")) != 3 {
		t.Errorf("want 3 retry logs:\n%s", h.logs.all())
	}
	r.check()
}

func TestRetryGivesUpAndMovesOn(t *testing.T) {
	r := newReceiver(t)
	r.setStatus(func(int) int { return http.StatusBadGateway })
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, BatchMax: 1, BatchWindow: -1,
		BackoffMin: time.Millisecond, BackoffMax: 2 * time.Millisecond, RetryFor: 20 * time.Millisecond})

	h.send(clientEvent("private-c", "lost", ""))
	eventually(t, "the batch to be dropped", func() bool { return h.stats().Endpoints[0].Dropped == 1 })
	if d := h.logs.matching("webhook batch dropped"); len(d) != 1 || !strings.Contains(d[0], "events=1") {
		t.Fatalf("drop log: %q", d)
	}
	r.setStatus(nil)
	h.send(clientEvent("private-c", "next", ""))
	if got := r.waitEvents(1); got[0].Data != "next" {
		t.Fatalf("got %+v", got)
	}
}

func TestWebmanFormat(t *testing.T) {
	clk, wm, pu := newFakeClock(), newReceiver(t), newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{wm.endpoint(FormatWebman), pu.endpoint(FormatPusher)},
		Clock: clk, BatchMax: 1})

	h.send(occupied("room"), added("presence-room", "u1"), clientEvent("presence-room", "x", "u1"),
		&actors.CacheMissed{Channel: "cache-x"}, &actors.SubscriptionCountChanged{Channel: "room", Count: 2},
		removed("presence-room", "u1"), vacated("room"))
	h.stats()
	clk.Advance(defaults.Debounce)
	expectNames(t, wm.waitEvents(4), "channel_added room", "user_added presence-room u1",
		"user_removed presence-room u1", "channel_removed room")
	pu.waitEvents(7)
	h.flush(clk.Now().Add(time.Minute))
	if n := len(wm.events()); n != 4 {
		t.Fatalf("webman got %d events", n)
	}
	var ev map[string]any
	if err := json.Unmarshal(wm.bodies()[1], &struct{ Events []any }{[]any{&ev}}); err != nil {
		t.Fatal(err)
	}
	if len(ev) != 3 || ev["name"] != "user_added" || ev["user_id"] != "u1" || ev["channel"] != "presence-room" {
		t.Fatalf("user_added event %v", ev)
	}
	wm.check()
	pu.check()
}

func TestEventsFilter(t *testing.T) {
	pu, wm := newReceiver(t), newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{
		pu.endpoint(FormatPusher, EventChannelOccupied, EventClientEvent),
		wm.endpoint(FormatWebman, EventUserAdded),
	}})
	h.send(occupied("presence-room"), added("presence-room", "u1"),
		clientEvent("presence-room", "x", "u1"), &actors.CacheMissed{Channel: "cache-x"})
	if res := h.flush(time.Now().Add(waitLimit)); res.Pending != 0 {
		t.Fatalf("pending %d", res.Pending)
	}
	expectNames(t, pu.events(), "channel_occupied presence-room", "client_event presence-room u1")
	expectNames(t, wm.events(), "user_added presence-room u1")
}

func TestBatchMaxSplitsBatches(t *testing.T) {
	r := newReceiver(t)
	gate := make(chan struct{})
	r.setGate(gate)
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, Clock: newFakeClock(), BatchWindow: time.Hour})

	for i := range 30 {
		h.send(clientEvent("private-c", fmt.Sprint(i), ""))
	}
	if s := h.stats().Endpoints[0]; s.InFlight != 20 || s.Queued != 10 {
		t.Fatalf("stats %+v", s)
	}
	close(gate)
	r.waitEvents(30)
	var sizes []int
	for _, p := range r.payloads() {
		sizes = append(sizes, len(p.Events))
	}
	if !slices.Equal(sizes, []int{20, 10}) {
		t.Fatalf("batch sizes %v", sizes)
	}
	for i, e := range r.events() {
		if e.Data != fmt.Sprint(i) {
			t.Fatalf("event %d has data %q", i, e.Data)
		}
	}
}

func TestBatchWindow(t *testing.T) {
	clk, r := newFakeClock(), newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, Clock: clk})
	h.send(&actors.CacheMissed{Channel: "cache-a"}, &actors.SubscriptionCountChanged{Channel: "a", Count: 1},
		&actors.SubscriptionCountChanged{Channel: "a", Count: 0})
	h.stats()
	clk.Advance(defaults.BatchWindow - time.Millisecond)
	if s := h.stats().Endpoints[0]; s.Queued != 2 || s.InFlight != 0 {
		t.Fatalf("stats %+v (subscription_count should coalesce)", s)
	}
	clk.Advance(time.Millisecond)
	r.waitEvents(2)
	p := r.payloads()
	if len(p) != 1 || p[0].Events[1].SubscriptionCount != 0 || !strings.Contains(string(r.bodies()[0]), `"subscription_count":0`) {
		t.Fatalf("payloads %+v", p)
	}
}

func TestOverflowIsCountedAndLogged(t *testing.T) {
	r := newReceiver(t)
	gate := make(chan struct{})
	r.setGate(gate)
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, QueueSize: 5, BatchMax: 1})
	for i := range 11 {
		h.send(clientEvent("private-c", fmt.Sprint(i), ""))
	}
	if s := h.stats().Endpoints[0]; s.InFlight != 1 || s.Queued != 5 || s.Overflow != 5 {
		t.Fatalf("stats %+v", s)
	}
	if len(h.logs.matching("webhook queue full")) != 1 {
		t.Fatalf("overflow not logged once:\n%s", h.logs.all())
	}
	close(gate)
	r.waitEvents(6)
	if res := h.flush(time.Now().Add(waitLimit)); res.Pending != 0 {
		t.Fatalf("pending %d", res.Pending)
	}
	if len(h.logs.matching("dropped=5")) != 1 {
		t.Errorf("overflow end not logged:\n%s", h.logs.all())
	}
}

func TestFlushSendsHeldAndBatchedEvents(t *testing.T) {
	clk, r := newFakeClock(), newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, Clock: clk, BatchWindow: time.Hour})
	h.send(occupied("a"), vacated("b"), clientEvent("private-c", "x", ""))
	if res := h.flush(clk.Now().Add(time.Minute)); res.Pending != 0 {
		t.Fatalf("pending %d", res.Pending)
	}
	expectNames(t, r.events(), "channel_occupied a", "client_event private-c", "channel_vacated b")
}

func TestFlushAnswersAtDeadline(t *testing.T) {
	clk, r := newFakeClock(), newReceiver(t)
	r.setStatus(func(int) int { return http.StatusServiceUnavailable })
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}, Clock: clk, BatchWindow: -1})
	h.send(clientEvent("private-c", "x", ""))
	f := h.sys.Root.RequestFuture(h.pid, &FlushRequest{Deadline: clk.Now().Add(2 * time.Second)}, waitLimit)
	h.stats()
	clk.Advance(2 * time.Second)
	res, err := f.Result()
	if err != nil {
		t.Fatal(err)
	}
	if p := res.(*FlushResponse).Pending; p != 1 {
		t.Fatalf("pending %d, want 1", p)
	}
}

// Every fact type must reach its handler, not Receive's default branch.
func TestEveryMessageIsHandled(t *testing.T) {
	r := newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{r.endpoint("")}})
	h.send(occupied("a"), vacated("a"), added("presence-a", "u"), removed("presence-a", "u"),
		clientEvent("private-a", "x", ""), &actors.CacheMissed{Channel: "cache-a"},
		&actors.SubscriptionCountChanged{Channel: "a", Count: 1}, &FlushRequest{}, &StatsRequest{})
	h.flush(time.Now().Add(waitLimit))
	if u := h.logs.matching("unexpected message"); len(u) != 0 {
		t.Fatalf("messages fell into default: %q", u)
	}
	h.send(&struct{ X int }{})
	h.stats()
	if u := h.logs.matching("unexpected message"); len(u) != 1 {
		t.Fatalf("default branch did not log: %q", u)
	}
}

func TestInvalidEndpointIsSkipped(t *testing.T) {
	r := newReceiver(t)
	h := start(t, Config{Endpoints: []Endpoint{{URL: "ftp://x/"}, {URL: r.srv.URL, Format: "xml"}, r.endpoint("")}})
	if s := h.stats(); len(s.Endpoints) != 1 {
		t.Fatalf("endpoints %+v", s.Endpoints)
	}
	if n := len(h.logs.matching("webhook endpoint skipped")); n != 2 {
		t.Fatalf("%d skip logs:\n%s", n, h.logs.all())
	}
}
