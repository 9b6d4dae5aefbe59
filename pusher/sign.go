package pusher

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // G501: body_md5 is MD5 by the Pusher protocol; it is not a security check
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxTimestampSkew is how far auth_timestamp may be from the server's clock.
const MaxTimestampSkew = 600 * time.Second

func hmacHex(secret string, parts ...string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

// ChannelSignature is hex(HMAC-SHA256(secret, socketID:channel[:channelData])).
// channelData is only signed for presence channels (pass "" otherwise).
func ChannelSignature(secret, socketID, channel, channelData string) string {
	if channelData == "" {
		return hmacHex(secret, socketID, ":", channel)
	}
	return hmacHex(secret, socketID, ":", channel, ":", channelData)
}

// ChannelAuth is the "auth" value a backend returns: "key:signature".
func ChannelAuth(key, secret, socketID, channel, channelData string) string {
	return key + ":" + ChannelSignature(secret, socketID, channel, channelData)
}

// UserSignature is hex(HMAC-SHA256(secret, socketID::user::userData)), the
// signature of a pusher:signin.
func UserSignature(secret, socketID, userData string) string {
	return hmacHex(secret, socketID, "::user::", userData)
}

// UserAuth is the "auth" value of a signin: "key:signature".
func UserAuth(key, secret, socketID, userData string) string {
	return key + ":" + UserSignature(secret, socketID, userData)
}

// VerifyAuth checks an "auth" value ("key:hexsig") against the expected
// signature in constant time. It never says what was expected.
func VerifyAuth(key, auth, expectedSig string) bool {
	k, sig, ok := strings.Cut(auth, ":")
	if !ok {
		return false
	}
	keyOK := hmac.Equal([]byte(k), []byte(key))
	sigOK := hmac.Equal([]byte(strings.ToLower(sig)), []byte(expectedSig))
	return keyOK && sigOK
}

// WebhookSignature is hex(HMAC-SHA256(secret, body)), sent as
// X-Pusher-Signature.
func WebhookSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a webhook's X-Pusher-Signature in constant time.
func VerifyWebhook(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(strings.ToLower(signature)), []byte(WebhookSignature(secret, body)))
}

// RESTStringToSign builds Pusher's string to sign for an API request:
// METHOD\npath\nsorted query, where the query is every parameter except
// auth_signature, keys lower-cased, sorted, joined raw as k=v with '&'.
// Keys that are equal once lower-cased (info and INFO) are each listed,
// ordered by their original spelling, so the string is the same however
// the query's map is iterated.
func RESTStringToSign(method, path string, query url.Values) string {
	type param struct{ lower, key string }
	params := make([]param, 0, len(query))
	for k := range query {
		if strings.EqualFold(k, "auth_signature") {
			continue
		}
		params = append(params, param{strings.ToLower(k), k})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].lower != params[j].lower {
			return params[i].lower < params[j].lower
		}
		return params[i].key < params[j].key
	})
	var b strings.Builder
	b.WriteString(strings.ToUpper(method))
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.lower)
		b.WriteByte('=')
		b.WriteString(strings.Join(query[p.key], ","))
	}
	return b.String()
}

// RESTSignature signs an API request the way Pusher's SDKs do.
func RESTSignature(secret, method, path string, query url.Values) string {
	return hmacHex(secret, RESTStringToSign(method, path, query))
}

// SignREST returns query with auth_key, auth_timestamp, auth_version,
// body_md5 (when body is not empty) and auth_signature set: what an SDK
// sends. Herald's own tools and tests use it.
func SignREST(key, secret, method, path string, query url.Values, body []byte, now time.Time) url.Values {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("auth_key", key)
	q.Set("auth_timestamp", strconv.FormatInt(now.Unix(), 10))
	q.Set("auth_version", "1.0")
	if len(body) > 0 {
		q.Set("body_md5", BodyMD5(body))
	}
	q.Set("auth_signature", RESTSignature(secret, method, path, q))
	return q
}

// BodyMD5 is the lower-case hex MD5 of body, as sent in body_md5.
func BodyMD5(body []byte) string {
	sum := md5.Sum(body) //nolint:gosec // G401: see the import
	return hex.EncodeToString(sum[:])
}

// Errors of VerifyREST. None of them names the expected value.
var (
	ErrMissingAuth      = errors.New("missing auth_key, auth_timestamp or auth_signature")
	ErrBadTimestamp     = errors.New("auth_timestamp is not within 600 seconds of the server's time")
	ErrBadAuthVersion   = errors.New("unsupported auth_version")
	ErrBadBodyMD5       = errors.New("body_md5 does not match the body")
	ErrMissingBodyMD5   = errors.New("body_md5 is required with a request body")
	ErrInvalidSignature = errors.New("invalid signature")
)

// CheckRESTAuth checks what of an API request's signing can be checked
// before its body is read: auth_key, auth_timestamp and auth_signature are
// there, the timestamp is within the window and auth_version is 1.0 (or
// absent, as webman's PHP SDK sends it).
func CheckRESTAuth(query url.Values, now time.Time) error {
	ts := query.Get("auth_timestamp")
	if query.Get("auth_signature") == "" || ts == "" || query.Get("auth_key") == "" {
		return ErrMissingAuth
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(t, 0)); d > MaxTimestampSkew || d < -MaxTimestampSkew {
		return ErrBadTimestamp
	}
	if v := query.Get("auth_version"); v != "" && v != "1.0" {
		return ErrBadAuthVersion
	}
	return nil
}

// VerifyREST checks an API request signed with secret: CheckRESTAuth,
// body_md5 when there is a body, and the signature in constant time. The
// caller has already matched auth_key to the app.
func VerifyREST(secret, method, path string, query url.Values, body []byte, now time.Time) error {
	if err := CheckRESTAuth(query, now); err != nil {
		return err
	}
	if md := query.Get("body_md5"); md != "" || len(body) > 0 {
		if len(body) > 0 && md == "" {
			return ErrMissingBodyMD5
		}
		if !hmac.Equal([]byte(strings.ToLower(md)), []byte(BodyMD5(body))) {
			return ErrBadBodyMD5
		}
	}
	want := RESTSignature(secret, method, path, query)
	if !hmac.Equal([]byte(strings.ToLower(query.Get("auth_signature"))), []byte(want)) {
		return ErrInvalidSignature
	}
	return nil
}
