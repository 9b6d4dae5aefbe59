package dashboard

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
)

func publish(app, channel, event string) *actors.Observation {
	return &actors.Observation{Kind: actors.ObservedPublish, App: app, Channel: channel, Event: event}
}

// The ring keeps the newest Recent observations, in order, and a new
// stream starts with them.
func TestHubKeepsTheMostRecent(t *testing.T) {
	h := NewHub(HubConfig{Recent: 1000, ClientBuffer: 5000})
	for i := range 1500 {
		h.Observe(publish("a", "ch", fmt.Sprint("e", i)))
	}
	s, err := h.subscribe(Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, dropped := s.take(nil)
	if len(got) != 1000 || dropped != 0 {
		t.Fatalf("a new stream got %d kept observations (%d dropped), want the 1000 newest", len(got), dropped)
	}
	for i, e := range got {
		if want := fmt.Sprint("e", 500+i); e.o.Event != want || e.seq != uint64(501+i) {
			t.Fatalf("kept[%d] = %s (seq %d), want %s (seq %d)", i, e.o.Event, e.seq, want, 501+i)
		}
	}
	// A stream that reconnects after seq 1400 gets only what came after.
	s2, _ := h.subscribe(Filter{}, 1400)
	if got, _ := s2.take(nil); len(got) != 100 || got[0].o.Event != "e1400" {
		t.Fatalf("after Last-Event-ID 1400: %d observations, first %v; want 100 from e1400", len(got), got)
	}
	// An id the hub never gave (from before a restart) gets everything kept.
	s3, _ := h.subscribe(Filter{}, 99999)
	if got, _ := s3.take(nil); len(got) != 1000 {
		t.Fatalf("after an unknown Last-Event-ID: %d observations, want 1000", len(got))
	}
}

// A new stream's backlog is the newest ClientBuffer of the matching ones.
func TestHubBacklogIsBounded(t *testing.T) {
	h := NewHub(HubConfig{Recent: 100, ClientBuffer: 10})
	for i := range 100 {
		h.Observe(publish("a", "ch", fmt.Sprint("e", i)))
	}
	s, _ := h.subscribe(Filter{}, 0)
	got, dropped := s.take(nil)
	if len(got) != 10 || got[0].o.Event != "e90" || got[9].o.Event != "e99" || dropped != 0 {
		t.Fatalf("backlog = %d from %v (dropped %d), want e90..e99", len(got), got[0].o.Event, dropped)
	}
}

// A stream nobody reads fills its own buffer and then drops (and counts)
// its own newest observations; Observe goes on at once, and a stream that
// reads gets every observation or is told of each one it lost.
func TestHubSlowStreamDropsWithoutBlocking(t *testing.T) {
	h := NewHub(HubConfig{Recent: 100, ClientBuffer: 64})
	stalled, _ := h.subscribe(Filter{}, 0)
	reading, _ := h.subscribe(Filter{}, 0)

	const n = 20000
	var wg sync.WaitGroup
	received, lost := 0, 0
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // owned by the test: ends once stop is closed and all is taken
		defer wg.Done()
		for {
			select {
			case <-reading.wake:
			case <-stop:
				got, d := reading.take(nil)
				received, lost = received+len(got), lost+d
				return
			}
			got, d := reading.take(nil)
			received, lost = received+len(got), lost+d
		}
	}()
	done := make(chan struct{})
	go func() { // owned by the test: ends after n observations
		defer close(done)
		for i := range n {
			h.Observe(publish("a", "ch", fmt.Sprint("e", i)))
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Observe blocked on a stream that does not read")
	}
	close(stop)
	wg.Wait()

	got, dropped := stalled.take(nil)
	if len(got) != 64 || dropped != n-64 {
		t.Fatalf("stalled stream: %d kept, %d dropped; want 64 kept, %d dropped", len(got), dropped, n-64)
	}
	if got[0].o.Event != "e0" || got[63].o.Event != "e63" {
		t.Errorf("stalled stream kept %s..%s, want the first 64 (its newest are dropped)", got[0].o.Event, got[63].o.Event)
	}
	if received+lost != n {
		t.Errorf("reading stream: %d received + %d dropped = %d, want %d", received, lost, received+lost, n)
	}
	// Once read, the stalled stream's buffer takes observations again.
	h.Observe(publish("a", "ch", "after"))
	if got, dropped := stalled.take(nil); len(got) != 1 || got[0].o.Event != "after" || dropped != 0 {
		t.Errorf("after a take: %v, %d dropped; want the new observation", got, dropped)
	}
}

func TestFilter(t *testing.T) {
	obs := []*actors.Observation{
		{Kind: actors.ObservedConnect, App: "a", SocketID: "1.1"},
		{Kind: actors.ObservedPublish, App: "a", Channel: "private-room-1", Event: "msg"},
		{Kind: actors.ObservedClientEvent, App: "b", Channel: "private-room-2", Event: "client-typing"},
		{Kind: actors.ObservedWebhookFailed, App: "b", Detail: "500"},
	}
	tests := []struct {
		query string
		want  []int
	}{
		{"", []int{0, 1, 2, 3}},
		{"app=a", []int{0, 1}},
		{"app=b&kind=client_event,webhook_failed", []int{2, 3}},
		{"channel=room", []int{1, 2}},
		{"channel=room-2", []int{2}},
		{"kind=connect", []int{0}},
		{"kind=publish,+publish,&app=a", []int{1}},
		{"app=c", nil},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		f, err := parseFilter(q)
		if err != nil {
			t.Fatalf("parseFilter(%q): %v", tt.query, err)
		}
		var got []int
		for i, o := range obs {
			if f.Match(o) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("filter %q matches %v, want %v", tt.query, got, tt.want)
		}
	}
	for _, bad := range []string{"kind=publsh", "kind=connect,nope", "channel=" + strings.Repeat("x", 201)} {
		q, _ := url.ParseQuery(bad)
		if _, err := parseFilter(q); err == nil {
			t.Errorf("parseFilter(%q) accepted it", bad)
		}
	}

	// The hub applies the filter to the backlog and to what comes after.
	h := NewHub(HubConfig{})
	h.Observe(obs[1])
	s, _ := h.subscribe(Filter{Kinds: []actors.ObservationKind{actors.ObservedClientEvent}}, 0)
	for _, o := range obs {
		h.Observe(o)
	}
	if got, _ := s.take(nil); len(got) != 1 || got[0].o.Event != "client-typing" {
		t.Errorf("a client_event stream got %v", got)
	}
}

// Every kind actors/observe.go defines is one the console can filter on:
// the file is read, so a kind added there and not here fails.
func TestKindsAreEveryObservationKind(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../actors/observe.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "ObservationKind" {
				continue
			}
			kind, _ := strconv.Unquote(v.Values[0].(*ast.BasicLit).Value)
			n++
			if !slices.Contains(Kinds, actors.ObservationKind(kind)) {
				t.Errorf("Kinds lacks %q (%s)", kind, v.Names[0].Name)
			}
		}
	}
	if n != len(Kinds) {
		t.Errorf("actors defines %d kinds, Kinds lists %d", n, len(Kinds))
	}
}

