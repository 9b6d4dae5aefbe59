package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
)

const testToken = "dashboard-test-token-4f9c2a"

// wait bounds every wait of these tests (a loaded 2-core machine).
const wait = 20 * time.Second

// server is a real broker with two apps and a dashboard Handler on a
// loopback http.Server whose timeouts are short, as the API listener's
// are (so a stream must outlive them).
type server struct {
	hub  *Hub
	base string // http://127.0.0.1:port/dashboard/
}

func startServer(t *testing.T) *server {
	t.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	app := func(id, key, secret string) actors.AppConfig {
		return actors.AppConfig{ID: id, Key: key, Secret: secret,
			ClientEventRate: 10, MaxPresenceMembers: 100, MaxChannelsPerConnection: 100, CacheTTL: time.Minute}
	}
	b, err := actors.Start(system, actors.Config{RequestTimeout: 5 * time.Second,
		Timing: actors.Timing{ActivityTimeout: 30 * time.Second, PongTimeout: 30 * time.Second},
		Apps:   []actors.AppConfig{app("app-1", "key-1", "secret-one-never-shown"), app("", "key-2", "secret-two-never-shown")}})
	if err != nil {
		t.Fatal(err)
	}
	hub := NewHub(HubConfig{})
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "the page") })
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", NewHandler(hub, Config{Token: testToken, Broker: b, Page: page}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, IdleTimeout: time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { // owned by the test: ends at Shutdown below
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		hub.Close() // as herald does: the streams end, so Shutdown need not wait
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown with streams open: %v (the hub's Close should have ended them)", err)
		}
		<-served
		_ = b.Stop(ctx)
		system.Shutdown()
	})
	return &server{hub: hub, base: "http://" + ln.Addr().String() + "/dashboard/"}
}

// reply is a response, read whole.
type reply struct {
	StatusCode int
	Header     http.Header
}

// get makes a GET with header (name, value, ...) and reads the answer.
func get(t *testing.T, url string, header ...string) (reply, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close() //nolint:errcheck // a test's response
	body, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header}, string(body)
}

// Without the token, or with a wrong one, every data endpoint answers 401
// with a JSON body; the page itself loads (it asks for the token).
func TestUnauthorized(t *testing.T) {
	s := startServer(t)
	wrong := testToken[:len(testToken)-1] + "x"
	for _, path := range []string{"api/overview", "api/channels?app=app-1", "api/events", "api/nothing"} {
		for _, c := range []struct {
			name   string
			url    string
			header []string
		}{
			{"no token", s.base + path, nil},
			{"wrong bearer", s.base + path, []string{"Authorization", "Bearer " + wrong}},
			{"token not as bearer", s.base + path, []string{"Authorization", testToken}},
			{"wrong query token", s.base + path + sep(path) + "token=" + wrong, nil},
			{"empty bearer", s.base + path, []string{"Authorization", "Bearer "}},
		} {
			res, body := get(t, c.url, c.header...)
			var e struct {
				Error string `json:"error"`
				Code  int    `json:"code"`
			}
			if res.StatusCode != http.StatusUnauthorized || json.Unmarshal([]byte(body), &e) != nil || e.Code != 401 || e.Error == "" {
				t.Errorf("%s %s: %d %q, want 401 with a JSON error", c.name, path, res.StatusCode, body)
			}
			if res.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: headers %v", c.name, path, res.Header)
			}
			if strings.Contains(body, testToken) || strings.Contains(body, wrong) {
				t.Errorf("%s %s: the body quotes a token: %s", c.name, path, body)
			}
		}
	}
	// ?token= is for EventSource only: other endpoints want the header.
	if res, _ := get(t, s.base+"api/overview?token="+testToken); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("overview with ?token=: %d, want 401", res.StatusCode)
	}
	if res, body := get(t, s.base); res.StatusCode != http.StatusOK || body != "the page" {
		t.Errorf("the page without a token: %d %q, want 200", res.StatusCode, body)
	}
	if res, _ := get(t, s.base+"api/overview", "Authorization", "Bearer "+testToken); res.StatusCode != http.StatusOK {
		t.Errorf("overview with the token: %d, want 200", res.StatusCode)
	}
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

