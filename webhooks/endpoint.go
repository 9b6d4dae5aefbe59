package webhooks

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/herald-push/herald/actors"
)

// endpoint is the actor's state for one delivery target: the queue of
// events waiting, the batch in flight, and counters. It belongs to the
// dispatcher actor and is only touched inside its Receive; the HTTP side
// lives in snd, which sees only finished batches.
type endpoint struct {
	idx    int
	format string
	allow  map[string]bool // nil: every event of the format
	snd    *sender
	log    *slog.Logger
	obs    actors.Observer
	app    string

	queue  []*Event
	counts map[string]*Event // queued subscription_count event per channel
	// current is the batch the sender is delivering, nil when idle.
	current *batch

	// The batch window timer; gen tells a stale tick from the live one.
	timer    Timer
	timerGen uint64

	overflowRun int // events refused since the queue last had room
	stats       EndpointStats
}

// newEndpoint checks e and builds its state. The sender is not running yet.
func newEndpoint(idx int, e Endpoint, cfg Config, log *slog.Logger) (*endpoint, error) {
	format := e.Format
	if format != FormatPusher && format != FormatWebman {
		return nil, fmt.Errorf("unknown format %q", e.Format)
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("URL %q is not an absolute http(s) URL", redactURL(u))
	}
	var allow map[string]bool
	if len(e.Events) > 0 {
		allow = make(map[string]bool, len(e.Events))
		for _, n := range e.Events {
			allow[n] = true
		}
	}
	logURL := redactURL(u)
	return &endpoint{
		idx:    idx,
		format: format,
		allow:  allow,
		log:    log.With("url", logURL),
		obs:    cfg.Observer,
		app:    cfg.App,
		counts: map[string]*Event{},
		stats:  EndpointStats{URL: logURL},
		snd: &sender{
			url:        e.URL,
			logURL:     logURL,
			key:        cfg.Key,
			secret:     cfg.Secret,
			headers:    e.Headers,
			client:     cfg.Client,
			clock:      cfg.Clock,
			log:        log,
			obs:        cfg.Observer,
			app:        cfg.App,
			timeout:    cfg.Timeout,
			retryFor:   cfg.RetryFor,
			backoffMin: cfg.BackoffMin,
			backoffMax: cfg.BackoffMax,
			work:       make(chan *batch, 1),
		},
	}, nil
}

// offer queues ev (a Pusher-format event) if the endpoint's format has it
// and its filter selects it. A subscription_count still waiting for the
// same channel is updated in place instead of queueing another. It reports
// whether the queue changed.
func (ep *endpoint) offer(ev Event, queueSize int) bool {
	e, ok := ev.inFormat(ep.format)
	if !ok || (ep.allow != nil && !ep.allow[e.Name]) {
		return false
	}
	if e.Name == EventSubscriptionCount {
		if q, ok := ep.counts[e.Channel]; ok {
			q.SubscriptionCount = e.SubscriptionCount
			return true
		}
	}
	if len(ep.queue) >= queueSize {
		ep.stats.Overflow++
		ep.overflowRun++
		if ep.overflowRun == 1 {
			ep.log.Warn("webhook queue full; dropping events until it drains",
				"queue_size", queueSize)
		}
		actors.Tell(ep.obs, actors.Observation{Kind: actors.ObservedWebhookFailed, App: ep.app,
			Count: 1, Detail: actors.WebhookDroppedQueue})
		return false
	}
	p := &e
	ep.queue = append(ep.queue, p)
	if e.Name == EventSubscriptionCount {
		ep.counts[e.Channel] = p
	}
	return true
}

// take removes and returns the first n queued events (fewer if fewer wait).
func (ep *endpoint) take(n int) []*Event {
	n = min(n, len(ep.queue))
	events := make([]*Event, n)
	copy(events, ep.queue)
	clear(ep.queue[:n])
	ep.queue = ep.queue[n:]
	if len(ep.queue) == 0 {
		ep.queue = nil
	}
	for _, e := range events {
		if e.Name == EventSubscriptionCount && ep.counts[e.Channel] == e {
			delete(ep.counts, e.Channel)
		}
	}
	if ep.overflowRun > 0 {
		ep.log.Warn("webhook queue has room again", "dropped", ep.overflowRun)
		ep.overflowRun = 0
	}
	return events
}

// stopTimer cancels the batch window timer; a tick already on its way is
// ignored because the generation moved on.
func (ep *endpoint) stopTimer() {
	if ep.timer != nil {
		ep.timer.Stop()
		ep.timer = nil
	}
	ep.timerGen++
}

// pending is the number of events not yet delivered.
func (ep *endpoint) pending() int {
	n := len(ep.queue)
	if ep.current != nil {
		n += ep.current.events
	}
	return n
}

func (ep *endpoint) snapshot() EndpointStats {
	s := ep.stats
	s.Queued = len(ep.queue)
	if ep.current != nil {
		s.InFlight = ep.current.events
	}
	return s
}
