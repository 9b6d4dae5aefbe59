package webhooks

import (
	"encoding/json"
	"fmt"
)

// Pusher webhook event names.
const (
	EventChannelOccupied   = "channel_occupied"
	EventChannelVacated    = "channel_vacated"
	EventMemberAdded       = "member_added"
	EventMemberRemoved     = "member_removed"
	EventClientEvent       = "client_event"
	EventCacheMiss         = "cache_miss"
	EventSubscriptionCount = "subscription_count"
)

// webman webhook event names.
const (
	EventChannelAdded   = "channel_added"
	EventChannelRemoved = "channel_removed"
	EventUserAdded      = "user_added"
	EventUserRemoved    = "user_removed"
)

// webmanNames maps the Pusher names that webman's format carries to
// webman's names; the other Pusher events have no webman equivalent.
var webmanNames = map[string]string{
	EventChannelOccupied: EventChannelAdded,
	EventChannelVacated:  EventChannelRemoved,
	EventMemberAdded:     EventUserAdded,
	EventMemberRemoved:   EventUserRemoved,
}

// Payload is a webhook body: {"time_ms": ..., "events": [...]}.
type Payload struct {
	// TimeMs is when the request was first built, in Unix milliseconds (in
	// both formats; webman itself sends float seconds here). Retries keep
	// it, so a receiver can tell a late delivery.
	TimeMs int64   `json:"time_ms"`
	Events []Event `json:"events"`
}

// Event is one webhook event. Which fields are on the wire depends on Name:
// channel always; user_id on member and user events, and on client_event
// when set (presence channels); event, data and socket_id on client_event;
// subscription_count on subscription_count.
type Event struct {
	Name              string `json:"name"`
	Channel           string `json:"channel"`
	UserID            string `json:"user_id,omitempty"`
	Event             string `json:"event,omitempty"`
	Data              string `json:"data,omitempty"`
	SocketID          string `json:"socket_id,omitempty"`
	SubscriptionCount int    `json:"subscription_count,omitempty"`
}

// wireEvent is Event as encoded: a nil field is left out.
type wireEvent struct {
	Name              string  `json:"name"`
	Channel           string  `json:"channel"`
	UserID            *string `json:"user_id,omitempty"`
	Event             *string `json:"event,omitempty"`
	Data              *string `json:"data,omitempty"`
	SocketID          *string `json:"socket_id,omitempty"`
	SubscriptionCount *int    `json:"subscription_count,omitempty"`
}

// MarshalJSON writes the fields that belong to e.Name, so that an empty
// data of a client_event or a subscription_count of 0 is still sent.
func (e Event) MarshalJSON() ([]byte, error) {
	w := wireEvent{Name: e.Name, Channel: e.Channel}
	switch e.Name {
	case EventChannelOccupied, EventChannelVacated, EventCacheMiss,
		EventChannelAdded, EventChannelRemoved:
	case EventMemberAdded, EventMemberRemoved, EventUserAdded, EventUserRemoved:
		w.UserID = &e.UserID
	case EventClientEvent:
		w.Event, w.Data, w.SocketID = &e.Event, &e.Data, &e.SocketID
		if e.UserID != "" {
			w.UserID = &e.UserID
		}
	case EventSubscriptionCount:
		w.SubscriptionCount = &e.SubscriptionCount
	default:
		w.UserID = nonEmpty(&e.UserID)
		w.Event = nonEmpty(&e.Event)
		w.Data = nonEmpty(&e.Data)
		w.SocketID = nonEmpty(&e.SocketID)
		if e.SubscriptionCount != 0 {
			w.SubscriptionCount = &e.SubscriptionCount
		}
	}
	return json.Marshal(w)
}

func nonEmpty(s *string) *string {
	if *s == "" {
		return nil
	}
	return s
}

// Parse decodes a webhook body, as Herald sends it, in either format.
// Verify the request first: Parse trusts its input.
func Parse(body []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return Payload{}, fmt.Errorf("parse webhook body: %w", err)
	}
	return p, nil
}

// inFormat converts e, a Pusher-format event, to format. It reports false
// when the format has no such event.
func (e Event) inFormat(format string) (Event, bool) {
	if format != FormatWebman {
		return e, true
	}
	name, ok := webmanNames[e.Name]
	if !ok {
		return Event{}, false
	}
	return Event{Name: name, Channel: e.Channel, UserID: e.UserID}, true
}

// encodePayload builds a request body.
func encodePayload(timeMs int64, events []*Event) ([]byte, error) {
	return json.Marshal(struct {
		TimeMs int64    `json:"time_ms"`
		Events []*Event `json:"events"`
	}{timeMs, events})
}
