// Package pushertest holds test helpers that speak the Pusher protocol to
// a real broker over loopback: a raw WebSocket client that records every
// frame, and a signed HTTP API caller. Tests of transport/, the root
// package and e2e/ share it.
package pushertest

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-push/herald/pusher"
	"github.com/lxzan/gws"
)

// Wait bounds every wait of the helpers.
const Wait = 5 * time.Second

// Client is a raw WebSocket client that records every frame it receives.
type Client struct {
	T        testing.TB
	Conn     *gws.Conn
	SocketID string
	Key      string
	Secret   string
	// Wait bounds the helpers' waits for a frame (0: the package's Wait).
	Wait   time.Duration
	frames chan map[string]any
	closed chan *gws.CloseError
	// What arrived: data frames, and their bytes on the wire (header
	// included; a server's frames are not masked).
	received, receivedBytes atomic.Int64
	gws.BuiltinEventHandler
}

// Received returns the data frames received so far and their size on the
// wire, WebSocket headers included.
func (c *Client) Received() (frames, bytes int) {
	return int(c.received.Load()), int(c.receivedBytes.Load())
}

// OnMessage records a frame.
func (c *Client) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	n := m.Data.Len()
	head := 2
	switch {
	case n > 0xFFFF:
		head = 10
	case n >= 126:
		head = 4
	}
	c.received.Add(1)
	c.receivedBytes.Add(int64(head + n))
	var f map[string]any
	if err := json.Unmarshal(m.Bytes(), &f); err != nil {
		c.T.Errorf("server sent invalid JSON %q", m.Bytes())
		return
	}
	c.frames <- f
}

// OnClose records the close.
func (c *Client) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	if !errors.As(err, &ce) {
		ce = &gws.CloseError{Code: 1006, Reason: []byte(fmt.Sprint(err))}
	}
	c.closed <- ce
}

// Dial opens url ("ws://host:port/app/key?protocol=7") without waiting for
// the handshake. The socket is closed when the test ends.
func Dial(t testing.TB, url string) *Client {
	t.Helper()
	return DialTLS(t, url, nil)
}

// DialTLS is Dial with tc for a wss:// url (nil: the system's roots).
func DialTLS(t testing.TB, url string, tc *tls.Config) *Client {
	t.Helper()
	c := &Client{T: t, frames: make(chan map[string]any, 1024), closed: make(chan *gws.CloseError, 1)}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: url, TlsConfig: tc})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.Conn = conn
	go conn.ReadLoop() // ends when the socket closes, at the latest in Cleanup
	t.Cleanup(func() { _ = conn.WriteClose(1000, nil) })
	return c
}

// Connect dials base ("ws://host:port") for the app key and reads
// connection_established; key and secret sign its subscriptions.
func Connect(t testing.TB, base, key, secret string) *Client {
	t.Helper()
	return ConnectTLS(t, base, key, secret, nil)
}

// ConnectTLS is Connect with tc for a wss:// base (nil: the system's roots).
func ConnectTLS(t testing.TB, base, key, secret string, tc *tls.Config) *Client {
	t.Helper()
	c := DialTLS(t, base+"/app/"+key+"?protocol=7&client=js&version=8.4.0", tc)
	c.Key, c.Secret = key, secret
	var d struct {
		SocketID string `json:"socket_id"`
	}
	c.DataJSON(c.Expect(pusher.EventConnectionEstablished), &d)
	c.SocketID = d.SocketID
	return c
}

// Send writes v as JSON.
func (c *Client) Send(v any) {
	c.T.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.T.Fatal(err)
	}
	c.SendRaw(b)
}

// SendRaw writes b as a text frame.
func (c *Client) SendRaw(b []byte) {
	c.T.Helper()
	if err := c.Conn.WriteMessage(gws.OpcodeText, b); err != nil {
		c.T.Fatalf("write: %v", err)
	}
}

// Next returns the next frame.
func (c *Client) Next() map[string]any {
	c.T.Helper()
	wait := c.Wait
	if wait == 0 {
		wait = Wait
	}
	select {
	case f := <-c.frames:
		return f
	case <-time.After(wait):
		c.T.Fatalf("no frame within %s", wait)
	}
	return nil
}

// Expect returns the next frame and checks its event.
func (c *Client) Expect(event string) map[string]any {
	c.T.Helper()
	f := c.Next()
	if f["event"] != event {
		c.T.Fatalf("got %v, want event %s", f, event)
	}
	return f
}

// Quiet checks that no frame arrives for d.
func (c *Client) Quiet(d time.Duration) {
	c.T.Helper()
	select {
	case f := <-c.frames:
		c.T.Fatalf("unexpected frame %v", f)
	case <-time.After(d):
	}
}

// DataJSON decodes a frame's data, which must be a JSON string.
func (c *Client) DataJSON(f map[string]any, v any) {
	c.T.Helper()
	s, ok := f["data"].(string)
	if !ok {
		c.T.Fatalf("data of %v is not a JSON string", f)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		c.T.Fatalf("data %q: %v", s, err)
	}
}

