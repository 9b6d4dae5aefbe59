package pusher

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets of this file check the protocol's parsing and signing
// code the way the broker uses it: on input straight off a socket or an
// HTTP request. Their seeds are in f.Add below and in testdata/fuzz/.
// FuzzDecodeFrame and FuzzAppendString are in events_test.go.

// onWire is s as it reads after AppendString and a JSON decoder: each
// byte of invalid UTF-8 becomes U+FFFD.
func onWire(s string) string { return string([]rune(s)) }

// changeByte returns s with the byte at pos (modulo its length) set to b,
// and whether the result differs from s by more than letter case, which
// the signature checks ignore.
func changeByte(s string, pos uint8, b byte) (string, bool) {
	if s == "" {
		return s, false
	}
	i := int(pos) % len(s)
	out := s[:i] + string([]byte{b}) + s[i+1:]
	return out, !strings.EqualFold(out, s)
}

// restParams are the parameters an SDK sets when it signs a request.
var restParams = []string{"auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5"}

// FuzzVerifyREST checks API request signing with fuzzed method, path,
// query string, body, server clock and client clock skew:
//   - VerifyREST never panics, whatever the query holds;
//   - a request signed by SignREST, or as webman's PHP SDK signs it (no
//     auth_version), verifies exactly when it was signed within
//     MaxTimestampSkew of the server's clock, else fails with
//     ErrBadTimestamp;
//   - changing one byte of its signature (other than its case), its path
//     or its body makes it fail.
func FuzzVerifyREST(f *testing.F) {
	event := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	laravel := []byte(`{"name":"App\\Events\\OrderShipped","data":"{\"order\":{\"id\":42}}","channels":["private-orders.7"],"socket_id":"1234.5678"}`)
	batch := []byte(`{"batch":[{"channel":"presence-room","name":"client-x","data":"{}"},{"channel":"news","name":"e","data":"\"hi\""}]}`)
	// Pusher's documented example: the request of TestRESTSignatureMatchesPusherDocs.
	f.Add(docSecret, "POST", "/apps/3/events", "", event, int64(1353088179), int16(300), false, uint8(0), byte('0'))
	// An SDK query already carrying the signature parameters of another request.
	f.Add(docSecret, "POST", "/apps/3/events", "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c", event, int64(1353088479), int16(0), false, uint8(63), byte('f'))
	// webman's PHP SDK sends no auth_version.
	f.Add("webman-secret", "POST", "/apps/1001/events", "", laravel, int64(1700000000), int16(-42), true, uint8(10), byte('A'))
	f.Add("s", "GET", "/apps/1/channels", "filter_by_prefix=presence-&info=user_count,subscription_count", []byte(nil), int64(1700000000), int16(600), false, uint8(5), byte('x'))
	f.Add("s", "get", "/apps/1/channels/presence-room/users", "", []byte(nil), int64(1700000000), int16(-601), true, uint8(1), byte(0))
	f.Add("s", "POST", "/apps/1/batch_events", "info=a&info=b&Extra=%E2%9C%93", batch, int64(-5), int16(1), false, uint8(200), byte('\xff'))
	f.Add("", "POST", "/apps/1/users/u1/terminate_connections", "auth_timestamp=x&auth_key=&", []byte("{}"), int64(1<<40), int16(-32768), false, uint8(7), byte('7'))

	f.Fuzz(func(t *testing.T, secret, method, path, rawQuery string, body []byte, nowSec int64, skew int16, webman bool, pos uint8, b byte) {
		query, _ := url.ParseQuery(rawQuery) // as r.URL.Query() parses it
		now := time.Unix(nowSec, 0)

		// Whatever the request: an error or nil, no panic.
		_ = VerifyREST(secret, method, path, query, body, now)

		if nowSec > 1<<62 || nowSec < -1<<62 {
			return // time.Unix wraps around near the int64 limits
		}
		// Sign the request's own parameters, as a client would.
		for k := range query {
			for _, p := range restParams {
				if strings.EqualFold(k, p) {
					delete(query, k)
				}
			}
		}
		signedAt := now.Add(-time.Duration(skew) * time.Second)
		var q url.Values
		if webman {
			q = url.Values{}
			for k, v := range query {
				q[k] = v
			}
			q.Set("auth_key", docKey)
			q.Set("auth_timestamp", strconv.FormatInt(signedAt.Unix(), 10))
			if len(body) > 0 {
				q.Set("body_md5", BodyMD5(body))
			}
			q.Set("auth_signature", RESTSignature(secret, method, path, q))
		} else {
			q = SignREST(docKey, secret, method, path, query, body, signedAt)
		}

		var want error
		if d := time.Duration(skew) * time.Second; d > MaxTimestampSkew || d < -MaxTimestampSkew {
			want = ErrBadTimestamp
		}
		if err := VerifyREST(secret, method, path, q, body, now); !errors.Is(err, want) {
			t.Fatalf("signed request %v (skew %ds): got %v, want %v", q, skew, err, want)
		}
		if want != nil {
			return
		}

		// One byte of the signature changed: refused.
		sig := q.Get("auth_signature")
		if bad, changed := changeByte(sig, pos, b); changed {
			tq := cloneValues(q)
			tq.Set("auth_signature", bad)
			if err := VerifyREST(secret, method, path, tq, body, now); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("signature %q (good %q): got %v, want ErrInvalidSignature", bad, sig, err)
			}
		}
		// Another path: refused.
		if err := VerifyREST(secret, method, path+"/", q, body, now); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("path %q+\"/\": got %v, want ErrInvalidSignature", path, err)
		}
		// Another body: refused (by body_md5, or for lack of one).
		wantBody := ErrBadBodyMD5
		if len(body) == 0 {
			wantBody = ErrMissingBodyMD5
		}
		if err := VerifyREST(secret, method, path, q, append(bytes.Clone(body), b), now); !errors.Is(err, wantBody) {
			t.Fatalf("body with a byte added: got %v, want %v", err, wantBody)
		}
	})
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// checkJSON fails unless b is valid JSON and, when wantUTF8, valid UTF-8:
// frames go out as WebSocket text messages, which must be.
func checkJSON(t *testing.T, what string, b []byte, wantUTF8 bool) {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("%s is not valid JSON: %q", what, b)
	}
	if wantUTF8 && !utf8.Valid(b) {
		t.Fatalf("%s is not valid UTF-8: %q", what, b)
	}
}

