package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
	"github.com/lxzan/gws"
)

// One test per hole an anonymous client could open (issue 9), each
// through real sockets on loopback. Memory is the test process's live heap
// after a GC: broker and clients share it, and the clients hold little.

// heapMB returns the live heap after a full GC, in MiB.
func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// rawClient is a gws client that does not read past its first frame
// (connection_established, handed to first) until read is called: its
// read loop waits in OnMessage, so the server's writes back up in TCP.
type rawClient struct {
	gws.BuiltinEventHandler
	conn   *gws.Conn
	frames atomic.Int64
	first  chan string // the socket id of connection_established
	gate   chan struct{}
	closed chan uint16
	read   func() // lets the read loop go on
}

func (c *rawClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	if c.frames.Add(1) == 1 {
		var f struct{ Data string }
		var d struct {
			SocketID string `json:"socket_id"`
		}
		_ = json.Unmarshal(m.Bytes(), &f)
		_ = json.Unmarshal([]byte(f.Data), &d)
		c.first <- d.SocketID
	}
	_ = m.Close()
	<-c.gate
}

func (c *rawClient) OnClose(_ *gws.Conn, err error) {
	code := uint16(1006)
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		code = ce.Code
	}
	c.closed <- code
}

func dialRaw(t *testing.T, url string) *rawClient {
	t.Helper()
	c := &rawClient{first: make(chan string, 1), gate: make(chan struct{}), closed: make(chan uint16, 1)}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: url})
	if err != nil {
		t.Fatal(err)
	}
	c.conn = conn
	go conn.ReadLoop() // ends when the socket closes, at the latest in Cleanup
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(c.gate) }); _ = conn.NetConn().Close() })
	c.read = func() { once.Do(func() { close(c.gate) }) }
	return c
}

func (c *rawClient) waitClose(t *testing.T, within time.Duration) uint16 {
	t.Helper()
	select {
	case code := <-c.closed:
		return code
	case <-time.After(within):
		t.Fatalf("socket not closed within %s", within)
	}
	return 0
}

// Hole 1: a client that sends WebSocket pings and never reads. Its pongs
// go through the socket's bounded queue: it is cut with 4100 (seen once it
// reads again) and the server holds a bounded amount for it.
func TestPingFloodIsBounded(t *testing.T) {
	// The client stops pinging once the server has cut it (the observer
	// hears of the 4100): it must read again within the server's grace for
	// a cut socket, however long a loaded machine took to send the pings.
	cut := make(chan struct{})
	var once sync.Once
	b := startBroker(t, func(_ *actors.Config, tc *transport.Config) {
		tc.Observer = observerFunc(func(o *actors.Observation) {
			if o.Kind == actors.ObservedError && o.Detail == actors.QuotaWriteQueue {
				once.Do(func() { close(cut) })
			}
		})
	})
	good := b.connect()
	good.Subscribe("calm")
	before := heapMB()

	c := dialRaw(t, b.ws+"/app/"+testKey)
	payload := []byte(strings.Repeat("p", 125))
	sent := 0
ping:
	for ; sent < 100000; sent++ {
		select {
		case <-cut:
			break ping
		default:
		}
		if c.conn.WritePing(payload) != nil {
			break
		}
	}
	grown := heapMB() - before
	// It reads again: it gets what was written, then 4100.
	c.read()
	if code := c.waitClose(t, 10*time.Second); code != uint16(pusher.CloseOverCapacity) {
		t.Fatalf("closed with %d, want 4100", code)
	}
	t.Logf("%d pings sent before the cut; heap grew %.1f MiB", sent, grown)
	if grown > 8 {
		t.Fatalf("heap grew %.1f MiB for one client that does not read", grown)
	}
	b.api.Trigger("calm", "still", "here", nil)
	good.Expect("still")
}

