package webhooks

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/herald-push/herald/actors"
)

// Webhook formats: the value of Endpoint.Format.
const (
	// FormatPusher is Pusher's webhook body: channel_occupied,
	// channel_vacated, member_added, member_removed, client_event,
	// cache_miss and subscription_count.
	FormatPusher = "pusher"
	// FormatWebman is webman/push's body: channel_added, channel_removed,
	// user_added and user_removed.
	FormatWebman = "webman"
)

// Config configures the webhook actor of one app. It is taken by value.
// It restates no default: the caller (herald.New, from config.Default and
// the configuration file) gives every value. Debounce, BatchWindow and
// RetryFor turn their feature off at zero; BatchMax, Timeout, QueueSize,
// BackoffMin and BackoffMax must be set (NewProps refuses zero).
type Config struct {
	// Key is the app key, sent as X-Pusher-Key.
	Key string
	// App names the app in log lines and observations: its id, or its
	// key when it has none. Empty means Key.
	App string
	// Secret signs every body (X-Pusher-Signature). It is never logged.
	Secret string
	// Endpoints are the URLs this app's events are POSTed to. Each entry
	// has its own queue and sender, even when two share a URL. None means
	// the actor accepts facts and sends nothing.
	Endpoints []Endpoint
	// Debounce is how long channel_vacated and member_removed are held
	// back, so that a matching channel_occupied or member_added arriving
	// meanwhile cancels both (see the package doc). Zero turns debouncing
	// off and sends every event at once.
	Debounce time.Duration
	// BatchWindow is the longest an event waits for others to share its
	// request. Zero sends at once.
	BatchWindow time.Duration
	// BatchMax is the largest number of events in one request; > 0.
	BatchMax int
	// Timeout bounds one delivery attempt: the receiver must answer 2xx
	// within it; > 0.
	Timeout time.Duration
	// RetryFor is how long a failed batch keeps being retried, counted from
	// its first attempt. Zero never retries.
	RetryFor time.Duration
	// BackoffMin is the wait before the first retry; each later wait
	// doubles, up to BackoffMax. Both > 0, BackoffMax >= BackoffMin.
	BackoffMin, BackoffMax time.Duration
	// QueueSize is the number of events waiting per endpoint (the batch in
	// flight excluded); > 0. Events beyond it are dropped, counted and
	// logged.
	QueueSize int
	// Logger receives delivery failures, drops and overflows. Nil discards
	// them. Secrets and header values are never logged. The actor adds
	// component=webhooks and app itself: a Logger that has them already
	// would repeat them on every line.
	Logger *slog.Logger
	// Observer is told of deliveries, retries and dropped events (metrics,
	// debug logs, the dashboard), from the actor and its senders; nil:
	// nobody.
	Observer actors.Observer
	// QueueDepth, when set, is told the number of events queued or in
	// flight, over every endpoint, whenever it changed after a message
	// the actor handled (a metrics gauge). It must not block.
	QueueDepth func(events int)
	// Client sends the requests. Nil means a client of its own (its own
	// connection pool, Timeout as its timeout), whose idle connections are
	// closed when the actor stops. A given client is never closed.
	Client *http.Client
	// Clock is the time source of debouncing, batching, retries and
	// FlushRequest deadlines. Nil means real time; tests inject their own.
	Clock Clock
}

// Endpoint is one delivery target.
type Endpoint struct {
	// URL is the absolute http or https URL events are POSTed to.
	URL string
	// Format is FormatPusher or FormatWebman (config fills in its default). An
	// endpoint with another format is skipped with an error log.
	Format string
	// Events lists the event names, in the endpoint's format, that are
	// sent. Empty sends every event of the format.
	Events []string
	// Headers are added to every request. They cannot replace
	// Content-Type, X-Pusher-Key or X-Pusher-Signature. Their values are
	// never logged.
	Headers map[string]string
}

// Clock is a source of time: the real one by default, a fake one in
// tests, so that debounce windows and backoffs need no real waiting.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d, unless the returned
	// timer is stopped first (time.AfterFunc's contract).
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call. Stop reports whether it prevented the
// call.
type Timer interface {
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// check reports the first setting that must be set and is not.
func (c Config) check() error {
	switch {
	case c.BatchMax <= 0:
		return fmt.Errorf("webhooks: BatchMax must be > 0, got %d", c.BatchMax)
	case c.Timeout <= 0:
		return fmt.Errorf("webhooks: Timeout must be > 0, got %s", c.Timeout)
	case c.QueueSize <= 0:
		return fmt.Errorf("webhooks: QueueSize must be > 0, got %d", c.QueueSize)
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("webhooks: BackoffMin must be > 0 and BackoffMax >= BackoffMin, got %s and %s", c.BackoffMin, c.BackoffMax)
	}
	return nil
}

// withRuntime returns c with its nil logger, clock and client filled in,
// and App set to Key when empty.
// ownClient reports whether the client was made here (and so may be closed
// by the actor).
func (c Config) withRuntime() (cfg Config, ownClient bool) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.App == "" {
		c.App = c.Key
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Client == nil {
		rt := http.DefaultTransport
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			rt = t.Clone()
		}
		c.Client = &http.Client{Timeout: c.Timeout, Transport: rt}
		ownClient = true
	}
	return c, ownClient
}
