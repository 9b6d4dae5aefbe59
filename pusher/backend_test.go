package pusher

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestAuthorizeChannel(t *testing.T) {
	const key, secret = "app-key", "app-secret"
	alice := &PresenceMember{UserID: "alice", UserInfo: map[string]string{"name": "Alice <b>"}}
	cases := []struct {
		name, socketID, channel string
		member                  *PresenceMember
		err                     error
		userID, info            string // presence: what channel_data holds
	}{
		{"private", "1.42", "private-room", nil, nil, "", ""},
		{"private ignores member", "1.42", "private-room", alice, nil, "", ""},
		{"encrypted signed as private", "1.42", "private-encrypted-room", nil, nil, "", ""},
		{"presence", "3.4", "presence-room", alice, nil, "alice", `{"name":"Alice <b>"}`},
		{"presence without info", "3.4", "presence-room", &PresenceMember{UserID: "42"}, nil, "42", ""},
		{"presence needs member", "3.4", "presence-room", nil, ErrNeedsMember, "", ""},
		{"presence needs user id", "3.4", "presence-room", &PresenceMember{}, ErrNeedsMember, "", ""},
		{"public", "1.42", "room", nil, ErrNoAuthNeeded, "", ""},
		{"cache public", "1.42", "cache-room", nil, ErrNoAuthNeeded, "", ""},
		{"server to user", "1.42", "#server-to-user-alice", nil, ErrBadChannelName, "", ""},
		{"bad channel chars", "1.42", "private-a b", nil, ErrBadChannelName, "", ""},
		{"empty channel", "1.42", "", nil, ErrBadChannelName, "", ""},
		{"long channel", "1.42", "private-" + strings.Repeat("x", MaxChannelNameLength), nil, ErrBadChannelName, "", ""},
		{"socket id without dot", "142", "private-room", nil, ErrBadSocketID, "", ""},
		{"socket id with letters", "1.4a", "private-room", nil, ErrBadSocketID, "", ""},
		{"empty socket id", "", "private-room", nil, ErrBadSocketID, "", ""},
		{"socket id with newline", "1.42\n", "private-room", nil, ErrBadSocketID, "", ""},
	}
	for _, c := range cases {
		res, err := AuthorizeChannel(key, secret, c.socketID, c.channel, c.member)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil {
			if res != (ChannelAuthResponse{}) {
				t.Errorf("%s: refused but answered %+v", c.name, res)
			}
			continue
		}
		if !VerifyAuth(key, res.Auth, ChannelSignature(secret, c.socketID, c.channel, res.ChannelData)) {
			t.Errorf("%s: auth %q does not verify", c.name, res.Auth)
		}
		if VerifyAuth(key, res.Auth, ChannelSignature(secret, c.socketID+"1", c.channel, res.ChannelData)) {
			t.Errorf("%s: auth %q verifies for another socket", c.name, res.Auth)
		}
		if c.userID == "" {
			if res.ChannelData != "" {
				t.Errorf("%s: channel_data %q on a non-presence channel", c.name, res.ChannelData)
			}
			continue
		}
		m, err := ParseChannelData(res.ChannelData)
		if err != nil {
			t.Errorf("%s: channel_data %q: %v", c.name, res.ChannelData, err)
			continue
		}
		if m.UserID != c.userID || !sameJSON(m.Info, c.info) {
			t.Errorf("%s: channel_data gave %q %s, want %q %s", c.name, m.UserID, m.Info, c.userID, c.info)
		}
	}
}

// sameJSON reports whether raw holds the JSON value want ("" for none).
func sameJSON(raw json.RawMessage, want string) bool {
	if len(raw) == 0 || want == "" {
		return len(raw) == 0 && want == ""
	}
	var a, b any
	return json.Unmarshal(raw, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && reflect.DeepEqual(a, b)
}

func TestAuthenticateUser(t *testing.T) {
	const key, secret = "app-key", "app-secret"
	cases := []struct {
		name, socketID string
		user           UserData
		err            error
	}{
		{"plain", "1.42", UserData{ID: "alice"}, nil},
		{"info and watchlist", "1.42", UserData{ID: "alice", UserInfo: json.RawMessage(`{"name":"Alice"}`), Watchlist: []string{"bob", "carol"}}, nil},
		{"empty id", "1.42", UserData{}, ErrBadUserID},
		{"bad socket id", "1-42", UserData{ID: "alice"}, ErrBadSocketID},
		{"empty socket id", "", UserData{ID: "alice"}, ErrBadSocketID},
	}
	for _, c := range cases {
		res, err := AuthenticateUser(key, secret, c.socketID, c.user)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil {
			if res != (UserAuthResponse{}) {
				t.Errorf("%s: refused but answered %+v", c.name, res)
			}
			continue
		}
		if !VerifyAuth(key, res.Auth, UserSignature(secret, c.socketID, res.UserData)) {
			t.Errorf("%s: auth %q does not verify", c.name, res.Auth)
		}
		if VerifyAuth(key, res.Auth, UserSignature("other-secret", c.socketID, res.UserData)) {
			t.Errorf("%s: auth %q verifies under another secret", c.name, res.Auth)
		}
		u, err := ParseUserData(res.UserData)
		if err != nil {
			t.Errorf("%s: user_data %q: %v", c.name, res.UserData, err)
			continue
		}
		if u.ID != c.user.ID || string(u.UserInfo) != string(c.user.UserInfo) || strings.Join(u.Watchlist, ",") != strings.Join(c.user.Watchlist, ",") {
			t.Errorf("%s: user_data %q round-trips to %+v", c.name, res.UserData, u)
		}
	}
}
