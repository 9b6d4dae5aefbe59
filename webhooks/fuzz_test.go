package webhooks

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-push/herald/pusher"
)

// Webhook bodies as Herald sends them, in both formats, and one as webman
// itself sends (time_ms in float seconds, which Parse refuses).
var webhookBodies = []string{
	`{"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"presence-room"}]}`,
	`{"time_ms":1700000000123,"events":[{"name":"member_added","channel":"presence-room","user_id":"42"},{"name":"member_removed","channel":"presence-room","user_id":"7"}]}`,
	`{"time_ms":1700000000123,"events":[{"name":"client_event","channel":"private-chat.1","event":"client-typing","data":"{\"user\":\"taylor\"}","socket_id":"1234.5678","user_id":"u1"}]}`,
	`{"time_ms":1700000000123,"events":[{"name":"subscription_count","channel":"news","subscription_count":0},{"name":"cache_miss","channel":"cache-news"}]}`,
	`{"time_ms":1700000000123,"events":[{"name":"channel_added","channel":"private-a"},{"name":"user_added","channel":"presence-b","user_id":"1"}]}`,
	`{"time_ms":1700000000.123,"events":[{"name":"channel_removed","channel":"private-a"}]}`,
	`{"time_ms":1,"events":[]}`,
	`{"events":null,"extra":{"ignored":true}}`,
	`{"time_ms":"1","events":{}}`,
	`[]`,
}

// FuzzWebhookParse feeds bodies to Parse. It never panics, and a payload
// it accepts re-encodes, as the sender encodes it, to a body that Parse
// accepts and that encodes to the same bytes again.
func FuzzWebhookParse(f *testing.F) {
	for _, b := range webhookBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Parse(body)
		if err != nil {
			return
		}
		enc := encode(t, p)
		p2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-encoded body %s: %v", enc, err)
		}
		if enc2 := encode(t, p2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func encode(t *testing.T, p Payload) []byte {
	t.Helper()
	events := make([]*Event, len(p.Events))
	for i := range p.Events {
		events[i] = &p.Events[i]
	}
	b, err := encodePayload(p.TimeMs, events)
	if err != nil {
		t.Fatalf("encode %+v: %v", p, err)
	}
	return b
}

// FuzzWebhookVerify checks Verify with a fuzzed body, key, secret and
// X-Pusher-Signature:
//   - it never panics, and accepts a signature only if it is the body's
//     HMAC under the secret (in either letter case) and the key matches;
//   - a body signed with the secret, as the sender signs it, verifies and
//     comes back unchanged;
//   - the same request with one byte of the body or of the signature
//     changed (other than its case) fails with ErrBadSignature, and with
//     another key with ErrWrongKey.
func FuzzWebhookVerify(f *testing.F) {
	for i, b := range webhookBodies {
		f.Add([]byte(b), "app-key", "app-secret", "", uint8(i*7), byte('0'+i))
	}
	body := []byte(webhookBodies[0])
	f.Add(body, "app-key", "app-secret", pusher.WebhookSignature("app-secret", body), uint8(0), byte('a'))
	f.Add(body, "app-key", "app-secret", strings.ToUpper(pusher.WebhookSignature("app-secret", body)), uint8(63), byte('F'))
	f.Add([]byte(nil), "", "", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad", uint8(1), byte(0xff))

	f.Fuzz(func(t *testing.T, body []byte, key, secret, sig string, pos uint8, b byte) {
		want := pusher.WebhookSignature(secret, body)
		// The request as it came: whatever its signature, no panic.
		if _, err := verify(body, key, sig, key, secret); err == nil && strings.ToLower(sig) != want {
			t.Fatalf("accepted signature %q, want %s", sig, want)
		}

		// Signed with the secret.
		got, err := verify(body, key, want, key, secret)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("signed body: %q, %v", got, err)
		}
		if _, err := verify(body, key+"x", want, key, secret); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("another key: %v, want ErrWrongKey", err)
		}
		if len(body) > 0 {
			tampered := bytes.Clone(body)
			i := int(pos) % len(body)
			tampered[i] ^= b | 1 // never 0: the byte changes
			if _, err := verify(tampered, key, want, key, secret); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("body with byte %d changed: %v, want ErrBadSignature", i, err)
			}
		}
		i := int(pos) % len(want)
		bad := want[:i] + string([]byte{b}) + want[i+1:]
		if strings.ToLower(bad) != want {
			if _, err := verify(body, key, bad, key, secret); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("signature %q (good %s): %v, want ErrBadSignature", bad, want, err)
			}
		}
	})
}

// verify sends body with the headers X-Pusher-Key: key and
// X-Pusher-Signature: sig to Verify, for the app appKey and secret.
func verify(body []byte, key, sig, appKey, secret string) ([]byte, error) {
	req := httptest.NewRequest("POST", "/webhooks/pusher", bytes.NewReader(body))
	req.Header.Set("X-Pusher-Key", key)
	req.Header.Set("X-Pusher-Signature", sig)
	return Verify(req, appKey, secret)
}
