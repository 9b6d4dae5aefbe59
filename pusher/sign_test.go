package pusher

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The examples published in Pusher's documentation (channel
// authorisation and REST API signing), with its key and secret.
const (
	docKey    = "278d425bdf160c739803"
	docSecret = "7ad3773142a6692b25b8"
)

func TestChannelAuthMatchesPusherDocs(t *testing.T) {
	cases := []struct {
		name, socketID, channel, channelData, want string
	}{
		{"private", "1234.1234", "private-foobar", "",
			"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"},
		{"presence", "1234.1234", "presence-foobar", `{"user_id":10,"user_info":{"name":"Mr. Pusher"}}`,
			"278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ChannelAuth(docKey, docSecret, tc.socketID, tc.channel, tc.channelData)
			if got != tc.want {
				t.Fatalf("got %s\nwant %s", got, tc.want)
			}
			sig := ChannelSignature(docSecret, tc.socketID, tc.channel, tc.channelData)
			if !VerifyAuth(docKey, tc.want, sig) {
				t.Fatal("VerifyAuth refused the documented auth")
			}
		})
	}
}

func TestVerifyAuthRefuses(t *testing.T) {
	sig := ChannelSignature(docSecret, "1.1", "private-a", "")
	for _, auth := range []string{"", "nocolon", "otherkey:" + sig, docKey + ":" + strings.Repeat("0", 64), docKey + ":" + sig[:10]} {
		if VerifyAuth(docKey, auth, sig) {
			t.Errorf("accepted %q", auth)
		}
	}
	if !VerifyAuth(docKey, docKey+":"+strings.ToUpper(sig), sig) {
		t.Error("upper-case hex refused")
	}
}

func TestRESTSignatureMatchesPusherDocs(t *testing.T) {
	body := []byte(`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`)
	if got := BodyMD5(body); got != "ec365a775a4cd0599faeb73354201b6f" {
		t.Fatalf("body_md5 %s", got)
	}
	q := url.Values{
		"auth_key": {docKey}, "auth_timestamp": {"1353088179"}, "auth_version": {"1.0"},
		"body_md5": {"ec365a775a4cd0599faeb73354201b6f"},
	}
	want := "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
	if got := RESTStringToSign("POST", "/apps/3/events", q); got != want {
		t.Fatalf("string to sign %q", got)
	}
	sig := RESTSignature(docSecret, "POST", "/apps/3/events", q)
	if sig != "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c" {
		t.Fatalf("signature %s", sig)
	}
	q.Set("auth_signature", sig)
	now := time.Unix(1353088179, 0).Add(5 * time.Minute)
	if err := VerifyREST(docSecret, "POST", "/apps/3/events", q, body, now); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRESTRefuses(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"name":"e"}`)
	signed := func(mut func(url.Values), at time.Time) url.Values {
		q := SignREST("k", "s", "POST", "/apps/1/events", url.Values{"info": {"user_count,subscription_count"}}, body, at)
		if mut != nil {
			mut(q)
		}
		return q
	}
	cases := []struct {
		name string
		q    url.Values
		body []byte
		want error
	}{
		{"ok", signed(nil, now), body, nil},
		{"skew past", signed(nil, now.Add(-601*time.Second)), body, ErrBadTimestamp},
		{"skew future", signed(nil, now.Add(601*time.Second)), body, ErrBadTimestamp},
		{"no signature", signed(func(q url.Values) { q.Del("auth_signature") }, now), body, ErrMissingAuth},
		{"bad version", signed(func(q url.Values) { q.Set("auth_version", "2.0") }, now), body, ErrBadAuthVersion},
		{"body changed", signed(nil, now), []byte(`{"name":"x"}`), ErrBadBodyMD5},
		{"no body_md5", signed(func(q url.Values) { q.Del("body_md5") }, now), body, ErrMissingBodyMD5},
		{"param added", signed(func(q url.Values) { q.Set("extra", "1") }, now), body, ErrInvalidSignature},
		{"bad timestamp", signed(func(q url.Values) { q.Set("auth_timestamp", "x") }, now), body, ErrBadTimestamp},
	}
	for _, tc := range cases {
		if err := VerifyREST("s", "POST", "/apps/1/events", tc.q, tc.body, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestWebhookSignature(t *testing.T) {
	body := []byte(`{"time_ms":1,"events":[]}`)
	sig := WebhookSignature("s", body)
	if !VerifyWebhook("s", body, sig) || VerifyWebhook("s", body, sig[:63]+"0") || VerifyWebhook("t", body, sig) {
		t.Fatal("webhook signature check")
	}
}

func TestUserAuth(t *testing.T) {
	got := UserSignature("s", "1.2", `{"id":"u"}`)
	if got != hmacHex("s", "1.2::user::{\"id\":\"u\"}") {
		t.Fatal("user signature is not HMAC of socket::user::data")
	}
}
