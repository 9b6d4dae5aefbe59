package transport_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
	"github.com/lxzan/gws"
)

const (
	testKey    = "app-key"
	testSecret = "app-secret"
	testID     = "app-id"
)

// broker is a real broker on 127.0.0.1:0: actors plus both listeners.
type broker struct {
	t   *testing.T
	srv *transport.Server
	ws  string // ws://host:port
	api string // http://host:port
}

type brokerOpt func(*actors.Config, *transport.Config)

func startBroker(t *testing.T, opts ...brokerOpt) *broker {
	t.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	ac := actors.Config{
		Apps: []actors.AppConfig{
			{ID: testID, Key: testKey, Secret: testSecret, ClientEvents: true},
			{Key: "quiet-key", Secret: "quiet-secret"},
		},
		Fanout: transport.Broadcaster{},
	}
	tc := transport.Config{WebSocketListen: "127.0.0.1:0", APIListen: "127.0.0.1:0"}
	for _, o := range opts {
		o(&ac, &tc)
	}
	b, err := actors.Start(system, ac)
	if err != nil {
		t.Fatal(err)
	}
	srv := transport.New(b, tc)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = b.Stop(ctx)
		system.Shutdown()
	})
	return &broker{t: t, srv: srv, ws: "ws://" + srv.WebSocketAddr().String(), api: "http://" + srv.APIAddr().String()}
}

// client is a raw WebSocket client that records every frame it receives.
type client struct {
	t        *testing.T
	conn     *gws.Conn
	frames   chan map[string]any
	closed   chan *gws.CloseError
	socketID string
	gws.BuiltinEventHandler
}

func (c *client) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	var f map[string]any
	if err := json.Unmarshal(m.Bytes(), &f); err != nil {
		c.t.Errorf("server sent invalid JSON %q", m.Bytes())
		return
	}
	c.frames <- f
}

func (c *client) OnClose(_ *gws.Conn, err error) {
	var ce *gws.CloseError
	if !errors.As(err, &ce) {
		ce = &gws.CloseError{Code: 1006, Reason: []byte(fmt.Sprint(err))}
	}
	c.closed <- ce
}

// dial connects to path ("/app/app-key?protocol=7") without waiting for the handshake.
func (b *broker) dial(path string) *client {
	b.t.Helper()
	c := &client{t: b.t, frames: make(chan map[string]any, 256), closed: make(chan *gws.CloseError, 1)}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: b.ws + path})
	if err != nil {
		b.t.Fatalf("dial %s: %v", path, err)
	}
	c.conn = conn
	go conn.ReadLoop()
	b.t.Cleanup(func() { _ = conn.WriteClose(1000, nil) })
	return c
}

// connect dials the test app and reads connection_established.
func (b *broker) connect() *client {
	b.t.Helper()
	c := b.dial("/app/" + testKey + "?protocol=7&client=js&version=8.4.0")
	f := c.expect(pusher.EventConnectionEstablished)
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	c.dataJSON(f, &d)
	c.socketID = d.SocketID
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	if err := c.conn.WriteMessage(gws.OpcodeText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame, failing after 5 s.
func (c *client) next() map[string]any {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(5 * time.Second):
		c.t.Fatal("no frame within 5s")
	}
	return nil
}

// expect returns the next frame and checks its event.
func (c *client) expect(event string) map[string]any {
	c.t.Helper()
	f := c.next()
	if f["event"] != event {
		c.t.Fatalf("got %v, want event %s", f, event)
	}
	return f
}

// quiet checks that no frame arrives for d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %v", f)
	case <-time.After(d):
	}
}

// dataJSON decodes a frame's data, which must be a JSON string.
func (c *client) dataJSON(f map[string]any, v any) {
	c.t.Helper()
	s, ok := f["data"].(string)
	if !ok {
		c.t.Fatalf("data of %v is not a JSON string", f)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		c.t.Fatalf("data %q: %v", s, err)
	}
}

func (c *client) waitClose() *gws.CloseError {
	c.t.Helper()
	select {
	case e := <-c.closed:
		return e
	case <-time.After(5 * time.Second):
		c.t.Fatal("socket not closed within 5s")
	}
	return nil
}

func sign(secret, s string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

func (c *client) subscribe(channel string) {
	c.t.Helper()
	data := map[string]string{"channel": channel}
	if pusher.Kind(channel).NeedsAuth() {
		data["auth"] = testKey + ":" + sign(testSecret, c.socketID+":"+channel)
	}
	c.send(map[string]any{"event": "pusher:subscribe", "data": data})
	f := c.expect(pusher.EventSubscriptionSucceeded)
	if f["channel"] != channel {
		c.t.Fatalf("subscription_succeeded for %v, want %s", f["channel"], channel)
	}
}

func (c *client) subscribePresence(channel, userID string, info any) map[string]any {
	c.t.Helper()
	cd, _ := json.Marshal(map[string]any{"user_id": userID, "user_info": info})
	c.send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
		"channel": channel, "channel_data": string(cd),
		"auth": testKey + ":" + sign(testSecret, c.socketID+":"+channel+":"+string(cd)),
	}})
	return c.expect(pusher.EventSubscriptionSucceeded)
}

// call makes a signed API request and decodes the JSON answer.
func (b *broker) call(method, path string, query url.Values, body any) (int, map[string]any) {
	b.t.Helper()
	var raw []byte
	if body != nil {
		switch v := body.(type) {
		case []byte:
			raw = v
		default:
			raw, _ = json.Marshal(v)
		}
	}
	q := pusher.SignREST(testKey, testSecret, method, path, query, raw, time.Now())
	return b.rawCall(method, path+"?"+q.Encode(), raw)
}

func (b *broker) rawCall(method, pathQuery string, raw []byte) (int, map[string]any) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.api+pathQuery, strings.NewReader(string(raw)))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		b.t.Fatalf("%s %s: content type %q, body %s", method, pathQuery, ct, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		b.t.Fatalf("%s %s: body %q is not a JSON object", method, pathQuery, data)
	}
	return res.StatusCode, out
}

func (b *broker) trigger(channel, event, data string, extra map[string]any) {
	b.t.Helper()
	body := map[string]any{"name": event, "data": data, "channels": []string{channel}}
	for k, v := range extra {
		body[k] = v
	}
	if code, res := b.call("POST", "/apps/"+testID+"/events", nil, body); code != 200 {
		b.t.Fatalf("trigger: %d %v", code, res)
	}
}

var _ sync.Mutex
