package actors

import (
	"sync"
	"time"

	"github.com/herald-push/herald/pusher"
)

// ObservationKind names what an Observation reports.
type ObservationKind string

// The kinds of Observation, as the dashboard's console filters them, with
// the fields each sets (besides At and App).
const (
	ObservedConnect          ObservationKind = "connect"              // a socket opened (SocketID, Remote)
	ObservedDisconnect       ObservationKind = "disconnect"           // a socket closed (SocketID, Remote, Code = close code, Duration = how long it was open)
	ObservedSubscribe        ObservationKind = "subscribe"            // a subscription succeeded (Channel, SocketID)
	ObservedSubscribeRefused ObservationKind = "subscribe_refused"    // a subscription was refused (Channel, SocketID, Code = the status of subscription_error, Detail)
	ObservedUnsubscribe      ObservationKind = "unsubscribe"          // a client unsubscribed (Channel, SocketID); a disconnect ends the rest without one each
	ObservedAPI              ObservationKind = "api"                  // an API request was answered (Method, Path = its route pattern, Code = HTTP status, Duration)
	ObservedPublish          ObservationKind = "publish"              // an API event was published on a channel (Channel, Event, Count = sockets it was written to, -1 when not known here)
	ObservedClientEvent      ObservationKind = "client_event"         // a client event was relayed (Channel, Event, SocketID)
	ObservedClientRefused    ObservationKind = "client_event_refused" // a client event was refused (Channel, Event, SocketID, Code 4301, Detail = a ClientEventRefused reason)
	ObservedWebhook          ObservationKind = "webhook"              // a webhook request was delivered (Code = HTTP status, Duration, Count = events)
	ObservedWebhookRetry     ObservationKind = "webhook_retry"        // a webhook request failed and will be retried (Code = HTTP status or 0, Duration, Count = events, Detail = why)
	ObservedWebhookFailed    ObservationKind = "webhook_failed"       // webhook events were dropped (Count = events, Detail = a WebhookDropped reason)
	ObservedError            ObservationKind = "error"                // an error sent to a client or a refusal (Code, Detail; see Observation)
)

// Why a client event was refused: the Detail of ObservedClientRefused.
const (
	ClientEventRefusedDisabled      = "disabled"       // the app does not allow client events
	ClientEventRefusedChannel       = "channel_kind"   // not a private or presence channel
	ClientEventRefusedNotSubscribed = "not_subscribed" // the sender is not subscribed to the channel
	ClientEventRefusedName          = "invalid_name"   // the event name is empty, too long or has control characters
	ClientEventRefusedSize          = "too_large"      // data over 10 KB
	ClientEventRefusedRate          = "rate_limit"     // over apps[].client_event_rate
)

// Why webhook events were dropped: the Detail of ObservedWebhookFailed.
const (
	WebhookDroppedRetries = "retries_exhausted" // the receiver failed for webhooks.retry_for
	WebhookDroppedQueue   = "queue_full"        // the endpoint's queue held webhooks.queue_size events
	WebhookDroppedStopped = "stopped"           // still pending when the webhook actor stopped
	WebhookDroppedEncode  = "unencodable"       // the batch could not be encoded
)

// The limits a refusal can come from, named by their configuration key:
// the Detail of an ObservedError whose Code is 4004, 4100, 429 or 503. A
// client event over its rate is an ObservedClientRefused with the reason
// ClientEventRefusedRate; QuotaClientEventRate names its limit.
const (
	QuotaAppConnections   = "apps.max_connections"               // 4004: the app's open connections
	QuotaBackendEvents    = "apps.max_backend_events_per_second" // 429: events published through the API
	QuotaReadRequests     = "apps.max_read_requests_per_second"  // 429: API queries
	QuotaWriteQueue       = "websocket.write_queue"              // 4100: a socket's outgoing queue (frames or bytes)
	QuotaConnections      = "websocket.max_connections"          // 503: the process's open sockets
	QuotaConnectionsPerIP = "websocket.max_connections_per_ip"   // 503: one remote IP's open sockets
	QuotaClientEventRate  = "apps.client_event_rate"             // 4301: a connection's client events a second
)

// Observation is one thing that happened in the broker, for the operator:
// the dashboard's debug console, the debug log lines and the metrics. It
// carries no secret, no signature and no event data; Detail is short (at
// most DetailMax bytes). Fields that do not apply are zero.
//
// An ObservedError is a pusher:error sent to a client (Code its code,
// Detail its message) or a refusal: an upgrade refused with HTTP 403 (the
// origin) or 503, a connection refused with 4001, 4004 or 4007, a socket
// cut with 4100, an API request answered 429. When a configured limit
// refused (4004, 4100, 429, 503), Detail is that limit's key (QuotaAppConnections
// and the others).
type Observation struct {
	At       time.Time
	Kind     ObservationKind
	App      string // the app's id, or its key when it has none (App.Name)
	Channel  string
	Event    string
	SocketID string
	Remote   string // the client's address, host:port
	Method   string // API requests
	Path     string
	Code     int // close code, Pusher error code or HTTP status
	Count    int
	Duration time.Duration
	Detail   string
}

// DetailMax bounds Observation.Detail, in bytes.
const DetailMax = 160

// Observer is told of each Observation. Observe is called on the goroutine
// of whoever reports (an actor's turn, a socket's read loop, an HTTP
// handler, a webhook sender): it must be safe for concurrent use, must not
// block, and must not keep o past the call unless it copies it.
type Observer interface {
	Observe(o *Observation)
}

// Observers tells each of its members.
type Observers []Observer

// Observe tells each observer.
func (all Observers) Observe(o *Observation) {
	for _, each := range all {
		each.Observe(o)
	}
}

// Tell stamps o with the time, cuts its Detail to DetailMax and tells obs.
// A nil obs costs a check and nothing else.
func Tell(obs Observer, o Observation) {
	if obs == nil {
		return
	}
	tell(obs, o)
}

// observations are the Observations tell hands to observers, reused: an
// observer does not keep o past Observe (see Observer), so an
// observation costs no allocation (it was 192 bytes on the heap each).
var observations = sync.Pool{New: func() any { return new(Observation) }}

func tell(obs Observer, o Observation) {
	p := observations.Get().(*Observation)
	*p = o
	p.At = time.Now()
	p.Detail = pusher.Truncate(p.Detail, DetailMax)
	obs.Observe(p)
	*p = Observation{}
	observations.Put(p)
}

// observe tells the app's observer of o, naming the app.
func (app *appInfo) observe(o Observation) {
	if app.observer == nil {
		return
	}
	o.App = app.id
	tell(app.observer, o)
}
