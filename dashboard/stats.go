package dashboard

import (
	"time"

	"github.com/herald-push/herald/actors"
)

// rateWindow is the number of whole seconds a rate is averaged over.
const rateWindow = 10

// Rate is a count since start and its average per second over the last
// rateWindow whole seconds.
type Rate struct {
	Total     uint64  `json:"total"`
	PerSecond float64 `json:"per_second"`
}

// AppStats are an app's live counts, as the dashboard shows them. In a
// cluster they are this node's.
type AppStats struct {
	// Connections is the number of open connections.
	Connections int `json:"connections"`
	// Messages are events published through the API or in-process (one
	// per channel) and client events relayed.
	Messages Rate `json:"messages"`
	// APIRequests are requests to the HTTP API that named a known app.
	APIRequests Rate `json:"api_requests"`
	// Webhooks are webhook events delivered (in requests answered 2xx);
	// WebhookRetries the requests that failed and will be retried;
	// WebhookFailures the events dropped. They count what the metrics'
	// herald_webhook_events_sent_total, herald_webhook_retries_total and
	// herald_webhook_events_dropped_total count.
	Webhooks        Rate `json:"webhooks"`
	WebhookRetries  Rate `json:"webhook_retries"`
	WebhookFailures Rate `json:"webhook_failures"`
	// Errors are refused subscriptions and client events, errors sent to
	// clients and refusals (ObservedError).
	Errors Rate `json:"errors"`
}

// counter counts events in one-second buckets, to give a total and a
// recent rate without a goroutine: a bucket is reset when its second
// comes round again.
type counter struct {
	total  uint64
	second [rateWindow + 1]int64 // the unix second each bucket counts
	count  [rateWindow + 1]uint32
}

func (c *counter) add(now time.Time) { c.addN(now, 1) }

// addN counts n at once (a webhook request's events); n < 1 counts
// nothing.
func (c *counter) addN(now time.Time, n int) {
	if n < 1 {
		return
	}
	sec := now.Unix()
	i := int(sec % int64(len(c.count)))
	if c.second[i] != sec {
		c.second[i], c.count[i] = sec, 0
	}
	c.count[i] += uint32(min(n, 1<<20)) //nolint:gosec // G115: bounded above
	c.total += uint64(n)
}

// rate is the total and the average over the rateWindow whole seconds
// before now's (the current second is still counting).
func (c *counter) rate(now time.Time) Rate {
	sec := now.Unix()
	var sum uint64
	for i, s := range c.second {
		if s < sec && s >= sec-rateWindow {
			sum += uint64(c.count[i])
		}
	}
	return Rate{Total: c.total, PerSecond: float64(sum) / rateWindow}
}

// appCounters are an app's counts, guarded by Hub.mu.
type appCounters struct {
	connections                                   int
	messages, api, webhooks, retries, fails, errs counter
}

// count adds o to its app's counters. h.mu is held.
func (h *Hub) count(o *actors.Observation) {
	a := h.apps[o.App]
	if a == nil {
		if len(h.apps) >= maxApps {
			return
		}
		a = &appCounters{}
		h.apps[o.App] = a
	}
	switch o.Kind {
	case actors.ObservedConnect:
		a.connections++
	case actors.ObservedDisconnect:
		a.connections = max(0, a.connections-1)
	case actors.ObservedPublish, actors.ObservedClientEvent:
		a.messages.add(o.At)
	case actors.ObservedAPI:
		a.api.add(o.At)
	case actors.ObservedWebhook:
		a.webhooks.addN(o.At, o.Count) // events delivered
	case actors.ObservedWebhookRetry:
		a.retries.add(o.At) // requests retried
	case actors.ObservedWebhookFailed:
		a.fails.addN(o.At, o.Count) // events dropped
	case actors.ObservedSubscribeRefused, actors.ObservedClientRefused, actors.ObservedError:
		a.errs.add(o.At)
	}
}

// Stats returns the counts of the app whose id is app (zero when nothing
// was observed of it).
func (h *Hub) Stats(app string) AppStats {
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.apps[app]
	if a == nil {
		return AppStats{}
	}
	return AppStats{
		Connections:     a.connections,
		Messages:        a.messages.rate(now),
		APIRequests:     a.api.rate(now),
		Webhooks:        a.webhooks.rate(now),
		WebhookRetries:  a.retries.rate(now),
		WebhookFailures: a.fails.rate(now),
		Errors:          a.errs.rate(now),
	}
}
