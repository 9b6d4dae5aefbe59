package pusher

import (
	"strings"
	"testing"
)

func TestKind(t *testing.T) {
	cases := map[string]ChannelKind{
		"news": Public, "private-a": Private, "presence-a": Presence,
		"private-encrypted-a": Encrypted, "#server-to-user-1": ServerToUser,
		"privatex": Public, "cache-a": Public, "private-cache-a": Private, "presence-cache-a": Presence,
	}
	for name, want := range cases {
		if got := Kind(name); got != want {
			t.Errorf("Kind(%q) = %v, want %v", name, got, want)
		}
	}
	if !Encrypted.NeedsAuth() || Encrypted.AllowsClientEvents() || !Presence.AllowsClientEvents() || Public.NeedsAuth() {
		t.Error("kind rules")
	}
}

func TestValidChannelName(t *testing.T) {
	ok := []string{"a", "user-1", "A_Z-09=@,.;", "private-" + strings.Repeat("x", 192)}
	bad := []string{"", "a b", "a/b", "#server-to-user-1", "ü", "a:b", strings.Repeat("x", 201)}
	for _, n := range ok {
		if !ValidChannelName(n) {
			t.Errorf("%q refused", n)
		}
	}
	for _, n := range bad {
		if ValidChannelName(n) {
			t.Errorf("%q accepted", n)
		}
	}
	if !ValidServerChannel("#server-to-user-42") || ValidServerChannel("#server-to-user-") || ValidServerChannel("#other") {
		t.Error("server channel rules")
	}
	if !IsCache("presence-cache-x") || IsCache("cachex") {
		t.Error("cache rules")
	}
}

func TestValidEventName(t *testing.T) {
	// Laravel's default event names contain backslashes: they must pass.
	for _, n := range []string{"message", `App\Events\OrderShipped`, "client-typing", strings.Repeat("e", 200)} {
		if !ValidEventName(n) {
			t.Errorf("%q refused", n)
		}
	}
	for _, n := range []string{"", "a\nb", strings.Repeat("e", 201)} {
		if ValidEventName(n) {
			t.Errorf("%q accepted", n)
		}
	}
}
