package transport

import (
	"sync"
	"time"
)

// rateLimit is a token bucket of rate tokens a second holding at most one
// second's worth. A request is let through while the bucket is not empty
// and spends all it counts, going into debt if it counts more than is left:
// a batch larger than a second's rate still passes, and the rate holds on
// average. The API handler keeps one per app and kind of request.
type rateLimit struct {
	rate float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// newRateLimit returns nil (no limit) for rate <= 0.
func newRateLimit(rate int) *rateLimit {
	if rate <= 0 {
		return nil
	}
	return &rateLimit{rate: float64(rate), tokens: float64(rate)}
}

// take spends n tokens if the bucket holds at least one. A nil limit always allows.
func (l *rateLimit) take(n int, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens -= float64(n)
	return true
}

// rateIs reports whether l limits to rate a second (a nil limit: no limit,
// rate <= 0).
func (l *rateLimit) rateIs(rate int) bool {
	if l == nil {
		return rate <= 0
	}
	return l.rate == float64(rate)
}