func TestOverviewAndChannels(t *testing.T) {
	s := startServer(t)
	s.hub.Observe(&actors.Observation{Kind: actors.ObservedConnect, App: "app-1", SocketID: "1.2"})
	s.hub.Observe(&actors.Observation{Kind: actors.ObservedPublish, App: "key-2", Channel: "news", Event: "e"})
	auth := []string{"Authorization", "Bearer " + testToken}

	res, body := get(t, s.base+"api/overview", auth...)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d %s", res.StatusCode, body)
	}
	var ov struct {
		Apps []struct {
			ID, Key  string
			Channels *int
			Stats    AppStats
		}
	}
	if err := json.Unmarshal([]byte(body), &ov); err != nil {
		t.Fatal(err)
	}
	if len(ov.Apps) != 2 || ov.Apps[0].ID != "app-1" || ov.Apps[0].Key != "key-1" || ov.Apps[1].ID != "key-2" {
		t.Fatalf("overview apps: %s", body)
	}
	if ov.Apps[0].Stats.Connections != 1 || ov.Apps[1].Stats.Messages.Total != 1 {
		t.Errorf("overview counts: %s", body)
	}
	if ov.Apps[0].Channels == nil || *ov.Apps[0].Channels != 0 {
		t.Errorf("channels of a fresh app: %s", body)
	}
	if strings.Contains(body, "never-shown") {
		t.Errorf("the overview shows a secret: %s", body)
	}

	res, body = get(t, s.base+"api/channels?app=key-2&fresh=1", auth...)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"total":0`) || !strings.Contains(body, `"channels":[]`) {
		t.Errorf("channels of an idle app: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, s.base+"api/channels?app=nope", auth...); res.StatusCode != http.StatusNotFound {
		t.Errorf("channels of an unknown app: %d, want 404", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+"api/overview", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST overview: %v %v, want 405", res, err)
	} else {
		_ = res.Body.Close()
	}
}

// sse is a Server-Sent Event as a client reads it.
type sse struct{ event, id, data string }

// readEvents parses the stream of body into events until it ends.
func readEvents(body io.Reader) <-chan sse {
	out := make(chan sse, 4096)
	go func() { // owned by the caller: ends when body ends or is closed
		defer close(out)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var e sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.data != "" {
					if e.event == "" {
						e.event = "message"
					}
					out <- e
				}
				e = sse{}
			case strings.HasPrefix(line, "event: "):
				e.event = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				e.id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				e.data = line[len("data: "):]
			}
		}
	}()
	return out
}

func next(t *testing.T, events <-chan sse) sse {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(wait):
		t.Fatal("no event")
	}
	return sse{}
}

// The stream sends what was kept, then what happens, filtered; it
// outlives the listener's read and write timeouts; Close ends it.
func TestEventStream(t *testing.T) {
	s := startServer(t)
	s.hub.Observe(publish("app-1", "private-a", "before"))
	s.hub.Observe(publish("key-2", "private-a", "other app"))

	res, err := http.Get(s.base + "api/events?token=" + testToken + "&app=app-1&kind=publish,client_event")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close() //nolint:errcheck // a test's response
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("events: %d %v", res.StatusCode, res.Header)
	}
	events := readEvents(res.Body)
	var o wireObservation
	e := next(t, events)
	if err := json.Unmarshal([]byte(e.data), &o); err != nil || o.Event != "before" || o.Kind != "publish" || e.id != "1" {
		t.Fatalf("first event %+v (%v), want the kept publish with id 1", e, err)
	}

	s.hub.Observe(&actors.Observation{Kind: actors.ObservedConnect, App: "app-1"}) // kind filtered out
	s.hub.Observe(&actors.Observation{Kind: actors.ObservedClientEvent, App: "app-1", Channel: "private-a",
		Event: "client-hi", SocketID: "12.34", Duration: 1500 * time.Microsecond})
	e = next(t, events)
	if err := json.Unmarshal([]byte(e.data), &o); err != nil ||
		o != (wireObservation{At: o.At, Kind: "client_event", App: "app-1", Channel: "private-a", Event: "client-hi", SocketID: "12.34", Millis: 1.5}) ||
		e.id != "4" || time.Since(time.UnixMilli(o.At)) > time.Minute {
		t.Fatalf("live event %+v: %+v", e, o)
	}

	// Past the listener's 1 s read and write timeouts the stream still works.
	time.Sleep(1500 * time.Millisecond)
	s.hub.Observe(publish("app-1", "late", "after the timeouts"))
	if e = next(t, events); !strings.Contains(e.data, "after the timeouts") {
		t.Fatalf("after the timeouts: %+v", e)
	}

	s.hub.Close()
	select {
	case _, open := <-events:
		if open {
			t.Fatal("an event after Close")
		}
	case <-time.After(wait):
		t.Fatal("the stream did not end at Close")
	}
	res2, body := get(t, s.base+"api/events?token="+testToken)
	if res2.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a stream after Close: %d %s, want 503", res2.StatusCode, body)
	}
	if res2, _ := get(t, s.base+"api/events?token="+testToken+"&kind=nope"); res2.StatusCode != http.StatusBadRequest {
		t.Errorf("an unknown kind: %d, want 400", res2.StatusCode)
	}
}

// A dashboard that stops reading never slows Observe: its stream's
// buffer fills and drops, and once it reads again it is told how many it
// lost.
func TestStalledStreamOverHTTP(t *testing.T) {
	s := startServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(s.base, "/dashboard/"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() //nolint:errcheck // a test's connection
	req, _ := http.NewRequest(http.MethodGet, s.base+"api/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for s.hub.streams() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stream did not open")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// 20 000 observations of ~500 bytes each, 10 MB: far more than the
	// socket buffers hold, so the stream's writes block while nothing reads.
	const n = 20000
	detail := strings.Repeat("d", maxDetailField)
	done := make(chan struct{})
	go func() { // owned by the test: ends after n observations
		defer close(done)
		for i := range n {
			s.hub.Observe(&actors.Observation{Kind: actors.ObservedError, App: "app-1", Detail: detail, Event: fmt.Sprint(i)})
		}
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Observe blocked behind a dashboard that does not read")
	}

	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close() //nolint:errcheck // a test's response
	events := readEvents(res.Body)
	received, dropped := 0, 0
	for received+dropped < n {
		e := next(t, events)
		switch e.event {
		case "message":
			received++
		case "dropped":
			var d struct{ Dropped int }
			if err := json.Unmarshal([]byte(e.data), &d); err != nil || d.Dropped <= 0 {
				t.Fatalf("dropped event %q", e.data)
			}
			dropped += d.Dropped
		}
	}
	if dropped == 0 || received+dropped != n {
		t.Errorf("received %d + dropped %d, want some dropped and %d in all", received, dropped, n)
	}
	if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Error(err)
	}
	deadline = time.Now().Add(wait)
	for s.hub.streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stream did not end when its client went")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