// checkMember checks a member ParseChannelData accepted: it is within the
// presence limits, and the member_added data and the presence data of
// subscription_succeeded built from it are valid JSON (valid UTF-8 too
// when the channel_data was) that read back to the same member.
func checkMember(t *testing.T, m Member, utf8In bool) {
	t.Helper()
	if m.UserID == "" || len(m.UserID) > MaxUserIDLength {
		t.Fatalf("accepted user_id %q", m.UserID)
	}
	if m.Info != nil && (len(m.Info) > MaxUserInfoSize || !json.Valid(m.Info) || string(m.Info) == "null") {
		t.Fatalf("accepted user_info %q", m.Info)
	}

	data := AppendMemberData(nil, m)
	checkJSON(t, "member data", data, utf8In)
	back, err := ParseChannelData(string(data))
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("member data %s reads back as %+v, %v; want %+v", data, back, err, m)
	}

	other := Member{UserID: "other"}
	if m.UserID == other.UserID {
		other.UserID = "other-2"
	}
	presence := AppendPresenceData(nil, []Member{m, other})
	checkJSON(t, "presence data", presence, utf8In)
	var p struct {
		Presence struct {
			IDs   []string                   `json:"ids"`
			Hash  map[string]json.RawMessage `json:"hash"`
			Count int                        `json:"count"`
		} `json:"presence"`
	}
	if err := json.Unmarshal(presence, &p); err != nil {
		t.Fatalf("presence data %s: %v", presence, err)
	}
	wantInfo := []byte(m.Info)
	if m.Info == nil {
		wantInfo = []byte("null")
	}
	if p.Presence.Count != 2 || !reflect.DeepEqual(p.Presence.IDs, []string{m.UserID, other.UserID}) ||
		!bytes.Equal(p.Presence.Hash[m.UserID], wantInfo) {
		t.Fatalf("presence data %s does not describe %+v and %+v", presence, m, other)
	}
}

