package webhooks

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/herald-push/herald/pusher"
)

// MaxBodySize is the largest body Verify reads.
const MaxBodySize = 1 << 20

// Errors of Verify. None of them names the expected key or signature.
var (
	ErrBodyTooLarge = errors.New("webhook body is larger than 1 MiB")
	ErrWrongKey     = errors.New("X-Pusher-Key does not match the app key")
	ErrBadSignature = errors.New("X-Pusher-Signature does not match the body")
)

// Verify reads a webhook request's body (at most MaxBodySize bytes) and
// checks that X-Pusher-Key is key and that X-Pusher-Signature is the
// HMAC-SHA256 of the body under secret, both in constant time. It returns
// the body, to be given to Parse. It does not close r.Body; net/http does.
func Verify(r *http.Request, key, secret string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("read webhook body: %w", err)
	}
	if len(body) > MaxBodySize {
		return nil, ErrBodyTooLarge
	}
	if !hmac.Equal([]byte(r.Header.Get("X-Pusher-Key")), []byte(key)) {
		return nil, ErrWrongKey
	}
	if !pusher.VerifyWebhook(secret, body, r.Header.Get("X-Pusher-Signature")) {
		return nil, ErrBadSignature
	}
	return body, nil
}