// Hole 2: presence amplification. 99 members with 2 KB of user_info make
// subscription_succeeded ~200 KB; a socket that re-subscribes in a loop
// without reading is cut once its queue holds a megabyte.
func TestPresenceAmplificationIsBounded(t *testing.T) {
	var cut atomic.Bool
	b := startBroker(t, func(_ *actors.Config, tc *transport.Config) {
		tc.Logger = logTap(func(msg string) {
			if strings.Contains(msg, "4100") {
				cut.Store(true)
			}
		})
	})
	info := map[string]string{"bio": strings.Repeat("b", 2000)}
	var members []*pushertest.Client
	for i := 0; i < 99; i++ {
		m := b.connect()
		m.SubscribePresence("presence-big", fmt.Sprintf("u%d", i), info)
		members = append(members, m)
	}
	// The members read everything (the attacker's joins and leaves too)
	// and report when the event published after the attack arrives.
	after := make(chan bool, len(members))
	for _, m := range members {
		go func(m *pushertest.Client) { // ends at "after", or with the test
			for {
				select {
				case f := <-m.Frames():
					if f["event"] == "after" {
						after <- true
						return
					}
				case <-time.After(20 * time.Second):
					after <- false
					return
				}
			}
		}(m)
	}
	before := heapMB()

	c := dialRaw(t, b.ws+"/app/"+testKey)
	socketID := <-c.first // connection_established: its socket id signs the subscription
	cd := `{"user_id":"attacker"}`
	sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": "presence-big", "channel_data": cd,
		"auth": pusher.ChannelAuth(testKey, testSecret, socketID, "presence-big", cd)}})
	unsub := []byte(`{"event":"pusher:unsubscribe","data":{"channel":"presence-big"}}`)
	// The writes may outrun the server: what it has not read waits in
	// TCP (it reads a client's frames only as fast as their joins are
	// answered). Either way the attacker is cut once its answers pass the
	// byte bound, which happens after a few dozen cycles.
	cycles := 0
	for ; cycles < 2000 && !cut.Load(); cycles++ {
		if c.conn.WriteMessage(gws.OpcodeText, sub) != nil || c.conn.WriteMessage(gws.OpcodeText, unsub) != nil {
			break
		}
	}
	for deadline := time.Now().Add(20 * time.Second); !cut.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not cut after %d subscribe cycles", cycles)
		}
	}
	// The members are unharmed: they get what is published after the
	// attack, once they have read everything before it (so what the heap
	// holds next is the broker's, not the test clients' backlog).
	b.api.Trigger("presence-big", "after", "1", nil)
	for range members {
		if !<-after {
			t.Fatal("a member did not get the event published after the attack")
		}
	}
	grown := heapMB() - before
	c.read()
	code := c.waitClose(t, 10*time.Second)
	t.Logf("%d subscribe cycles sent (each answered with ~200 KB); heap grew %.1f MiB; closed with %d", cycles, grown, code)
	if code != uint16(pusher.CloseOverCapacity) && code != 1006 {
		t.Fatalf("closed with %d, want 4100 (or a cut)", code)
	}
	if grown > 16 {
		t.Fatalf("heap grew %.1f MiB for one client that does not read", grown)
	}
}