func TestHubStats(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	h := NewHub(HubConfig{Now: func() time.Time { return now }})
	atN := func(kind actors.ObservationKind, app string, sec int64, count int) {
		h.Observe(&actors.Observation{Kind: kind, App: app, At: time.Unix(1_000_000+sec, 0), Count: count})
	}
	at := func(kind actors.ObservationKind, app string, sec int64) { atN(kind, app, sec, 0) }
	at(actors.ObservedConnect, "a", 0)
	at(actors.ObservedConnect, "a", 0)
	at(actors.ObservedConnect, "b", 0)
	at(actors.ObservedDisconnect, "a", 0)
	at(actors.ObservedDisconnect, "b", 0)
	at(actors.ObservedDisconnect, "b", 0) // more disconnects than connects never go below 0
	for s := range int64(10) {
		for range 3 {
			at(actors.ObservedPublish, "a", s)
		}
		at(actors.ObservedClientEvent, "a", s)
		at(actors.ObservedAPI, "a", s)
	}
	atN(actors.ObservedWebhook, "a", 9, 3)       // a request of 3 events delivered
	atN(actors.ObservedWebhookRetry, "a", 9, 2)  // a request of 2 events retried
	atN(actors.ObservedWebhookFailed, "a", 9, 2) // its 2 events dropped
	at(actors.ObservedSubscribeRefused, "a", 9)
	at(actors.ObservedError, "a", 9)

	now = time.Unix(1_000_010, 500)
	a := h.Stats("a")
	if a.Connections != 1 || h.Stats("b").Connections != 0 {
		t.Errorf("connections a=%d b=%d, want 1 and 0", a.Connections, h.Stats("b").Connections)
	}
	if a.Messages != (Rate{Total: 40, PerSecond: 4}) || a.APIRequests != (Rate{Total: 10, PerSecond: 1}) {
		t.Errorf("messages %+v, api %+v; want 40 at 4/s and 10 at 1/s", a.Messages, a.APIRequests)
	}
	if a.Webhooks.Total != 3 || a.WebhookRetries.Total != 1 || a.WebhookFailures.Total != 2 || a.Errors.Total != 2 {
		t.Errorf("webhooks %+v retries %+v failures %+v errors %+v", a.Webhooks, a.WebhookRetries, a.WebhookFailures, a.Errors)
	}
	// Twenty seconds later the rates are 0 and the totals stay.
	now = now.Add(20 * time.Second)
	if a := h.Stats("a"); a.Messages != (Rate{Total: 40}) {
		t.Errorf("messages later %+v, want total 40 at 0/s", a.Messages)
	}
	if got := h.Stats("nobody"); got != (AppStats{}) {
		t.Errorf("an app never observed: %+v", got)
	}
}