// FuzzChannelData feeds presence channel_data to ParseChannelData. It never
// panics, and a member it accepts passes checkMember.
func FuzzChannelData(f *testing.F) {
	for _, s := range []string{
		// Pusher's docs, and Laravel Echo's presence channel_data.
		`{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`,
		`{"user_id":"1","user_info":{"id":1,"name":"Taylor Otwell","email":"taylor@laravel.com"}}`,
		`{"user_id":"u-\u00e9\u2028","user_info":null}`,
		`{"user_id":1.5e3}`,
		`{"user_id":-0,"user_info":[1,"two",{"3":null}]}`,
		`{"user_id":"` + strings.Repeat("x", MaxUserIDLength) + `","user_info":"just a string"}`,
		`{"user_id":1e400}`,
		`{"user_id":"\ud800","user_info":{"bad":"\xff"}}`,
		`{"user_id":{"id":1}}`,
		`[{"user_id":1}]`,
		`{"USER_ID":7, "User_Info" : { "a" : [ ] } }`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseChannelData(s)
		if err != nil {
			if !errors.Is(err, ErrBadChannelData) {
				t.Fatalf("error %v, want ErrBadChannelData", err)
			}
			return
		}
		checkMember(t, m, utf8.ValidString(s))
	})
}

// FuzzSubscribeData feeds the data of a pusher:subscribe frame through the
// connection's checks. For a private, encrypted or presence channel:
//   - VerifyAuth never panics on the client's auth, and accepts it only if
//     it is key:signature for this socket, channel (and channel_data);
//   - the auth ChannelAuth makes verifies, and one made for another socket,
//     channel, channel_data, secret or key, or with one byte of the
//     signature changed, does not;
//   - the channel_data of a presence channel, if ParseChannelData accepts
//     it, passes checkMember;
//   - a recover field is read without panicking, as nothing or as a
//     position whose epoch is empty (matches no stream) or at most
//     MaxEpochLength bytes.
func FuzzSubscribeData(f *testing.F) {
	// pusher-js, as in Pusher's docs (socket 1234.1234).
	f.Add([]byte(`{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4","channel":"private-foobar"}`), "1234.1234", uint8(0), byte('f'))
	f.Add([]byte(`{"auth":"278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c","channel_data":"{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Pusher\"}}","channel":"presence-foobar"}`), "1234.1234", uint8(40), byte('A'))
	// The same auths on another socket.
	f.Add([]byte(`{"auth":"278d425bdf160c739803:58DF8B0C36D6982B82C3ECF6B4662E34FE8C25BBA48F5369F135BF843651C3A4","channel":"private-foobar"}`), "1234.1235", uint8(3), byte('0'))
	// Laravel Echo on a presence channel, and a public subscribe.
	f.Add([]byte(`{"auth":"app-key:0000000000000000000000000000000000000000000000000000000000000000","channel_data":"{\"user_id\":\"1\",\"user_info\":{\"id\":1,\"name\":\"Taylor\"}}","channel":"presence-chat.1"}`), "98765.4321", uint8(63), byte('1'))
	f.Add([]byte(`{"auth":"","channel":"my-channel"}`), "1.1", uint8(0), byte(0))
	f.Add([]byte(`{"auth":"k:s","channel":"private-encrypted-inbox"}`), "2.2", uint8(1), byte(' '))
	f.Add([]byte(`{"channel":"#server-to-user-42"}`), "3.3", uint8(2), byte('#'))
	f.Add([]byte(`{"auth":"nocolon","channel":"presence-room","channel_data":"{\"user_id\":null}"}`), "", uint8(9), byte(':'))
	f.Add([]byte(`{"auth":["x"],"channel":"private-a"}`), "4.4", uint8(4), byte('4'))
	// Herald's client recovering, and a recover that is not a position.
	f.Add([]byte(`{"channel":"chat","recover":{"epoch":"3f9a0c51d2e7","offset":41}}`), "5.5", uint8(5), byte('5'))
	f.Add([]byte(`{"channel":"private-chat","auth":"k:s","recover":{"epoch":7,"offset":"x"}}`), "6.6", uint8(6), byte('6'))

	f.Fuzz(func(t *testing.T, raw []byte, socketID string, pos uint8, b byte) {
		var d SubscribeData
		if err := json.Unmarshal(raw, &d); err != nil || d.Channel == "" {
			return // refused before anything else is looked at
		}
		_ = ValidChannelName(d.Channel)
		if p := ParseRecover(d.Recover); p != nil && p.Epoch != "" && len(p.Epoch) > MaxEpochLength {
			t.Fatalf("recover %s read as %+v", d.Recover, p)
		}
		kind := Kind(d.Channel)
		if !kind.NeedsAuth() {
			return
		}
		channelData := ""
		if kind == Presence {
			channelData = d.ChannelData
		}
		want := ChannelSignature(docSecret, socketID, d.Channel, channelData)

		if VerifyAuth(docKey, d.Auth, want) {
			k, sig, _ := strings.Cut(d.Auth, ":")
			if k != docKey || strings.ToLower(sig) != want {
				t.Fatalf("accepted auth %q, want %s:%s", d.Auth, docKey, want)
			}
		}

		good := ChannelAuth(docKey, docSecret, socketID, d.Channel, channelData)
		if !VerifyAuth(docKey, good, want) {
			t.Fatalf("refused its own auth %q", good)
		}
		refuse := func(what, auth string) {
			t.Helper()
			if VerifyAuth(docKey, auth, want) {
				t.Fatalf("accepted the auth of %s: %q", what, auth)
			}
		}
		refuse("another socket", ChannelAuth(docKey, docSecret, socketID+"0", d.Channel, channelData))
		refuse("another channel", ChannelAuth(docKey, docSecret, socketID, d.Channel+"0", channelData))
		refuse("another secret", ChannelAuth(docKey, docSecret+"0", socketID, d.Channel, channelData))
		refuse("another key", ChannelAuth("other-key", docSecret, socketID, d.Channel, channelData))
		at := uint8(len(docKey) + 1 + int(pos)%64) //nolint:gosec // G115: a short key plus at most 63
		if bad, changed := changeByte(good, at, b); changed {
			refuse("a changed signature", bad)
		}
		if kind != Presence {
			return
		}
		refuse("other channel_data", ChannelAuth(docKey, docSecret, socketID, d.Channel, channelData+" "))
		if m, err := ParseChannelData(d.ChannelData); err == nil {
			checkMember(t, m, true) // a decoded JSON string is valid UTF-8
		}
	})
}