// Closed is the channel the server's close arrives on (once).
func (c *Client) Closed() <-chan *gws.CloseError { return c.closed }

// Frames is the channel of received frames, for a test that waits for
// frames in a select or in another goroutine.
func (c *Client) Frames() <-chan map[string]any { return c.frames }

// Signin signs in as userID with a watchlist (may be nil) and waits for
// pusher:signin_success.
func (c *Client) Signin(userID string, watchlist []string) {
	c.T.Helper()
	ud := map[string]any{"id": userID}
	if watchlist != nil {
		ud["watchlist"] = watchlist
	}
	b, _ := json.Marshal(ud)
	c.Send(map[string]any{"event": pusher.EventSignin, "data": map[string]string{
		"auth": pusher.UserAuth(c.Key, c.Secret, c.SocketID, string(b)), "user_data": string(b)}})
	c.Expect(pusher.EventSigninSuccess)
}

// WaitClose returns the close the server sent.
func (c *Client) WaitClose() *gws.CloseError {
	c.T.Helper()
	select {
	case e := <-c.closed:
		return e
	case <-time.After(Wait):
		c.T.Fatalf("socket not closed within %s", Wait)
	}
	return nil
}

// Subscribe subscribes (signing private channels) and waits for success.
func (c *Client) Subscribe(channel string) {
	c.T.Helper()
	data := map[string]string{"channel": channel}
	if pusher.Kind(channel).NeedsAuth() {
		data["auth"] = pusher.ChannelAuth(c.Key, c.Secret, c.SocketID, channel, "")
	}
	c.Send(map[string]any{"event": pusher.EventSubscribe, "data": data})
	if f := c.Expect(pusher.EventSubscriptionSucceeded); f["channel"] != channel {
		c.T.Fatalf("subscription_succeeded for %v, want %s", f["channel"], channel)
	}
}

// SubscribeRecover subscribes to a public channel asking to recover
// from (Herald's channel history, docs/recovery.md; nil: a plain
// subscribe) and returns the subscription_succeeded frame.
func (c *Client) SubscribeRecover(channel string, from *pusher.Position) map[string]any {
	c.T.Helper()
	data := map[string]any{"channel": channel}
	if from != nil {
		data["recover"] = from
	}
	c.Send(map[string]any{"event": pusher.EventSubscribe, "data": data})
	f := c.Expect(pusher.EventSubscriptionSucceeded)
	if f["channel"] != channel {
		c.T.Fatalf("subscription_succeeded for %v, want %s", f["channel"], channel)
	}
	return f
}

// SubscribePresence joins a presence channel as userID and returns the
// subscription_succeeded frame.
func (c *Client) SubscribePresence(channel, userID string, info any) map[string]any {
	c.T.Helper()
	cd, _ := json.Marshal(map[string]any{"user_id": userID, "user_info": info})
	c.Send(map[string]any{"event": pusher.EventSubscribe, "data": map[string]string{
		"channel": channel, "channel_data": string(cd),
		"auth": pusher.ChannelAuth(c.Key, c.Secret, c.SocketID, channel, string(cd)),
	}})
	return c.Expect(pusher.EventSubscriptionSucceeded)
}

// Unsubscribe leaves channel.
func (c *Client) Unsubscribe(channel string) {
	c.Send(map[string]any{"event": pusher.EventUnsubscribe, "data": map[string]string{"channel": channel}})
}

// API calls a broker's HTTP API, signed like Pusher's SDKs.
type API struct {
	T               testing.TB
	Base            string // http://host:port or https://host:port
	ID, Key, Secret string
	Client          *http.Client // nil: http.DefaultClient
}

// Call makes a signed request (body: nil, []byte or a value to marshal)
// and decodes the JSON object it answers.
func (a API) Call(method, path string, query map[string][]string, body any) (int, map[string]any) {
	a.T.Helper()
	var raw []byte
	switch v := body.(type) {
	case nil:
	case []byte:
		raw = v
	default:
		raw, _ = json.Marshal(v)
	}
	q := pusher.SignREST(a.Key, a.Secret, method, path, query, raw, time.Now())
	return a.RawCall(method, path+"?"+q.Encode(), raw)
}

// RawCall makes an unsigned request.
func (a API) RawCall(method, pathQuery string, raw []byte) (int, map[string]any) {
	a.T.Helper()
	req, err := http.NewRequest(method, a.Base+pathQuery, strings.NewReader(string(raw)))
	if err != nil {
		a.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		a.T.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		a.T.Fatalf("%s %s: content type %q, body %s", method, pathQuery, ct, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		a.T.Fatalf("%s %s: body %q is not a JSON object", method, pathQuery, data)
	}
	return res.StatusCode, out
}

// Trigger publishes one event and fails the test unless it is accepted.
func (a API) Trigger(channel, event, data string, extra map[string]any) {
	a.T.Helper()
	body := map[string]any{"name": event, "data": data, "channels": []string{channel}}
	for k, v := range extra {
		body[k] = v
	}
	if code, res := a.Call("POST", "/apps/"+a.ID+"/events", nil, body); code != 200 {
		a.T.Fatalf("trigger: %d %v", code, res)
	}
}
