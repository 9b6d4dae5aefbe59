package transport_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/pusher"
)

func TestTriggerExcludesSocketAndAcceptsSingleChannel(t *testing.T) {
	b := startBroker(t)
	a, o := b.connect(), b.connect()
	a.Subscribe("room")
	o.Subscribe("room")
	code, res := b.api.Call("POST", "/apps/"+testID+"/events", nil, map[string]any{
		"name": "said", "data": "x", "channel": "room", "socket_id": a.SocketID})
	if code != 200 || len(res) != 0 {
		t.Fatalf("%d %v", code, res)
	}
	o.Expect("said")
	a.Quiet(200 * time.Millisecond)
}

func TestTriggerInfo(t *testing.T) {
	b := startBroker(t)
	b.connect().SubscribePresence("presence-a", "u1", nil)
	b.connect().Subscribe("public-a")
	code, res := b.api.Call("POST", "/apps/"+testID+"/events", nil, map[string]any{
		"name": "e", "data": "{}", "channels": []string{"presence-a", "public-a", "empty"},
		"info": "user_count,subscription_count"})
	if code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	ch := res["channels"].(map[string]any)
	if p := ch["presence-a"].(map[string]any); p["user_count"] != float64(1) || p["subscription_count"] != float64(1) {
		t.Fatalf("presence-a %v", p)
	}
	if p := ch["public-a"].(map[string]any); p["subscription_count"] != float64(1) || p["user_count"] != nil {
		t.Fatalf("public-a %v", p)
	}
	if p := ch["empty"].(map[string]any); p["subscription_count"] != float64(0) {
		t.Fatalf("empty %v", p)
	}
}

func TestBatchEvents(t *testing.T) {
	b := startBroker(t)
	c := b.connect()
	c.Subscribe("b1")
	c.Subscribe("b2")
	batch := []map[string]any{
		{"channel": "b1", "name": "one", "data": "1"},
		{"channel": "b2", "name": "two", "data": "2", "info": "subscription_count"},
	}
	code, res := b.api.Call("POST", "/apps/"+testID+"/batch_events", nil, map[string]any{"batch": batch})
	if code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	items := res["batch"].([]any)
	if len(items) != 2 || len(items[0].(map[string]any)) != 0 || items[1].(map[string]any)["subscription_count"] != float64(1) {
		t.Fatalf("batch answer %v", res)
	}
	// Order across channels is not guaranteed (as on Pusher): each
	// channel is its own actor.
	got := map[string]any{}
	for i := 0; i < 2; i++ {
		f := c.Next()
		got[f["event"].(string)] = f["channel"]
	}
	if got["one"] != "b1" || got["two"] != "b2" {
		t.Fatalf("delivered %v", got)
	}

	var eleven []map[string]any
	for i := 0; i < 11; i++ {
		eleven = append(eleven, map[string]any{"channel": "b1", "name": "n", "data": "x"})
	}
	if code, res := b.api.Call("POST", "/apps/"+testID+"/batch_events", nil, map[string]any{"batch": eleven}); code != 400 || res["error"] == nil {
		t.Fatalf("11 events: %d %v", code, res)
	}
}

func TestChannelQueries(t *testing.T) {
	b := startBroker(t)
	b.connect().SubscribePresence("presence-lobby", "u1", nil)
	b.connect().SubscribePresence("presence-lobby", "u2", nil)
	b.connect().Subscribe("news")

	code, res := b.api.Call("GET", "/apps/"+testID+"/channels", nil, nil)
	ch := res["channels"].(map[string]any)
	if code != 200 || len(ch) != 2 || len(ch["news"].(map[string]any)) != 0 {
		t.Fatalf("%d %v", code, res)
	}
	code, res = b.api.Call("GET", "/apps/"+testID+"/channels", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}, nil)
	ch = res["channels"].(map[string]any)
	if code != 200 || len(ch) != 1 || ch["presence-lobby"].(map[string]any)["user_count"] != float64(2) {
		t.Fatalf("%d %v", code, res)
	}
	if code, _ := b.api.Call("GET", "/apps/"+testID+"/channels", url.Values{"info": {"user_count"}}, nil); code != 400 {
		t.Fatalf("user_count without presence- prefix: %d", code)
	}
	code, res = b.api.Call("GET", "/apps/"+testID+"/channels/nobody-here", url.Values{"info": {"subscription_count"}}, nil)
	if code != 200 || res["occupied"] != false {
		t.Fatalf("%d %v", code, res)
	}
	if code, _ := b.api.Call("GET", "/apps/"+testID+"/channels/news/users", nil, nil); code != 400 {
		t.Fatalf("users of a public channel: %d", code)
	}
	code, res = b.api.Call("GET", "/apps/"+testID+"/channels/presence-empty/users", nil, nil)
	if code != 200 || len(res["users"].([]any)) != 0 {
		t.Fatalf("%d %v", code, res)
	}
}

