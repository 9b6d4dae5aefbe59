package herald

import (
	"context"
	"log/slog"

	"github.com/herald-push/herald/actors"
)

// logObserver writes one debug line per observation: connections opened
// and closed, subscriptions and refusals, API requests, publishes, client
// events, webhook deliveries and the errors sent to clients. New adds it
// when the logger is at debug level (log.level: debug) or may be set to it
// by Reload (a LevelVar): an observation is a line only while the level is
// debug, and costs a level check otherwise. Each line names
// each attribute once, and only those that apply; an observation carries
// no secret, signature or event data, so neither does the line.
type logObserver struct{ log *slog.Logger }

// logMessages are the lines' messages, by kind.
var logMessages = map[actors.ObservationKind]string{
	actors.ObservedConnect:          "connection opened",
	actors.ObservedDisconnect:       "connection closed",
	actors.ObservedSubscribe:        "subscribed",
	actors.ObservedSubscribeRefused: "subscription refused",
	actors.ObservedUnsubscribe:      "unsubscribed",
	actors.ObservedAPI:              "api request",
	actors.ObservedPublish:          "event published",
	actors.ObservedClientEvent:      "client event relayed",
	actors.ObservedClientRefused:    "client event refused",
	actors.ObservedWebhook:          "webhook delivered",
	actors.ObservedWebhookRetry:     "webhook failed, will retry",
	actors.ObservedWebhookFailed:    "webhook events dropped",
	actors.ObservedError:            "error",
}

func (l logObserver) Observe(o *actors.Observation) {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	msg, ok := logMessages[o.Kind]
	if !ok {
		msg = string(o.Kind)
	}
	attrs := make([]slog.Attr, 0, 8)
	str := func(key, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(key, v))
		}
	}
	str("app", o.App)
	str("socket_id", o.SocketID)
	str("remote", o.Remote)
	str("channel", o.Channel)
	str("event", o.Event)
	str("method", o.Method)
	str("path", o.Path)
	switch o.Kind {
	case actors.ObservedAPI, actors.ObservedWebhook, actors.ObservedWebhookRetry, actors.ObservedWebhookFailed:
		if o.Code != 0 {
			attrs = append(attrs, slog.Int("status", o.Code))
		}
	default:
		if o.Code != 0 {
			attrs = append(attrs, slog.Int("code", o.Code))
		}
	}
	switch o.Kind {
	case actors.ObservedPublish:
		if o.Count >= 0 {
			attrs = append(attrs, slog.Int("fanout", o.Count))
		}
	case actors.ObservedWebhook, actors.ObservedWebhookRetry, actors.ObservedWebhookFailed:
		attrs = append(attrs, slog.Int("events", o.Count))
	}
	if o.Duration != 0 {
		attrs = append(attrs, slog.Duration("duration", o.Duration))
	}
	str("detail", o.Detail)
	l.log.LogAttrs(context.Background(), slog.LevelDebug, msg, attrs...)
}
