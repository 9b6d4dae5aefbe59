package actors

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/herald-push/herald/pusher"
)

// Channel history (docs/recovery.md). The channel's authority numbers
// every event it publishes on a channel with history (its offset, in the
// frame once, before the frame is shared) and keeps the last ones in a
// ring. A subscriber that re-subscribes with the epoch and offset it last
// saw gets the events after it, in order, in the same turn as its join,
// so that the live stream continues exactly where the replay ends; or, if
// the ring no longer reaches back that far or its epoch changed, nothing
// but the news that recovery failed. The authority is the app actor in
// single-node mode (its rings outlive the channel actors, which stop with
// their last subscriber) and the channel's grain in a cluster.

// HistoryConfig is an app's channel history, as the actors take it.
type HistoryConfig struct {
	// Size is the number of events kept per channel; 0 turns history off.
	Size int
	// TTL is how long an event is kept, and how long a channel without
	// subscribers keeps its history; required with Size.
	TTL time.Duration
	// Prefixes limits history to the channels whose names start with one
	// of them, separated by spaces (which no channel name holds, so the
	// config stays comparable); empty means every channel.
	Prefixes string
	// MaxReplayFrames and MaxReplayBytes bound one recovery: the events a
	// joining subscriber would be sent at once must fit in them (half the
	// socket's write queue, so the replay never cuts the socket with
	// 4100), or the recovery fails; required with Size.
	MaxReplayFrames, MaxReplayBytes int
}

// on reports whether channel keeps history.
func (h *HistoryConfig) on(channel string) bool {
	if h.Size <= 0 || strings.HasPrefix(channel, "#") { // #server-to-user-, #watch-: not channels
		return false
	}
	if h.Prefixes == "" {
		return true
	}
	for p := range strings.SplitSeq(h.Prefixes, " ") {
		if p != "" && strings.HasPrefix(channel, p) {
			return true
		}
	}
	return false
}

// newEpoch names a new stream: any value a previous stream of the channel
// cannot have had.
func newEpoch() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// historyRing is one channel's stream: its epoch, the offset of its
// newest event, and the last events (at most size) with when they were
// published. Offsets are consecutive, so the oldest event held is
// last-n+1. The ring grows as events come, so a channel with few events
// costs few.
type historyRing struct {
	epoch   string
	last    uint64
	size    int
	frames  [][]byte    // circular once full, oldest at start
	at      []time.Time // publish times, beside frames
	start   int
	n       int
	touched time.Time // the last publish, join or vacancy: an idle ring is dropped ttl after it
}

func newHistoryRing(size int, now time.Time) *historyRing {
	return &historyRing{epoch: newEpoch(), size: size, touched: now}
}

// position is the epoch and the newest offset.
func (r *historyRing) position() pusher.Position {
	return pusher.Position{Epoch: r.epoch, Offset: r.last}
}

// add numbers frame with the next offset and keeps it, dropping the
// oldest event when the ring is full. It returns the frame as sent, with
// its offset (frame itself must not be used again), and the offset.
func (r *historyRing) add(frame []byte, now time.Time) ([]byte, uint64) {
	r.last++
	frame = pusher.AppendOffset(frame, r.last)
	r.touched = now
	if r.n < len(r.frames) || r.start != 0 && len(r.frames) < r.size {
		r.compact() // trimmed (or resized): close the gap first
	}
	if len(r.frames) < r.size {
		r.frames, r.at = append(r.frames, frame), append(r.at, now)
		r.n++
		return frame, r.last
	}
	// Full: the newest takes the oldest's place.
	r.frames[r.start], r.at[r.start] = frame, now
	r.start = (r.start + 1) % len(r.frames)
	return frame, r.last
}

// trim drops the events published ttl ago or earlier.
func (r *historyRing) trim(now time.Time, ttl time.Duration) {
	for r.n > 0 && !now.Before(r.at[r.start].Add(ttl)) {
		r.frames[r.start], r.at[r.start] = nil, time.Time{}
		r.start = (r.start + 1) % len(r.frames)
		r.n--
	}
	if r.n == 0 {
		r.frames, r.at, r.start = nil, nil, 0
	}
}

// compact lays the events held out from index 0 with no room behind them,
// so that the ring can grow by appending.
func (r *historyRing) compact() {
	frames, at := make([][]byte, r.n, r.n+1), make([]time.Time, r.n, r.n+1)
	for k := range r.n {
		j := (r.start + k) % len(r.frames)
		frames[k], at[k] = r.frames[j], r.at[j]
	}
	r.frames, r.at, r.start = frames, at, 0
}

// resize keeps the newest events that fit in size (a reload changed it).
func (r *historyRing) resize(size int) {
	if size == r.size {
		return
	}
	r.size = size
	if r.n > size {
		for range r.n - size {
			r.frames[r.start], r.at[r.start] = nil, time.Time{}
			r.start = (r.start + 1) % len(r.frames)
			r.n--
		}
	}
	r.compact()
}

