package transport

import (
	"sync"
	"time"

	"github.com/herald-push/herald/actors"
)

// burstWait bounds how long a burst holds its frames should one of its
// Publishes never reach a channel (the channel actor stopped meanwhile).
const burstWait = 2 * time.Millisecond

// burst is Broadcaster's actors.Burst: it holds the sockets whose frames
// wait for it, and starts their writers when its last channel is done, or
// from its timer's goroutine (which ends with that) after burstWait.
type burst struct {
	mu    sync.Mutex
	left  int       // Publishes not done yet
	socks []*socket // sockets whose writer waits for the burst
	ended bool
	timer *time.Timer
}

// burstFrame is a sharedFrame of a burst.
type burstFrame struct {
	frame sharedFrame
	b     *burst
}

// Release does nothing (the burst ends with Done).
func (burstFrame) Release() {}

// Share frames frame once, as Broadcaster does, for the burst.
func (b *burst) Share(frame []byte) actors.Shared {
	return burstFrame{frame: frameText(frame), b: b}
}

// hold adds s to the sockets released when the burst ends; false when it
// has ended. It is called with s.mu held: the lock order is socket, then
// burst.
func (b *burst) hold(s *socket) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return false
	}
	b.socks = append(b.socks, s)
	return true
}

// Done counts a channel that handed its frame to every subscriber; the
// last one ends the burst.
func (b *burst) Done() {
	b.mu.Lock()
	b.left--
	last := b.left == 0
	b.mu.Unlock()
	if last {
		b.timer.Stop()
		b.end()
	}
}

// end releases every held socket (once: Done's last call or the timer).
func (b *burst) end() {
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		return
	}
	b.ended = true
	socks := b.socks
	b.socks = nil
	b.mu.Unlock()
	for _, s := range socks {
		s.release()
	}
}

// Burst starts a burst of n Publishes (actors.BurstFanout).
func (Broadcaster) Burst(n int) actors.Burst {
	b := &burst{left: n}
	b.timer = time.AfterFunc(burstWait, b.end)
	return b
}
