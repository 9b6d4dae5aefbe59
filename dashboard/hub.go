package dashboard

import (
	"sync"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
)

// Bounds of the hub: what it holds never grows with traffic.
const (
	// DefaultRecent is how many observations the hub keeps for a
	// dashboard that opens (or filters) after they happened.
	DefaultRecent = 1000
	// DefaultClientBuffer is how many observations wait for one dashboard
	// client; past it that client's newest are dropped and counted.
	DefaultClientBuffer = 512
	// maxStreams caps the open event streams; more get 503.
	maxStreams = 16
	// maxApps bounds the per-app counters (apps are configured, so this
	// only guards against a reporter naming apps that do not exist).
	maxApps = 1024
)

// HubConfig configures NewHub. Zero values mean the defaults.
type HubConfig struct {
	// Recent is the number of observations kept (DefaultRecent).
	Recent int
	// ClientBuffer is the number of observations queued per dashboard
	// client (DefaultClientBuffer).
	ClientBuffer int
	// Now is the clock (time.Now); tests set it.
	Now func() time.Time
}

// Hub is an actors.Observer for the dashboard: it keeps the most recent
// observations in a ring, counts per app (connections, messages, API
// requests, webhook deliveries, retries and failures, errors, with their
// rates over the last seconds) and hands each observation to the
// dashboard clients that are streaming, each through its own bounded
// buffer.
//
// Observe never blocks and never waits for a client: it takes mu (and a
// client's own lock, briefly) to copy the observation in, and the
// client's stream goroutine takes what waits under that lock and writes
// it after releasing it. No lock is ever held across I/O.
type Hub struct {
	cfg  HubConfig
	done chan struct{} // closed by Close: every stream ends

	mu     sync.Mutex // guards every field below; lock order: mu, then a subscriber's mu
	ring   []entry    // the most recent observations, oldest at start
	start  int
	seq    uint64 // observations seen; the id of the newest
	apps   map[string]*appCounters
	subs   map[*subscriber]struct{}
	closed bool
}

// entry is one observation in the ring, with its sequence number (the
// stream's event id, so a reconnecting dashboard is not sent it twice).
type entry struct {
	seq uint64
	o   actors.Observation
}

// NewHub makes a hub; it starts no goroutine.
func NewHub(cfg HubConfig) *Hub {
	if cfg.Recent <= 0 {
		cfg.Recent = DefaultRecent
	}
	if cfg.ClientBuffer <= 0 {
		cfg.ClientBuffer = DefaultClientBuffer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Hub{cfg: cfg, done: make(chan struct{}), ring: make([]entry, 0, cfg.Recent),
		apps: make(map[string]*appCounters), subs: make(map[*subscriber]struct{})}
}

// Observe records o and passes it to every streaming client whose filter
// it matches. It copies o (clipping long fields) and keeps nothing of it.
func (h *Hub) Observe(o *actors.Observation) {
	c := clip(*o)
	if c.At.IsZero() {
		c.At = h.cfg.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e := entry{seq: h.seq, o: c}
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, e)
	} else {
		h.ring[h.start] = e
		h.start = (h.start + 1) % len(h.ring)
	}
	h.count(&c)
	for s := range h.subs {
		s.offer(&e)
	}
}

// Close ends every stream and refuses new ones; observations are still
// counted. It is called before the listeners shut down, so that
// http.Server.Shutdown does not wait for streams that never go idle.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// each calls fn on the ring's entries, oldest first. h.mu is held.
func (h *Hub) each(fn func(*entry)) {
	for i := range h.ring {
		fn(&h.ring[(h.start+i)%len(h.ring)])
	}
}

// subscribe registers a stream with filter f. Its buffer starts with the
// kept observations that match f and came after the one numbered after
// (0: all of them): the newest ClientBuffer of them. It fails once the
// hub is closed, or when maxStreams are open.
func (h *Hub) subscribe(f Filter, after uint64) (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, errClosed
	case len(h.subs) >= maxStreams:
		return nil, errTooMany
	}
	if after > h.seq { // an id from before a restart: send everything kept
		after = 0
	}
	var backlog []entry
	h.each(func(e *entry) {
		if e.seq > after && f.Match(&e.o) {
			backlog = append(backlog, *e)
		}
	})
	if n := len(backlog) - h.cfg.ClientBuffer; n > 0 {
		backlog = backlog[n:]
	}
	s := &subscriber{filter: f, max: h.cfg.ClientBuffer, wake: make(chan struct{}, 1), buf: backlog}
	if len(backlog) > 0 {
		s.wake <- struct{}{}
	}
	h.subs[s] = struct{}{}
	return s, nil
}

// unsubscribe removes a stream.
func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// streams returns the number of open streams.
func (h *Hub) streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// subscriber is one dashboard client's stream: the observations waiting
// for its goroutine, bounded by max. A client that does not keep up loses
// its own newest observations (counted in dropped and told to it), never
// anyone else's, and never slows Observe.
type subscriber struct {
	filter Filter
	max    int
	wake   chan struct{} // one slot: something waits in buf

	mu      sync.Mutex // guards buf and dropped; taken by Observe under Hub.mu and by the stream
	buf     []entry
	dropped int
}

// offer queues e if it matches the filter and there is room, or counts it
// as dropped, and wakes the stream. It never blocks.
func (s *subscriber) offer(e *entry) {
	if !s.filter.Match(&e.o) {
		return
	}
	s.mu.Lock()
	if len(s.buf) < s.max {
		s.buf = append(s.buf, *e)
	} else {
		s.dropped++
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns what waits and how many were dropped since the last take,
// and gives the subscriber spare (a slice the caller is done with) as its
// next buffer, so a busy stream does not allocate.
func (s *subscriber) take(spare []entry) ([]entry, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, dropped := s.buf, s.dropped
	s.buf, s.dropped = spare[:0], 0
	return out, dropped
}

// Limits on the fields of a kept observation: a few hundred bytes each,
// so the ring and the buffers stay small whatever reporters put in.
const (
	maxNameField   = 200 // channel, event, path
	maxShortField  = 100 // app, socket id, remote, method
	maxDetailField = 300
)

// clip returns o with its long fields cut.
func clip(o actors.Observation) actors.Observation {
	o.App = pusher.Truncate(o.App, maxShortField)
	o.Channel = pusher.Truncate(o.Channel, maxNameField)
	o.Event = pusher.Truncate(o.Event, maxNameField)
	o.SocketID = pusher.Truncate(o.SocketID, maxShortField)
	o.Remote = pusher.Truncate(o.Remote, maxShortField)
	o.Method = pusher.Truncate(o.Method, maxShortField)
	o.Path = pusher.Truncate(o.Path, maxNameField)
	o.Detail = pusher.Truncate(o.Detail, maxDetailField)
	return o
}
