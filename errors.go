package herald

import (
	"errors"

	"github.com/herald-push/herald/actors"
)

// Errors of the embedding API (Publish, Subscribe, WatchFacts, …). Each is
// returned wrapped with what it is about (errors.Is finds it), and sent
// back in Done.Err when the command came as a message. A refused or lost
// subscription is a *SubscriptionError instead.
var (
	// ErrNotRunning: the broker is not running (before Start returned, or
	// from Shutdown on).
	ErrNotRunning = errors.New("the broker is not running")
	// ErrUnknownApp: no app has the key given.
	ErrUnknownApp = actors.ErrUnknownApp
	// ErrInvalidEvent: an event name must be 1 to 200 characters.
	ErrInvalidEvent = errors.New("invalid event name: 1 to 200 characters")
	// ErrInvalidChannel: a channel name must be 1 to 200 characters of
	// A-Z a-z 0-9 _ - = @ , . ; (or #server-to-user-{id} to publish to a
	// signed-in user).
	ErrInvalidChannel = errors.New("invalid channel name")
	// ErrNoChannels: an event needs 1 to 100 channels.
	ErrNoChannels = errors.New("no channel")
	// ErrTooManyChannels: an event names at most 100 channels.
	ErrTooManyChannels = errors.New("more than 100 channels")
	// ErrDataTooLarge: an event's data is at most 10 KB, as for Pusher.
	ErrDataTooLarge = errors.New("data is larger than 10 KB")
	// ErrInvalidSocketID: an excluded socket id looks like 123.456.
	ErrInvalidSocketID = errors.New("invalid socket id")
	// ErrNoActor: a subscriber or watcher PID is required (a message sent
	// with a sender defaults to it).
	ErrNoActor = errors.New("no actor: give a PID")
	// ErrInvalidMember: a presence subscriber needs a UserID of at most
	// 128 bytes and a UserInfo that encodes to a JSON value of at most
	// 2 KB.
	ErrInvalidMember = errors.New("invalid presence member")
)
