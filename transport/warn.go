package transport

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// warnLimiter logs refusals and accept errors at warn, at most one line per
// cause a second: a flood of refusals costs one line a second, which says
// how many it stands for.
type warnLimiter struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	causes map[string]*warnCount
}

type warnCount struct {
	last time.Time
	n    int // occurrences since the last line
}

func newWarnLimiter(log *slog.Logger) *warnLimiter {
	return &warnLimiter{log: log, every: time.Second, now: time.Now, causes: make(map[string]*warnCount)}
}

// note counts one occurrence of cause and writes msg if the cause had no
// line in the last second. The set of causes is fixed by the callers, so
// the map stays small.
func (w *warnLimiter) note(msg, cause string) {
	now := w.now()
	w.mu.Lock()
	c := w.causes[cause]
	if c == nil {
		c = &warnCount{}
		w.causes[cause] = c
	}
	c.n++
	if now.Sub(c.last) < w.every {
		w.mu.Unlock()
		return
	}
	n := c.n
	c.n, c.last = 0, now
	w.mu.Unlock()
	w.log.Warn(msg, "cause", cause, "count", n)
}

// warnListener logs Accept's errors (running out of file descriptors,
// above all) through a warnLimiter; http.Server retries them.
type warnListener struct {
	net.Listener
	warn *warnLimiter
}

func (l warnListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		l.warn.note("listener: accept failed: "+err.Error(), "accept")
	}
	return c, err
}
