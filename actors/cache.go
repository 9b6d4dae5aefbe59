package actors

import "time"

// cacheStore keeps the last event of each cache channel for a TTL (the
// app's cache_ttl when the event was published), whether or not the
// channel is occupied (a late subscriber gets it). Owned by one app actor,
// which routes every publish and every Join, so a subscriber always gets
// the event published just before it joined.
type cacheStore struct {
	entries   map[string]*cacheEntry
	nextSweep int // sweep expired entries when the map grows past this
}

type cacheEntry struct {
	frame   []byte // the encoded event, sent as it is to a new subscriber
	event   string
	data    string
	expires time.Time
}

func newCacheStore() *cacheStore {
	return &cacheStore{entries: map[string]*cacheEntry{}, nextSweep: 64}
}

func (c *cacheStore) put(channel, event, data string, frame []byte, now time.Time, ttl time.Duration) {
	c.entries[channel] = &cacheEntry{frame: frame, event: event, data: data, expires: now.Add(ttl)}
	if len(c.entries) >= c.nextSweep {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		c.nextSweep = 2*len(c.entries) + 64
	}
}

// get returns the live entry of channel, or nil.
func (c *cacheStore) get(channel string, now time.Time) *cacheEntry {
	e := c.entries[channel]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		delete(c.entries, channel)
		return nil
	}
	return e
}
