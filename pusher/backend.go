package pusher

import (
	"encoding/json"
	"errors"
)

// Helpers for Go backends that serve the auth endpoints pusher-js and
// Herald's client call (channel authorisation and user authentication).

// ChannelAuthResponse is what a channel-auth endpoint answers, as JSON.
type ChannelAuthResponse struct {
	Auth        string `json:"auth"`
	ChannelData string `json:"channel_data,omitempty"`
}

// PresenceMember is the user a presence subscription joins as.
type PresenceMember struct {
	UserID   string `json:"user_id"`
	UserInfo any    `json:"user_info,omitempty"`
}

// Errors of the backend helpers.
var (
	ErrBadSocketID    = errors.New("invalid socket_id")
	ErrBadChannelName = errors.New("invalid channel name")
	ErrNoAuthNeeded   = errors.New("only private and presence channels are signed")
	ErrNeedsMember    = errors.New("presence channels need a member with a user_id")
	ErrBadUserID      = errors.New("user data needs a non-empty id")
)

// AuthorizeChannel signs a private or presence subscription of socketID to
// channel. member is required for presence channels and ignored otherwise.
// Public channels, which need no signature, are refused (ErrNoAuthNeeded).
func AuthorizeChannel(key, secret, socketID, channel string, member *PresenceMember) (ChannelAuthResponse, error) {
	if !ValidSocketID(socketID) {
		return ChannelAuthResponse{}, ErrBadSocketID
	}
	if !ValidChannelName(channel) {
		return ChannelAuthResponse{}, ErrBadChannelName
	}
	if !Kind(channel).NeedsAuth() {
		return ChannelAuthResponse{}, ErrNoAuthNeeded
	}
	if Kind(channel) != Presence {
		return ChannelAuthResponse{Auth: ChannelAuth(key, secret, socketID, channel, "")}, nil
	}
	if member == nil || member.UserID == "" {
		return ChannelAuthResponse{}, ErrNeedsMember
	}
	cd, err := json.Marshal(member)
	if err != nil {
		return ChannelAuthResponse{}, err
	}
	return ChannelAuthResponse{Auth: ChannelAuth(key, secret, socketID, channel, string(cd)), ChannelData: string(cd)}, nil
}

// UserAuthResponse is what a user-authentication (signin) endpoint answers.
type UserAuthResponse struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

// AuthenticateUser signs a pusher:signin of socketID as user.
func AuthenticateUser(key, secret, socketID string, user UserData) (UserAuthResponse, error) {
	if !ValidSocketID(socketID) {
		return UserAuthResponse{}, ErrBadSocketID
	}
	if user.ID == "" {
		return UserAuthResponse{}, ErrBadUserID
	}
	ud, err := json.Marshal(user)
	if err != nil {
		return UserAuthResponse{}, err
	}
	return UserAuthResponse{Auth: UserAuth(key, secret, socketID, string(ud)), UserData: string(ud)}, nil
}