func TestHubStreamLimitsAndClose(t *testing.T) {
	h := NewHub(HubConfig{})
	var subs []*subscriber
	for range maxStreams {
		s, err := h.subscribe(Filter{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	if _, err := h.subscribe(Filter{}, 0); !errors.Is(err, errTooMany) {
		t.Fatalf("stream %d: err = %v, want errTooMany", maxStreams+1, err)
	}
	h.unsubscribe(subs[0])
	if _, err := h.subscribe(Filter{}, 0); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	h.Close()
	h.Close() // twice is fine
	select {
	case <-h.done:
	default:
		t.Fatal("Close did not close done")
	}
	if _, err := h.subscribe(Filter{}, 0); !errors.Is(err, errClosed) {
		t.Fatalf("after Close: err = %v, want errClosed", err)
	}
}

// Long fields are clipped so the ring stays small whatever is reported.
func TestHubClipsLongFields(t *testing.T) {
	h := NewHub(HubConfig{})
	h.Observe(&actors.Observation{Kind: actors.ObservedError, Detail: strings.Repeat("é", 1000), Channel: strings.Repeat("c", 1000)})
	s, _ := h.subscribe(Filter{}, 0)
	got, _ := s.take(nil)
	if len(got[0].o.Detail) > maxDetailField || len(got[0].o.Channel) > maxNameField || !strings.HasPrefix(got[0].o.Detail, "é") {
		t.Errorf("detail %d bytes, channel %d bytes: not clipped to %d and %d", len(got[0].o.Detail), len(got[0].o.Channel), maxDetailField, maxNameField)
	}
	if got[0].o.At.IsZero() {
		t.Error("an observation without At got no time")
	}
}
