package pusher

import "strings"

// ChannelKind is the type of a channel, given by its name's prefix.
type ChannelKind uint8

const (
	// Public channels need no authorisation.
	Public ChannelKind = iota
	// Private channels ("private-") need a signature of socket_id:channel.
	Private
	// Presence channels ("presence-") also carry a member list.
	Presence
	// Encrypted channels ("private-encrypted-") are routed as private ones;
	// clients may not send client events on them.
	Encrypted
	// ServerToUser is "#server-to-user-{id}": reached by signed-in
	// connections only, never subscribable by clients.
	ServerToUser
)

// Channel name limits, as Pusher's SDKs enforce them.
const (
	MaxChannelNameLength = 200
	MaxEventNameLength   = 200
	// MaxDataSize is the largest "data" an event may carry (10 KB).
	MaxDataSize = 10 * 1024
	// MaxChannelsPerTrigger is the most channels one API event may name.
	MaxChannelsPerTrigger = 100
	// MaxBatchSize is the most events in one batch_events request.
	MaxBatchSize = 10
	// ServerToUserPrefix names the per-user pseudo-channel.
	ServerToUserPrefix = "#server-to-user-"
)

// Kind returns the kind of the channel called name.
func Kind(name string) ChannelKind {
	switch {
	case strings.HasPrefix(name, "private-encrypted-"):
		return Encrypted
	case strings.HasPrefix(name, "private-"):
		return Private
	case strings.HasPrefix(name, "presence-"):
		return Presence
	case strings.HasPrefix(name, ServerToUserPrefix):
		return ServerToUser
	}
	return Public
}

// NeedsAuth reports whether subscribing requires a signature.
func (k ChannelKind) NeedsAuth() bool { return k == Private || k == Presence || k == Encrypted }

// AllowsClientEvents reports whether clients may send client- events on it.
func (k ChannelKind) AllowsClientEvents() bool { return k == Private || k == Presence }

// String names the kind.
func (k ChannelKind) String() string {
	switch k {
	case Private:
		return "private"
	case Presence:
		return "presence"
	case Encrypted:
		return "private-encrypted"
	case ServerToUser:
		return "server-to-user"
	}
	return "public"
}

// IsCache reports whether name is a cache channel (cache-, private-cache-,
// presence-cache-, private-encrypted-cache-).
func IsCache(name string) bool {
	for _, p := range [...]string{"cache-", "private-cache-", "presence-cache-", "private-encrypted-cache-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// ValidChannelName reports whether name is 1..200 characters of Pusher's
// charset [A-Za-z0-9_\-=@,.;]. Server-to-user names (with '#') are checked
// by ValidServerChannel.
func ValidChannelName(name string) bool {
	if len(name) == 0 || len(name) > MaxChannelNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i]) {
			return false
		}
	}
	return true
}

// ValidServerChannel reports whether a backend may publish to name: any
// valid channel name, or #server-to-user-{id} with a valid id.
func ValidServerChannel(name string) bool {
	if id, ok := strings.CutPrefix(name, ServerToUserPrefix); ok {
		return len(name) <= MaxChannelNameLength && ValidChannelName(id)
	}
	return ValidChannelName(name)
}

// ValidEventName reports whether name is 1..200 bytes with no control chars.
func ValidEventName(name string) bool {
	if len(name) == 0 || len(name) > MaxEventNameLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return false
		}
	}
	return true
}

func nameChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '_', '-', '=', '@', ',', '.', ';':
		return true
	}
	return false
}