// FuzzSignin feeds the data of a pusher:signin frame through the
// connection's checks: VerifyAuth never panics; the auth UserAuth makes
// verifies and one for another socket or user_data does not; user_data
// that ParseUserData accepts has an id within limits and a watchlist of at
// most MaxWatchlist; and the pusher:signin_success frame built from it is
// valid JSON and UTF-8 that gives back the user_data.
func FuzzSignin(f *testing.F) {
	f.Add([]byte(`{"auth":"278d425bdf160c739803:0","user_data":"{\"id\":\"12345\",\"user_info\":{\"name\":\"Ada\"},\"watchlist\":[\"2\",\"3\"]}"}`), "1234.1234")
	f.Add([]byte(`{"user_data":"{\"id\":\"u-\u00e9\"}","auth":"k:ABCDEF"}`), "99.1")
	f.Add([]byte(`{"user_data":"{\"id\":42}","auth":""}`), "1.2")
	f.Add([]byte(`{"user_data":"{\"id\":\"a\",\"watchlist\":\"b\"}","auth":":"}`), "")
	f.Add([]byte(`{"user_data":"not json \u2028 \" \\","auth":"x"}`), "7.7")
	f.Fuzz(func(t *testing.T, raw []byte, socketID string) {
		var d SigninData
		if err := json.Unmarshal(raw, &d); err != nil || d.UserData == "" {
			return // the connection closes with 4009
		}
		want := UserSignature(docSecret, socketID, d.UserData)
		_ = VerifyAuth(docKey, d.Auth, want)
		if !VerifyAuth(docKey, UserAuth(docKey, docSecret, socketID, d.UserData), want) {
			t.Fatal("refused its own signin auth")
		}
		if VerifyAuth(docKey, UserAuth(docKey, docSecret, socketID+"0", d.UserData), want) ||
			VerifyAuth(docKey, UserAuth(docKey, docSecret, socketID, d.UserData+" "), want) {
			t.Fatal("accepted the signin auth of another socket or user_data")
		}

		u, err := ParseUserData(d.UserData)
		if err != nil {
			return
		}
		if u.ID == "" || len(u.ID) > MaxUserIDLength || len(u.Watchlist) > MaxWatchlist {
			t.Fatalf("accepted user_data %q as %+v", d.UserData, u)
		}
		data := AppendString([]byte(`{"user_data":`), d.UserData)
		data = append(data, '}')
		frame := AppendEvent(nil, EventSigninSuccess, "", string(data), "")
		checkJSON(t, "signin_success", frame, true)
		var outer struct{ Event, Data string }
		var inner struct {
			UserData string `json:"user_data"`
		}
		if err := json.Unmarshal(frame, &outer); err != nil || json.Unmarshal([]byte(outer.Data), &inner) != nil ||
			outer.Event != EventSigninSuccess || inner.UserData != d.UserData {
			t.Fatalf("signin_success %s does not give back user_data %q", frame, d.UserData)
		}
	})
}

