package actors

import "time"

// ObservationKind names what an Observation reports.
type ObservationKind string

// The kinds of Observation, as the dashboard's console filters them.
const (
	ObservedConnect          ObservationKind = "connect"           // a socket opened (SocketID, Remote)
	ObservedDisconnect       ObservationKind = "disconnect"        // a socket closed (Code, Duration)
	ObservedSubscribe        ObservationKind = "subscribe"         // a subscription succeeded (Channel)
	ObservedSubscribeRefused ObservationKind = "subscribe_refused" // a subscription was refused (Channel, Code, Detail)
	ObservedUnsubscribe      ObservationKind = "unsubscribe"       // a subscription ended (Channel)
	ObservedAPI              ObservationKind = "api"               // an API request was answered (Method, Path, Code, Duration)
	ObservedPublish          ObservationKind = "publish"           // an API event was published (Channel, Event, Count = fan-out size if known)
	ObservedClientEvent      ObservationKind = "client_event"      // a client event was relayed (Channel, Event, SocketID)
	ObservedClientRefused    ObservationKind = "client_event_refused"
	ObservedWebhook          ObservationKind = "webhook"       // a webhook request was delivered (Code, Duration, Count = events)
	ObservedWebhookRetry     ObservationKind = "webhook_retry" // a webhook request will be retried (Detail)
	ObservedWebhookFailed    ObservationKind = "webhook_failed"
	ObservedError            ObservationKind = "error" // an error sent to a client or logged (Code, Detail)
)

// Observation is one thing that happened in the broker, for the operator:
// the dashboard's debug console and the debug log lines. It carries no
// secret, no signature and no event data beyond Detail, which is short.
// Fields that do not apply are zero.
type Observation struct {
	At       time.Time
	Kind     ObservationKind
	App      string // the app's id
	Channel  string
	Event    string
	SocketID string
	Remote   string // the client's address
	Method   string // API requests
	Path     string
	Code     int // close code, Pusher error code or HTTP status
	Count    int
	Duration time.Duration
	Detail   string
}

// Observer is told of each Observation. Observe is called on the goroutine
// of whoever reports (an actor's turn, a socket's read loop, an HTTP
// handler): it must not block, and must not keep o past the call
// unless it copies it.
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
