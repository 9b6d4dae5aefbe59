package actors

import "time"

// tokenBucket limits client events per connection: rate tokens a second,
// bursts of at most rate. Owned by one connection actor.
type tokenBucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate int, now time.Time) tokenBucket {
	return tokenBucket{rate: float64(rate), tokens: float64(rate), last: now}
}

// allow takes a token if one is left, at rate tokens a second: a rate
// changed by a reload applies from now on (the tokens left stay, capped).
func (b *tokenBucket) allow(now time.Time, rate int) bool {
	b.rate = float64(rate)
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * b.rate
	}
	b.tokens = min(b.tokens, b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