// FuzzChannelName checks the channel and event name rules against each
// other: Kind agrees with the name's prefix; client events are only
// allowed where subscribing needs a signature, and never on encrypted
// channels; a valid channel name is 1..200 bytes, not a # channel, and
// needs no escaping in JSON; ValidServerChannel accepts the valid names
// and #server-to-user-{valid id} only; a valid event name has no control
// bytes.
func FuzzChannelName(f *testing.F) {
	for _, s := range []string{
		"my-channel", "private-foobar", "presence-foobar", "private-encrypted-inbox",
		"#server-to-user-42", "#server-to-user-", "cache-news", "private-cache-x",
		"presence-cache-room", "private-encrypted-cache-y", "private-chat.1", "presence-App.Models.User.1",
		`App\Events\OrderShipped`, "client-typing", "a b", "ü", "private-\x00", "presence-" + strings.Repeat("x", 192),
	} {
		f.Add(s)
	}
	prefixes := map[ChannelKind]string{Private: "private-", Presence: "presence-", Encrypted: "private-encrypted-", ServerToUser: ServerToUserPrefix}
	f.Fuzz(func(t *testing.T, name string) {
		kind := Kind(name)
		if p, ok := prefixes[kind]; ok && !strings.HasPrefix(name, p) || kind == Private && strings.HasPrefix(name, prefixes[Encrypted]) {
			t.Fatalf("Kind(%q) = %v", name, kind)
		}
		if kind == Public {
			for _, p := range prefixes {
				if strings.HasPrefix(name, p) {
					t.Fatalf("Kind(%q) = public despite the prefix %q", name, p)
				}
			}
		}
		if kind.AllowsClientEvents() && (!kind.NeedsAuth() || kind == Encrypted) || kind.String() == "" {
			t.Fatalf("rules of %v", kind)
		}
		if IsCache(name) && !strings.Contains(name, "cache-") {
			t.Fatalf("IsCache(%q)", name)
		}

		if ValidChannelName(name) {
			if len(name) == 0 || len(name) > MaxChannelNameLength || kind == ServerToUser {
				t.Fatalf("ValidChannelName(%q)", name)
			}
			if got := string(AppendString(nil, name)); got != `"`+name+`"` {
				t.Fatalf("valid name %q is escaped as %s", name, got)
			}
			if !ValidServerChannel(name) {
				t.Fatalf("ValidServerChannel refuses the valid name %q", name)
			}
		} else if ValidServerChannel(name) {
			id, ok := strings.CutPrefix(name, ServerToUserPrefix)
			if !ok || len(name) > MaxChannelNameLength || !ValidChannelName(id) {
				t.Fatalf("ValidServerChannel(%q)", name)
			}
		}

		if ValidEventName(name) {
			if len(name) == 0 || len(name) > MaxEventNameLength || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("ValidEventName(%q)", name)
			}
		}
	})
}