// since returns the events after from, in order, and whether that is all
// of them: from must be of this epoch, not ahead of the stream, and the
// ring must still hold every event after it, within the replay bounds of
// h. A recovery is never partial: when it fails, no event is returned.
func (r *historyRing) since(from pusher.Position, now time.Time, h *HistoryConfig) ([][]byte, bool) {
	r.trim(now, h.TTL)
	if from.Epoch != r.epoch || from.Offset > r.last {
		return nil, false
	}
	missed := r.last - from.Offset
	if missed == 0 {
		return nil, true
	}
	if missed > uint64(r.n) || missed > uint64(h.MaxReplayFrames) { //nolint:gosec // G115: n and the bound are small and positive
		return nil, false
	}
	out := make([][]byte, 0, missed)
	bytes := 0
	for k := r.n - int(missed); k < r.n; k++ { //nolint:gosec // G115: missed <= n
		f := r.frames[(r.start+k)%len(r.frames)]
		if bytes += len(f); bytes > h.MaxReplayBytes {
			return nil, false
		}
		out = append(out, f)
	}
	return out, true
}

// join answers a subscriber joining with what its subscription_succeeded
// says (the position, and the recovery's outcome when it asked for one)
// and the events it missed.
func (r *historyRing) join(from *pusher.Position, now time.Time, h *HistoryConfig) *JoinHistory {
	r.touched = now
	jh := &JoinHistory{Position: r.position()}
	if from == nil {
		r.trim(now, h.TTL)
		return jh
	}
	missed, ok := r.since(*from, now, h)
	jh.Recovery, jh.Missed = pusher.NotRecovered, nil
	if ok {
		jh.Recovery, jh.Missed = pusher.Recovered, missed
	}
	return jh
}

// historyStore is the single-node authority's rings, by channel: one app
// actor's, which routes every publish and every join of its channels. A
// channel's ring lives while the channel is occupied and for the ttl
// after its last publish or its last subscriber left; memory is bounded
// by history.size events times the channels with history.
type historyStore struct {
	rings     map[string]*historyRing
	nextSweep int // sweep idle rings when the map grows past this
}

func newHistoryStore() *historyStore {
	return &historyStore{rings: make(map[string]*historyRing), nextSweep: 64}
}

// ring returns channel's ring, a new one (a new epoch) when it has none or
// its last one was idle past the ttl. occupied tells whether a channel has
// subscribers, whose ring is never idle.
func (s *historyStore) ring(channel string, now time.Time, h *HistoryConfig, occupied func(string) bool) *historyRing {
	r := s.rings[channel]
	if r != nil && !occupied(channel) && !now.Before(r.touched.Add(h.TTL)) {
		r = nil
	}
	if r == nil {
		r = newHistoryRing(h.Size, now)
		s.rings[channel] = r
		if len(s.rings) >= s.nextSweep {
			s.sweep(now, h, occupied)
		}
	}
	r.resize(h.Size)
	return r
}

// peek returns channel's ring, nil when it has none or only one idle past
// the ttl (an API query makes none).
func (s *historyStore) peek(channel string, now time.Time, h *HistoryConfig, occupied func(string) bool) *historyRing {
	r := s.rings[channel]
	if r == nil || !occupied(channel) && !now.Before(r.touched.Add(h.TTL)) {
		return nil
	}
	r.trim(now, h.TTL)
	return r
}

// sweep drops the rings of channels without subscribers idle past the ttl.
func (s *historyStore) sweep(now time.Time, h *HistoryConfig, occupied func(string) bool) {
	for name, r := range s.rings {
		if !occupied(name) && !now.Before(r.touched.Add(h.TTL)) {
			delete(s.rings, name)
		}
	}
	s.nextSweep = 2*len(s.rings) + 64
}

// vacated starts the ttl of a channel whose last subscriber left.
func (s *historyStore) vacated(channel string, now time.Time) {
	if r := s.rings[channel]; r != nil {
		r.touched = now
	}
}

// subscribedFrame is the subscription_succeeded frame, with the stream's
// position (and the recovery's outcome) on a channel with history.
func subscribedFrame(channel, data string, h *JoinHistory) []byte {
	f := pusher.AppendEvent(nil, pusher.EventSubscriptionSucceeded, channel, data, "")
	if h != nil {
		f = pusher.AppendPosition(f, h.Position, h.Recovery)
	}
	return f
}

// answerJoin writes subscription_succeeded and then the events the joiner
// missed, in order, to its socket.
func answerJoin(out Outbound, channel, data string, h *JoinHistory) {
	out.Send(subscribedFrame(channel, data, h))
	if h != nil {
		for _, f := range h.Missed {
			out.Send(f)
		}
	}
}
