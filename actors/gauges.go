package actors

import (
	"sync/atomic"

	"github.com/herald-push/herald/pusher"
)

// ChannelClass groups channels for metrics: by kind, with every cache
// channel (cache-, private-cache-, presence-cache-,
// private-encrypted-cache-) in a class of its own.
type ChannelClass uint8

// The channel classes.
const (
	ClassPublic ChannelClass = iota
	ClassPrivate
	ClassPresence
	ClassEncrypted
	ClassCache
	NumClasses // the number of classes, for arrays indexed by class
)

// ClassOf returns the class of the channel called name.
func ClassOf(name string) ChannelClass {
	if pusher.IsCache(name) {
		return ClassCache
	}
	switch pusher.Kind(name) {
	case pusher.Private:
		return ClassPrivate
	case pusher.Presence:
		return ClassPresence
	case pusher.Encrypted:
		return ClassEncrypted
	}
	return ClassPublic
}

// String names the class: public, private, presence, encrypted or cache.
func (c ChannelClass) String() string {
	switch c {
	case ClassPrivate:
		return "private"
	case ClassPresence:
		return "presence"
	case ClassEncrypted:
		return "encrypted"
	case ClassCache:
		return "cache"
	}
	return "public"
}

// Gauges are an app's live subscription and channel counts on this node,
// by class. Its channel actors keep them, on every subscribe and leave,
// with atomics: metrics read them at any time without asking an actor, and
// nothing is counted per delivered frame. A channel counts while it has a
// subscriber here.
type Gauges struct {
	subscriptions [NumClasses]atomic.Int64
	channels      [NumClasses]atomic.Int64
}

// Subscriptions returns the subscriptions to channels of class c.
func (g *Gauges) Subscriptions(c ChannelClass) int64 { return g.subscriptions[c].Load() }

// Channels returns the channels of class c with a subscriber.
func (g *Gauges) Channels(c ChannelClass) int64 { return g.channels[c].Load() }

// subscribed counts a subscriber added to a channel of class c, which now
// has n.
func (g *Gauges) subscribed(c ChannelClass, n int) {
	g.subscriptions[c].Add(1)
	if n == 1 {
		g.channels[c].Add(1)
	}
}

// unsubscribed counts a subscriber removed from a channel of class c,
// which now has n.
func (g *Gauges) unsubscribed(c ChannelClass, n int) {
	g.subscriptions[c].Add(-1)
	if n == 0 {
		g.channels[c].Add(-1)
	}
}

// stopped uncounts a channel of class c that stopped with n subscribers.
func (g *Gauges) stopped(c ChannelClass, n int) {
	if n > 0 {
		g.subscriptions[c].Add(int64(-n))
		g.channels[c].Add(-1)
	}
}
