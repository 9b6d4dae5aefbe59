package pusher

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestAppendEventIsValidJSONWithStringData(t *testing.T) {
	for _, data := range []string{"", "{}", `{"a":"b\"c"}`, "line\nbreak\t\x01", "ünïcødé \u2028", "bad \xff utf8"} {
		b := AppendEvent(nil, "ev", "ch", data, "u1")
		var f struct{ Event, Channel, Data, UserID string }
		var raw map[string]any
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatalf("%q: %v in %s", data, err, b)
		}
		_ = json.Unmarshal(b, &f)
		if raw["event"] != "ev" || raw["channel"] != "ch" || raw["user_id"] != "u1" {
			t.Fatalf("frame %s", b)
		}
		if _, ok := raw["data"].(string); !ok {
			t.Fatalf("data is not a string in %s", b)
		}
		if json.Valid([]byte(data)) && raw["data"] != data {
			t.Fatalf("data changed: %q → %q", data, raw["data"])
		}
	}
}

func TestGoldenFrames(t *testing.T) {
	cases := map[string]string{
		string(ConnectionEstablished("123.456", 30)):                                         `{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":30}"}`,
		string(AppendError(nil, 4001, "No app")):                                             `{"event":"pusher:error","data":{"code":4001,"message":"No app"}}`,
		string(AppendError(nil, 0, "bad")):                                                   `{"event":"pusher:error","data":{"code":null,"message":"bad"}}`,
		string(AppendEvent(nil, "e", "", "{}", "")):                                          `{"event":"e","data":"{}"}`,
		string(PongFrame):                                                                    `{"event":"pusher:pong","data":"{}"}`,
		string(AppendMemberData(nil, Member{UserID: "1", Info: json.RawMessage(`{"n":1}`)})): `{"user_id":"1","user_info":{"n":1}}`,
		string(AppendPresenceData(nil, []Member{{UserID: "a"}, {UserID: "b", Info: json.RawMessage(`{}`)}})): `{"presence":{"ids":["a","b"],"hash":{"a":null,"b":{}},"count":2}}`,
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func TestDecodeFrame(t *testing.T) {
	f, err := DecodeFrame([]byte(` {"event":"client-x","channel":"private-a","data":{"k":[1,2]}}`))
	if err != nil || f.Event != "client-x" || f.Channel != "private-a" || string(f.Data) != `{"k":[1,2]}` {
		t.Fatalf("%+v %v", f, err)
	}
	for in, want := range map[string]error{
		``: ErrInvalidJSON, `[]`: ErrInvalidJSON, `{"event":`: ErrInvalidJSON, `{"event":1}`: ErrInvalidJSON,
		`{"data":{}}`: ErrMissingEvent, `"x"`: ErrInvalidJSON,
	} {
		if _, err := DecodeFrame([]byte(in)); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
}

func TestParseChannelData(t *testing.T) {
	m, err := ParseChannelData(`{"user_id":"u1","user_info":{"name":"A"}}`)
	if err != nil || m.UserID != "u1" || string(m.Info) != `{"name":"A"}` {
		t.Fatalf("%+v %v", m, err)
	}
	m, err = ParseChannelData(`{"user_id":42}`)
	if err != nil || m.UserID != "42" || m.Info != nil {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"user_id":""}`, `{"user_id":null}`, `{"user_id":true}`, `{"user_id":{}}`} {
		if _, err := ParseChannelData(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSocketID(t *testing.T) {
	a, b := NewSocketID(1), NewSocketID(2)
	if !ValidSocketID(a) || !ValidSocketID(b) || a == b {
		t.Fatalf("%s %s", a, b)
	}
	// The part after the dot is this process's tag and the zero-padded
	// sequence number: ids of different nodes differ even for equal seqs.
	tag := strconv.FormatUint(processTag+1, 10)
	if !strings.HasSuffix(a, "."+tag+"000000000001") || !strings.HasSuffix(b, "."+tag+"000000000002") {
		t.Fatalf("%s %s: want .%s<12-digit seq>", a, b, tag)
	}
	for _, bad := range []string{"", "1", "1.", ".1", "a.b", "1.2.3", "1.2\n"} {
		if ValidSocketID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCloseCodeReconnect(t *testing.T) {
	if CloseAppNotFound.Reconnect() != ReconnectNever || CloseOverCapacity.Reconnect() != ReconnectBackoff ||
		CloseReconnect.Reconnect() != ReconnectNow || ClosePongTimeout.Reconnect() != ReconnectNow || CloseCode(1000).Reconnect() != ReconnectNormal {
		t.Fatal("reconnect policy")
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{`{"event":"pusher:ping","data":{}}`, `{"event":"pusher:subscribe","data":{"channel":"a"}}`, `{`, `[]`, `{"event":"client-a","channel":"private-b","data":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err == nil && fr.Event == "" {
			t.Fatal("accepted a frame without an event")
		}
	})
}

func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("\x00\xff\u2028\"\\")
	f.Fuzz(func(t *testing.T, s string) {
		var out string
		if err := json.Unmarshal(AppendString(nil, s), &out); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	})
}