// Hole 3: pusher-js re-sends every subscription at once after a
// reconnect. 1 000 subscribes in one burst, on the default config, are
// all answered and the socket stays open.
func TestThousandSubscribesInOneBurst(t *testing.T) {
	b := startBroker(t)
	c := b.connect()
	for i := 0; i < 1000; i++ {
		f, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": fmt.Sprintf("dash-%d", i)}})
		if err := c.Conn.WriteMessage(gws.OpcodeText, f); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[any]bool{}
	for len(seen) < 1000 {
		f := c.Expect(pusher.EventSubscriptionSucceeded)
		seen[f["channel"]] = true
	}
	c.Send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	c.Expect(pusher.EventPong)
	b.api.Trigger("dash-999", "last", "1", nil)
	c.Expect("last")
}

// Hole 4: a signin followed at once by a disconnect, at any timing, ends
// with the user gone: the watchlist says offline, a new watcher's snapshot
// is empty, and the heap is back where it was.
func TestSigninThenDropLeavesNoGhost(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { ac.Apps[0].Watchlist = true })
	users := make([]string, 50)
	for i := range users {
		users[i] = fmt.Sprintf("g%d", i)
	}
	watcher := b.connect()
	watcher.Signin("watcher", users)

	// A cycle keeps nothing of its client, so the heap measures the broker.
	cycle := func(user string) {
		c := &rawClient{first: make(chan string, 1), gate: make(chan struct{}), closed: make(chan uint16, 1)}
		close(c.gate)
		conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: b.ws + "/app/" + testKey})
		if err != nil {
			t.Error(err)
			return
		}
		go conn.ReadLoop() // ends when the socket is closed below
		socketID := <-c.first
		ud := `{"id":"` + user + `"}`
		msg, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]string{
			"auth": pusher.UserAuth(testKey, testSecret, socketID, ud), "user_data": ud}})
		_ = conn.WriteMessage(gws.OpcodeText, msg)
		_ = conn.NetConn().Close() // no close frame, no wait: gone
		<-c.closed
	}
	run := func(n int) {
		var wg sync.WaitGroup
		for w := 0; w < 10; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += 10 {
					cycle(users[i%len(users)])
				}
			}(w)
		}
		wg.Wait()
	}
	run(100) // warm up pools and maps
	time.Sleep(300 * time.Millisecond)
	before := heapMB()
	run(500)

	// Every user that came online went offline again.
	online := map[string]int{}
	quiet := time.Now()
	for time.Since(quiet) < 500*time.Millisecond {
		select {
		case f := <-watcher.Frames():
			var d struct {
				Events []struct {
					Name    string   `json:"name"`
					UserIDs []string `json:"user_ids"`
				} `json:"events"`
			}
			watcher.DataJSON(f, &d)
			for _, e := range d.Events {
				for _, u := range e.UserIDs {
					if e.Name == "online" {
						online[u]++
					} else {
						online[u]--
					}
				}
			}
			quiet = time.Now()
		case <-time.After(100 * time.Millisecond):
		}
	}
	for u, n := range online {
		if n != 0 {
			t.Errorf("user %s: %d more online than offline events", u, n)
		}
	}
	// A new watcher's snapshot names nobody: the index holds no ghost.
	fresh := b.connect()
	fresh.Signin("fresh", users)
	select {
	case f := <-fresh.Frames():
		t.Fatalf("snapshot of ghosts: %v", f)
	case <-time.After(300 * time.Millisecond):
	}
	grown := heapMB() - before
	t.Logf("600 signin-then-drop cycles; heap after the last 500: %+.2f MiB", grown)
	if grown > 1 {
		t.Fatalf("heap grew %.2f MiB over 500 cycles", grown)
	}
}

// Hole 5a: an app over max_connections refuses with pusher:error 4004 and
// close 4004; a place freed is a place to take.
func TestAppConnectionQuota(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) { ac.Apps[0].MaxConnections = 2 })
	first := b.connect()
	b.connect()
	over := b.dial("/app/" + testKey + "?protocol=7")
	if f := over.Expect(pusher.EventError); !strings.Contains(fmt.Sprint(f["data"]), "4004") {
		t.Fatalf("error frame %v", f)
	}
	if e := over.WaitClose(); e.Code != 4004 {
		t.Fatalf("closed with %d, want 4004", e.Code)
	}
	_ = first.Conn.WriteClose(1000, nil)
	waitFor(t, func() bool {
		c := pushertest.Dial(t, b.ws+"/app/"+testKey)
		f := c.Next()
		return f["event"] == pusher.EventConnectionEstablished
	})
}

