package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-push/herald/pusher"
)

func TestEventJSON(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Name: EventChannelOccupied, Channel: "c", UserID: "ignored"}, `{"name":"channel_occupied","channel":"c"}`},
		{Event{Name: EventMemberRemoved, Channel: "presence-c", UserID: "u"}, `{"name":"member_removed","channel":"presence-c","user_id":"u"}`},
		{Event{Name: EventClientEvent, Channel: "private-c", Event: "client-x", SocketID: "1.2"},
			`{"name":"client_event","channel":"private-c","event":"client-x","data":"","socket_id":"1.2"}`},
		{Event{Name: EventClientEvent, Channel: "presence-c", Event: "client-x", Data: "d", SocketID: "1.2", UserID: "u"},
			`{"name":"client_event","channel":"presence-c","user_id":"u","event":"client-x","data":"d","socket_id":"1.2"}`},
		{Event{Name: EventSubscriptionCount, Channel: "c"}, `{"name":"subscription_count","channel":"c","subscription_count":0}`},
		{Event{Name: EventCacheMiss, Channel: "cache-c"}, `{"name":"cache_miss","channel":"cache-c"}`},
		{Event{Name: EventUserAdded, Channel: "presence-c", UserID: "u"}, `{"name":"user_added","channel":"presence-c","user_id":"u"}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.ev)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: got %s, %v\nwant %s", tt.ev.Name, got, err, tt.want)
		}
	}
}

func TestWebmanNames(t *testing.T) {
	for from, want := range webmanNames {
		got, ok := Event{Name: from, Channel: "c", UserID: "u", Data: "x"}.inFormat(FormatWebman)
		if !ok || got.Name != want || got.Data != "" {
			t.Errorf("%s → %+v, %v", from, got, ok)
		}
	}
	for _, n := range []string{EventClientEvent, EventCacheMiss, EventSubscriptionCount} {
		if _, ok := (Event{Name: n}).inFormat(FormatWebman); ok {
			t.Errorf("%s has no webman form", n)
		}
	}
}

func TestParse(t *testing.T) {
	body, err := encodePayload(1327078148132, []*Event{{Name: EventMemberAdded, Channel: "presence-c", UserID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(body)
	if err != nil || p.TimeMs != 1327078148132 || len(p.Events) != 1 || p.Events[0].UserID != "u" {
		t.Fatalf("%+v, %v", p, err)
	}
	if _, err := Parse([]byte("{")); err == nil {
		t.Fatal("bad JSON parsed")
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"time_ms":1,"events":[]}`)
	sig := pusher.WebhookSignature(testSecret, body)
	tests := []struct {
		name     string
		body     []byte
		key, sig string
		want     error
	}{
		{"ok", body, testKey, sig, nil},
		{"upper-case signature", body, testKey, strings.ToUpper(sig), nil},
		{"wrong key", body, "other", sig, ErrWrongKey},
		{"no key", body, "", sig, ErrWrongKey},
		{"bad signature", body, testKey, pusher.WebhookSignature("other", body), ErrBadSignature},
		{"no signature", body, testKey, "", ErrBadSignature},
		{"changed body", append([]byte(" "), body...), testKey, sig, ErrBadSignature},
		{"too large", bytes.Repeat([]byte("x"), MaxBodySize+1), testKey, sig, ErrBodyTooLarge},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("POST", "/hook", bytes.NewReader(tt.body))
		req.Header.Set("X-Pusher-Key", tt.key)
		req.Header.Set("X-Pusher-Signature", tt.sig)
		got, err := Verify(req, testKey, testSecret)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
		if err == nil && !bytes.Equal(got, tt.body) {
			t.Errorf("%s: body %q", tt.name, got)
		}
	}
}