// FuzzClientEventFrame feeds a frame to DecodeFrame and then to the checks
// the connection makes before relaying a client event (subscription and
// rate limit aside). A frame that passes is a client- event on a valid
// private or presence channel, with an event name of no control bytes and
// at most MaxDataSize of data; the relayed frame AppendEvent builds is
// valid JSON and UTF-8, has exactly the keys event, channel, data (and
// user_id on presence channels), and decodes back to the same event,
// channel and data, that data still being the JSON the sender sent.
func FuzzClientEventFrame(f *testing.F) {
	for _, s := range []string{
		// pusher-js channel.trigger and Laravel Echo's whisper.
		`{"event":"client-typing","channel":"private-chat.1","data":{"user":"taylor","typing":true}}`,
		`{"event":"client-message","data":{"text":"héllo \u2028 <script>"},"channel":"presence-room"}`,
		`{"event":"client-App\\Events\\Typing","channel":"presence-App.Models.Team.7","data":"a string"}`,
		`{"event":"client-x","channel":"private-a","data":[1,2.5e10,null,true,"\ud83d\ude00"]}`,
		`{"event":"client-x","channel":"private-a"}`,
		`{"event":"client-x","channel":"private-a","data":null}`,
		` {"event":"client-bad-utf8","channel":"private-a","data":"` + "\xff\xfe" + `"}`,
		// Refused ones.
		`{"event":"client-x","channel":"private-encrypted-a","data":{}}`,
		`{"event":"client-x","channel":"public","data":{}}`,
		`{"event":"client-line\nbreak","channel":"private-a","data":{}}`,
		`{"event":"client-x","channel":"private-a","data":"` + strings.Repeat("x", MaxDataSize) + `"}`,
		`{"event":"App\\Events\\OrderShipped","channel":"private-a","data":{}}`,
		`{"event":"pusher:subscribe","data":{"channel":"private-a","auth":"k:s"}}`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`{"event":"client-typing","channel":"presence-room","data":{"typing":true}}`), "42")
	f.Add([]byte(`{"EVENT":"client-typing","Channel":"presence-room","DATA":{}}`), "u-\xff\u2029")

	f.Fuzz(func(t *testing.T, raw []byte, userID string) {
		fr, err := DecodeFrame(raw)
		if err != nil || !strings.HasPrefix(fr.Event, ClientEventPrefix) {
			return
		}
		kind := Kind(fr.Channel)
		// The sender must be subscribed, and only valid names can be.
		if !ValidChannelName(fr.Channel) || !kind.AllowsClientEvents() || !ValidEventName(fr.Event) || len(fr.Data) > MaxDataSize {
			return // rejected with 4301
		}
		if kind != Private && kind != Presence || strings.HasPrefix(fr.Channel, "private-encrypted-") {
			t.Fatalf("client event allowed on %q", fr.Channel)
		}
		if len(fr.Data) > 0 && !json.Valid(fr.Data) {
			t.Fatalf("data %q is not JSON", fr.Data)
		}

		data := string(fr.Data)
		if data == "" {
			data = "{}"
		}
		if kind != Presence {
			userID = "" // user_id is only known, and sent, on presence channels
		}
		out := AppendEvent(nil, fr.Event, fr.Channel, data, userID)
		checkJSON(t, "relayed frame", out, true)

		var keys map[string]json.RawMessage
		var back struct {
			Event, Channel, Data string
			UserID               string `json:"user_id"`
		}
		if err := json.Unmarshal(out, &keys); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		wantKeys := 3
		if userID != "" {
			wantKeys = 4
		}
		if len(keys) != wantKeys || back.Event != fr.Event || back.Channel != fr.Channel ||
			back.Data != onWire(data) || back.UserID != onWire(userID) {
			t.Fatalf("relayed %s for %+v (user %q)", out, fr, userID)
		}
		if !json.Valid([]byte(back.Data)) {
			t.Fatalf("relayed data %q is no longer JSON", back.Data)
		}
	})
}