// upgrade tries a WebSocket handshake from local address from (nil: any)
// with origin (empty: none) and returns the status and the body.
func upgrade(t *testing.T, wsURL, from, origin string) (int, string) {
	t.Helper()
	d := &net.Dialer{Timeout: 2 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, strings.Replace(wsURL, "ws://", "http://", 1)+"/app/"+testKey+"?protocol=7", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection: it stays open (and
		// counted) until the test ends.
		t.Cleanup(func() { _ = res.Body.Close() })
		return res.StatusCode, ""
	}
	defer res.Body.Close()
	var body strings.Builder
	_, _ = fmt.Fprint(&body, res.Header.Get("Content-Type"), " ")
	buf := make([]byte, 512)
	n, _ := res.Body.Read(buf)
	body.Write(buf[:n])
	return res.StatusCode, body.String()
}

// Hole 5b: per-IP and process caps refuse upgrades with 503 and a JSON
// body; other IPs, the API and /healthz keep working.
func TestConnectionCaps(t *testing.T) {
	b := startBroker(t, func(_ *actors.Config, tc *transport.Config) {
		tc.Limits.MaxConnectionsPerIP = 3
		tc.Limits.MaxConnections = 5
	})
	for i := 0; i < 3; i++ {
		b.connect()
	}
	code, body := upgrade(t, b.ws, "127.0.0.1", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "application/json") || !strings.Contains(body, "max_connections_per_ip") {
		t.Fatalf("4th from one IP: %d %s", code, body)
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		if code, body := upgrade(t, b.ws, ip, ""); code != http.StatusSwitchingProtocols {
			t.Fatalf("from %s: %d %s", ip, code, body)
		}
	}
	code, body = upgrade(t, b.ws, "127.0.0.4", "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `max_connections`) {
		t.Fatalf("6th in the process: %d %s", code, body)
	}
	res, err := http.Get(b.api.Base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	_ = res.Body.Close()
	if code, _ := b.api.Call("GET", "/apps/"+testID+"/channels", nil, nil); code != 200 {
		t.Fatalf("API: %d", code)
	}
}

// Hole 5c: the API's per-app rates answer 429 with a JSON body.
func TestAPIQuotas(t *testing.T) {
	b := startBroker(t, func(ac *actors.Config, _ *transport.Config) {
		ac.Apps[0].MaxBackendEventsPerSecond = 5
		ac.Apps[0].MaxReadRequestsPerSecond = 3
	})
	body := map[string]any{"name": "e", "data": "1", "channels": []string{"a", "b", "c"}}
	codes := []int{}
	var last map[string]any
	for i := 0; i < 4; i++ {
		code, res := b.api.Call("POST", "/apps/"+testID+"/events", nil, body)
		codes = append(codes, code)
		last = res
	}
	// 5 a second: 3 events pass, 3 more pass into debt, then 429.
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || !strings.Contains(fmt.Sprint(last["error"]), "max_backend_events_per_second") {
		t.Fatalf("events: %v %v", codes, last)
	}
	codes = codes[:0]
	for i := 0; i < 4; i++ {
		code, res := b.api.Call("GET", "/apps/"+testID+"/channels", nil, nil)
		codes = append(codes, code)
		last = res
	}
	if codes[2] != 200 || codes[3] != 429 || last["code"] != float64(429) {
		t.Fatalf("reads: %v %v", codes, last)
	}
	// The other app has no quota.
	other := b.api
	other.Key, other.Secret, other.ID = "quiet-key", "quiet-secret", "any"
	for i := 0; i < 10; i++ {
		if code, _ := other.Call("GET", "/apps/any/channels", url.Values{}, nil); code != 200 {
			t.Fatalf("unlimited app: %d", code)
		}
	}
}

// Hole 6: allowed_origins refuses a browser from elsewhere (403) and lets
// clients without an Origin in (server SDKs, pusher-js under Node).
func TestAllowedOrigins(t *testing.T) {
	b := startBroker(t, func(_ *actors.Config, tc *transport.Config) {
		tc.Limits.AllowedOrigins = []string{"https://app.example"}
	})
	if code, body := upgrade(t, b.ws, "", "https://evil.example"); code != http.StatusForbidden || !strings.Contains(body, "origin") {
		t.Fatalf("foreign origin: %d %s", code, body)
	}
	if code, body := upgrade(t, b.ws, "", "https://app.example"); code != http.StatusSwitchingProtocols {
		t.Fatalf("listed origin: %d %s", code, body)
	}
	if code, body := upgrade(t, b.ws, "", ""); code != http.StatusSwitchingProtocols {
		t.Fatalf("no origin: %d %s", code, body)
	}
	b.connect() // the raw test client sends no Origin either
}

// Hole 7a: a panic in a gws callback costs that socket (4200) only.
func TestCallbackPanicCostsOneSocket(t *testing.T) {
	b := startBroker(t)
	transport.SetCallbackHook(b.srv, func(cb string) {
		if cb == "OnPing" {
			panic("injected")
		}
	})
	good := b.connect()
	good.Subscribe("steady")
	bad := b.connect()
	if err := bad.Conn.WritePing(nil); err != nil {
		t.Fatal(err)
	}
	if e := bad.WaitClose(); e.Code != uint16(pusher.CloseReconnect) {
		t.Fatalf("panicking socket closed with %d, want 4200", e.Code)
	}
	b.api.Trigger("steady", "ok", "1", nil)
	good.Expect("ok")
	again := b.connect()
	again.Subscribe("steady")
}

// Hole 7b: a client that stops reading is closed with 4100, which it sees
// when it reads again; a slow client that keeps reading on the same
// channel receives every event.
func TestStalledReaderToldAndSlowReaderServed(t *testing.T) {
	var cut atomic.Bool
	b := startBroker(t, func(_ *actors.Config, tc *transport.Config) {
		tc.Logger = logTap(func(msg string) {
			if strings.Contains(msg, "4100") {
				cut.Store(true)
			}
		})
	})
	slow := b.connect()
	slow.Subscribe("stream")
	stalled := dialRaw(t, b.ws+"/app/"+testKey)
	if err := stalled.conn.WriteMessage(gws.OpcodeText, []byte(`{"event":"pusher:subscribe","data":{"channel":"stream"}}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, res := b.api.Call("GET", "/apps/"+testID+"/channels/stream", url.Values{"info": {"subscription_count"}}, nil)
		return res["subscription_count"] == float64(2)
	})

	data := strings.Repeat("x", 5000)
	var got atomic.Int64
	done := make(chan struct{})
	defer close(done)
	go func() { // the slow reader: reads every frame, pausing 1 ms every 4; ends with the test
		for n := 0; ; n++ {
			var f map[string]any
			select {
			case f = <-slow.Frames():
			case <-done:
				return
			}
			if f["event"] == "e" {
				got.Add(1)
			}
			if n%4 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	published := 0
	for ; published < 3000 && !cut.Load(); published += 10 {
		batch := make([]map[string]any, 10)
		for i := range batch {
			batch[i] = map[string]any{"channel": "stream", "name": "e", "data": data}
		}
		if code, res := b.api.Call("POST", "/apps/"+testID+"/batch_events", nil, map[string]any{"batch": batch}); code != 200 {
			t.Fatalf("batch: %d %v", code, res)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !cut.Load() {
		t.Fatal("the stalled reader was never cut")
	}
	stalled.read()
	if code := stalled.waitClose(t, 5*time.Second); code != uint16(pusher.CloseOverCapacity) {
		t.Fatalf("stalled reader closed with %d, want 4100", code)
	}
	waitFor(t, func() bool { return got.Load() == int64(published) })
	t.Logf("%d events of 5 KB; the slow reader got them all, the stalled one was told 4100", published)
}

// logTap is a logger that hands every message (with its attributes) to fn.
func logTap(fn func(msg string)) *slog.Logger { return slog.New(tapHandler{fn}) }

type tapHandler struct{ fn func(string) }

func (h tapHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h tapHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	h.fn(b.String())
	return nil
}
func (h tapHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h tapHandler) WithGroup(string) slog.Handler      { return h }

// observerFunc is an actors.Observer made of a function.
type observerFunc func(*actors.Observation)

func (f observerFunc) Observe(o *actors.Observation) { f(o) }
