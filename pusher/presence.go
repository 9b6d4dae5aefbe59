package pusher

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Presence limits.
const (
	// MaxUserIDLength is the longest user id accepted.
	MaxUserIDLength = 128
	// MaxUserInfoSize is the largest user_info object accepted, in bytes.
	MaxUserInfoSize = 2048
)

// Member is one user of a presence channel. Info is the raw user_info JSON
// (nil when the client sent none).
type Member struct {
	UserID string
	Info   json.RawMessage
}

// ErrBadChannelData is returned for channel_data that is not an object
// with a user_id, or is too large.
var ErrBadChannelData = errors.New("invalid channel_data: it must be a JSON object with a user_id")

// ParseChannelData reads presence channel_data. user_id may be a string or
// a number (both are common); it is kept as a string. user_info is
// optional, as it is for Pusher (webman required it: fixed).
func ParseChannelData(s string) (Member, error) {
	var raw struct {
		UserID   json.RawMessage `json:"user_id"`
		UserInfo json.RawMessage `json:"user_info"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return Member{}, ErrBadChannelData
	}
	id, ok := userIDString(raw.UserID)
	if !ok || id == "" || len(id) > MaxUserIDLength {
		return Member{}, ErrBadChannelData
	}
	m := Member{UserID: id}
	if len(raw.UserInfo) > 0 && !bytes.Equal(raw.UserInfo, []byte("null")) {
		if len(raw.UserInfo) > MaxUserInfoSize {
			return Member{}, ErrBadChannelData
		}
		m.Info = raw.UserInfo
	}
	return m, nil
}

func userIDString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", false
	}
	if _, err := strconv.ParseFloat(string(n), 64); err != nil {
		return "", false
	}
	return string(n), true
}

// AppendMemberData appends the data string of member_added:
// {"user_id":"1","user_info":{...}}.
func AppendMemberData(b []byte, m Member) []byte {
	b = append(b, `{"user_id":`...)
	b = AppendString(b, m.UserID)
	if m.Info != nil {
		b = append(b, `,"user_info":`...)
		b = append(b, m.Info...)
	}
	return append(b, '}')
}

// AppendPresenceData appends the subscription_succeeded data of a presence
// channel: {"presence":{"ids":[...],"hash":{id:info},"count":n}}.
func AppendPresenceData(b []byte, members []Member) []byte {
	b = append(b, `{"presence":{"ids":[`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, m.UserID)
	}
	b = append(b, `],"hash":{`...)
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, m.UserID)
		b = append(b, ':')
		if m.Info == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, m.Info...)
		}
	}
	b = append(b, `},"count":`...)
	b = strconv.AppendInt(b, int64(len(members)), 10)
	return append(b, "}}"...)
}

// MaxWatchlist is the most user ids a signed-in user may watch.
const MaxWatchlist = 100

// UserData is the user object of a pusher:signin.
type UserData struct {
	ID        string          `json:"id"`
	UserInfo  json.RawMessage `json:"user_info,omitempty"`
	Watchlist []string        `json:"watchlist,omitempty"`
}

// ParseUserData reads signin user_data: a JSON object with a non-empty
// string id and an optional watchlist of at most 100 ids.
func ParseUserData(s string) (UserData, error) {
	var u UserData
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		return u, errors.New("user_data must be a JSON object with a string id")
	}
	if u.ID == "" || len(u.ID) > MaxUserIDLength {
		return u, errors.New("user_data needs a non-empty string id of at most 128 characters")
	}
	if len(u.Watchlist) > MaxWatchlist {
		return u, errors.New("a watchlist holds at most 100 user ids")
	}
	return u, nil
}