func TestAPIErrors(t *testing.T) {
	b := startBroker(t)
	events := "/apps/" + testID + "/events"
	ok := map[string]any{"name": "e", "data": "d", "channels": []string{"c"}}
	var many []string
	for i := 0; i < 101; i++ {
		many = append(many, "c"+strconv.Itoa(i))
	}
	cases := []struct {
		name   string
		status int
		do     func() (int, map[string]any)
	}{
		{"data over 10KB", 413, func() (int, map[string]any) {
			return b.api.Call("POST", events, nil, map[string]any{"name": "e", "data": strings.Repeat("x", 10*1024+1), "channels": []string{"c"}})
		}},
		{"101 channels", 400, func() (int, map[string]any) {
			return b.api.Call("POST", events, nil, map[string]any{"name": "e", "data": "d", "channels": many})
		}},
		{"no channels", 400, func() (int, map[string]any) {
			return b.api.Call("POST", events, nil, map[string]any{"name": "e", "data": "d"})
		}},
		{"bad channel name", 400, func() (int, map[string]any) {
			return b.api.Call("POST", events, nil, map[string]any{"name": "e", "data": "d", "channels": []string{"a b"}})
		}},
		{"bad socket_id", 400, func() (int, map[string]any) {
			return b.api.Call("POST", events, nil, map[string]any{"name": "e", "data": "d", "channels": []string{"c"}, "socket_id": "x"})
		}},
		{"bad JSON", 400, func() (int, map[string]any) { return b.api.Call("POST", events, nil, []byte(`{"name":`)) }},
		{"wrong app id", 404, func() (int, map[string]any) { return b.api.Call("POST", "/apps/other/events", nil, ok) }},
		{"GET on events", 405, func() (int, map[string]any) { return b.api.Call("GET", events, nil, nil) }},
		{"unknown route", 404, func() (int, map[string]any) { return b.api.Call("GET", "/apps/"+testID+"/nothing", nil, nil) }},
		{"bad signature", 401, func() (int, map[string]any) {
			body, _ := json.Marshal(ok)
			q := pusher.SignREST(testKey, "wrong-secret", "POST", events, nil, body, time.Now())
			return b.api.RawCall("POST", events+"?"+q.Encode(), body)
		}},
		{"unknown key", 401, func() (int, map[string]any) {
			body, _ := json.Marshal(ok)
			q := pusher.SignREST("who", testSecret, "POST", events, nil, body, time.Now())
			return b.api.RawCall("POST", events+"?"+q.Encode(), body)
		}},
		{"old timestamp", 401, func() (int, map[string]any) {
			body, _ := json.Marshal(ok)
			q := pusher.SignREST(testKey, testSecret, "POST", events, nil, body, time.Now().Add(-11*time.Minute))
			return b.api.RawCall("POST", events+"?"+q.Encode(), body)
		}},
		{"body swapped after signing", 401, func() (int, map[string]any) {
			body, _ := json.Marshal(ok)
			q := pusher.SignREST(testKey, testSecret, "POST", events, nil, body, time.Now())
			return b.api.RawCall("POST", events+"?"+q.Encode(), []byte(`{"name":"evil","data":"d","channels":["c"]}`))
		}},
		{"no auth at all", 401, func() (int, map[string]any) { return b.api.RawCall("POST", events, []byte(`{}`)) }},
	}
	for _, tc := range cases {
		code, res := tc.do()
		msg, _ := res["error"].(string)
		if code != tc.status || msg == "" || res["code"] != float64(tc.status) {
			t.Errorf("%s: %d %v, want %d with an error message", tc.name, code, res, tc.status)
		}
		if strings.Contains(msg, testSecret) || strings.Contains(msg, "auth_signature=") {
			t.Errorf("%s: error reveals a secret: %q", tc.name, msg)
		}
	}
}

// webman's PHP SDK signs without auth_version, always uses /apps/1024 and
// sends channels as a list: an app without an id accepts it.
func TestWebmanPHPSignatureAccepted(t *testing.T) {
	b := startBroker(t)
	c := b.dial("/app/quiet-key")
	c.Expect(pusher.EventConnectionEstablished)
	c.Send(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": "user-9"}})
	c.Expect(pusher.EventSubscriptionSucceeded)

	body := []byte(`{"name":"message","data":"{\"a\":1}","channels":["user-9"]}`)
	path := "/apps/1024/events"
	q := url.Values{"auth_key": {"quiet-key"}, "auth_timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "body_md5": {pusher.BodyMD5(body)}}
	q.Set("auth_signature", sign("quiet-secret", "POST\n"+path+"\n"+fmt.Sprintf("auth_key=%s&auth_timestamp=%s&body_md5=%s", q.Get("auth_key"), q.Get("auth_timestamp"), q.Get("body_md5"))))
	if code, res := b.api.RawCall("POST", path+"?"+q.Encode(), body); code != 200 {
		t.Fatalf("%d %v", code, res)
	}
	if f := c.Expect("message"); f["data"] != `{"a":1}` {
		t.Fatal(f)
	}
}

func TestHealthz(t *testing.T) {
	b := startBroker(t)
	res, err := http.Get(b.api.Base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz %d", res.StatusCode)
	}
}
