package pusher

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// Event names of the protocol.
const (
	EventConnectionEstablished = "pusher:connection_established"
	EventError                 = "pusher:error"
	EventPing                  = "pusher:ping"
	EventPong                  = "pusher:pong"
	EventSubscribe             = "pusher:subscribe"
	EventUnsubscribe           = "pusher:unsubscribe"
	EventSignin                = "pusher:signin"
	EventSigninSuccess         = "pusher:signin_success"
	EventCacheMiss             = "pusher:cache_miss"
	EventSubscriptionError     = "pusher:subscription_error"

	EventSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	EventMemberAdded           = "pusher_internal:member_added"
	EventMemberRemoved         = "pusher_internal:member_removed"
	EventSubscriptionCount     = "pusher_internal:subscription_count"
	EventWatchlist             = "pusher_internal:watchlist_events"

	// ClientEventPrefix starts every event a client may send to others.
	ClientEventPrefix = "client-"
)

// Frame is an inbound client frame. Data is the raw JSON value of "data"
// (an object for pusher:* events, anything for client events); it aliases
// the buffer it was decoded from.
type Frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Errors from DecodeFrame. Their texts are sent to clients as they are.
var (
	ErrInvalidJSON  = errors.New("invalid JSON")
	ErrMissingEvent = errors.New("missing event")
)

// DecodeFrame parses one client frame. It refuses anything that is not a
// JSON object with a non-empty string "event".
func DecodeFrame(b []byte) (Frame, error) {
	var f Frame
	if len(b) == 0 || b[0] != '{' && !isSpace(b[0]) {
		return f, ErrInvalidJSON
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, ErrInvalidJSON
	}
	if f.Event == "" {
		return f, ErrMissingEvent
	}
	return f, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// SubscribeData is the data of pusher:subscribe. Recover, Herald's
// extension, is the position a client re-subscribing after a reconnect
// asks to recover from (see ParseRecover).
type SubscribeData struct {
	Channel     string          `json:"channel"`
	Auth        string          `json:"auth"`
	ChannelData string          `json:"channel_data"`
	Recover     json.RawMessage `json:"recover,omitempty"`
}

// SigninData is the data of pusher:signin.
type SigninData struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

// AppendEvent appends a server event frame whose data is the JSON string s
// (already a string on the wire: the API's data is passed through verbatim).
// channel and userID are left out when empty.
func AppendEvent(b []byte, event, channel, data, userID string) []byte {
	b = append(b, `{"event":`...)
	b = AppendString(b, event)
	if channel != "" {
		b = append(b, `,"channel":`...)
		b = AppendString(b, channel)
	}
	b = append(b, `,"data":`...)
	b = AppendString(b, data)
	if userID != "" {
		b = append(b, `,"user_id":`...)
		b = AppendString(b, userID)
	}
	return append(b, '}')
}

// AppendError appends a pusher:error frame; code 0 is sent as null.
func AppendError(b []byte, code int, message string) []byte {
	b = append(b, `{"event":"pusher:error","data":{"code":`...)
	if code == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(code), 10)
	}
	b = append(b, `,"message":`...)
	b = AppendString(b, message)
	return append(b, "}}"...)
}

// ConnectionEstablished returns the handshake frame.
func ConnectionEstablished(socketID string, activityTimeoutSeconds int) []byte {
	data := make([]byte, 0, 64)
	data = append(data, `{"socket_id":`...)
	data = AppendString(data, socketID)
	data = append(data, `,"activity_timeout":`...)
	data = strconv.AppendInt(data, int64(activityTimeoutSeconds), 10)
	data = append(data, '}')
	return AppendEvent(make([]byte, 0, 128), EventConnectionEstablished, "", string(data), "")
}

// Pong and Ping are the heartbeat frames. Pusher sends their data as "{}".
var (
	PongFrame = []byte(`{"event":"pusher:pong","data":"{}"}`)
	PingFrame = []byte(`{"event":"pusher:ping","data":"{}"}`)
)

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, and
// U+2028/U+2029 are escaped so the output is also valid JavaScript.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"
