package herald

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
)

// Publish is one event for one or more channels of an app, as POST
// /apps/{id}/events takes it. Give it to Herald.Publish, or Send it to
// Herald.PID from an actor.
type Publish struct {
	// App is the app's key.
	App string
	// Channels are 1 to 100 channel names; #server-to-user-{id} reaches
	// the connections signed in as that user.
	Channels []string
	// Event is the event's name, 1 to 200 characters.
	Event string
	// Data is what clients receive as the event's data, at most 10 KB:
	// usually a JSON text, which pusher-js parses.
	Data string
	// ExceptSocketID, when set, is a socket that does not get the event
	// (the sender's own, as pusher-js's socket_id).
	ExceptSocketID string
}

// Subscribe subscribes an actor of the program to a channel of an app:
// a server-side subscriber. Give it to Herald.Subscribe, or Send it to
// Herald.PID from an actor. The subscriber gets *Subscribed once it is
// in, then every event of the channel as *ChannelEvent (API events, and
// client events on private and presence channels), and
// *SubscriptionError if the subscription is refused or ends without an
// Unsubscribe. It counts as one subscription of the channel, as a socket
// does (the channel is occupied while it listens), and stays until
// Unsubscribe or until the subscriber stops (Herald watches it).
//
// Events are sent to the subscriber with Send, from the channel's actor,
// which never waits for it: a subscriber slower than its channel queues
// them in its own mailbox. To bound that memory, spawn the subscriber
// with actor.WithMailbox(actor.BoundedDropping(n)), which keeps the n
// newest messages; never with actor.Bounded, whose full mailbox would
// block the channel.
type Subscribe struct {
	// App is the app's key; Channel the channel's name.
	App, Channel string
	// Subscriber is the actor that gets the events. In a message with a
	// sender, nil means the sender.
	Subscriber *actor.PID
	// UserID and UserInfo are whom the subscriber joins a presence
	// channel as (UserID is required there, as for every presence
	// subscription: clients see it in the member list). UserInfo is
	// encoded as JSON. Ignored on other channels.
	UserID   string
	UserInfo any
}

// Unsubscribe ends a Subscribe. Events already sent may still arrive.
type Unsubscribe struct {
	App, Channel string
	// Subscriber as in Subscribe; nil in a message means the sender.
	Subscriber *actor.PID
}

// WatchFacts registers an actor of the program to receive the facts of
// an app as typed messages: *ChannelOccupied, *ChannelVacated,
// *MemberAdded, *MemberRemoved, *ClientEventSent, *CacheMissed and
// *SubscriptionCountChanged — the facts its webhooks carry, in-process,
// in the order each channel tells them, and not debounced unless Debounce
// is set. Give it to Herald.WatchFacts, or Send it to Herald.PID. It
// stays until UnwatchFacts or until the watcher stops.
//
// In a cluster each fact is told on the node whose grain counts the
// channel (as its webhooks are sent from there): register a watcher on
// every node.
type WatchFacts struct {
	// App is the app's key.
	App string
	// Watcher gets the facts; nil in a message means the sender.
	Watcher *actor.PID
	// Debounce, when > 0, holds *ChannelVacated and *MemberRemoved that
	// long and drops them, with the *ChannelOccupied or *MemberAdded that
	// undoes them, when that comes within it (a page reload shows
	// nothing), as webhooks.debounce does for webhooks.
	Debounce time.Duration
}

// UnwatchFacts ends a WatchFacts.
type UnwatchFacts struct {
	App string
	// Watcher as in WatchFacts; nil in a message means the sender.
	Watcher *actor.PID
}

// Done answers a command sent to Herald.PID with a sender (ctx.Request,
// RequestFuture): Err is what the method of the same name would have
// returned (nil: done). A Subscribe is answered once the subscription is
// in place or refused.
type Done struct{ Err error }

// What a server-side subscriber receives (see Subscribe).
type (
	// Subscribed: the subscription to Channel of App (the app's key) is in
	// place; every event published from now on follows this message.
	Subscribed = actors.Subscribed
	// ChannelEvent is one event of a subscribed channel: App (the app's
	// key), Channel, Event, Data, and UserID, the sender's user id on a
	// presence channel's client event. Client events are the ones whose
	// name starts with client-.
	ChannelEvent = actors.ChannelEvent
	// SubscriptionError: the subscription to Channel of App was refused
	// or has ended (Reason says why); subscribing again may work. It is
	// also the error Herald.Subscribe returns for a refusal.
	SubscriptionError = actors.SubscriptionError
)

// The facts a watcher receives (see WatchFacts): the facts of the app's
// webhooks. App is the app's id (its key when it has none), At when it
// happened.
type (
	// ChannelOccupied: Channel got its first subscription.
	ChannelOccupied = actors.ChannelOccupied
	// ChannelVacated: Channel lost its last subscription.
	ChannelVacated = actors.ChannelVacated
	// MemberAdded: UserID joined presence Channel (its first connection).
	MemberAdded = actors.MemberAdded
	// MemberRemoved: UserID left presence Channel (its last connection).
	MemberRemoved = actors.MemberRemoved
	// ClientEventSent: a client sent Event with Data on Channel, from
	// SocketID (UserID on a presence channel).
	ClientEventSent = actors.ClientEventSent
	// CacheMissed: a subscriber of cache Channel found no cached event.
	CacheMissed = actors.CacheMissed
	// SubscriptionCountChanged: Channel has Count subscriptions (with
	// apps[].subscription_count, at most once a second).
	SubscriptionCountChanged = actors.SubscriptionCountChanged
)

// PID is the actor that takes *Publish, *Subscribe, *Unsubscribe,
// *WatchFacts and *UnwatchFacts from the program's actors, with the
// effect of the methods of the same names; a message sent with a sender
// is answered with *Done. Nil before Start.
func (h *Herald) PID() *actor.PID { return h.gateway }

// System is the ActorSystem Herald runs in: Options.System, or its own.
func (h *Herald) System() *actor.ActorSystem { return h.system }

// Handler is the WebSocket endpoint, for a program that serves it on its
// own http.ServeMux (usually with Options.NoListeners): mount it at
// /app/ (the key is read from .../app/{key} under any prefix). It answers
// 503 until Start and from Shutdown on, which closes its sockets with 4200.
func (h *Herald) Handler() http.Handler { return h.server.Handler() }

// APIHandler is what the API listener serves: Pusher's HTTP API under
// /apps/, /healthz, /readyz, the JavaScript client, the auth endpoint of
// Options.Authorizer at /auth/{key}, the dashboard at /dashboard/ when it
// is on, GET /metrics unless metrics.listen gives it a listener (which
// NoListeners does not open) and Options.Mounts. A program that
// serves it on its own mux mounts it at the paths it wants of these.
func (h *Herald) APIHandler() http.Handler { return h.server.APIHandler() }

// Publish publishes one event, with the effect of POST /events but no
// HTTP and no API quota: it returns once the event is queued for the app,
// so the events of one caller reach each subscriber in the order they
// were published. A bad event is refused with ErrInvalidEvent,
// ErrInvalidChannel, ErrNoChannels, ErrTooManyChannels, ErrDataTooLarge or
// ErrInvalidSocketID; an unknown app with ErrUnknownApp.
func (h *Herald) Publish(ctx context.Context, p Publish) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return h.publish(p)
}

// Subscribe subscribes s.Subscriber to s.Channel (see Subscribe) and
// returns once it is in place (the subscriber has had *Subscribed), with
// the *SubscriptionError of a refusal, ErrUnknownApp, ErrNoActor or
// ErrInvalidMember, or when ctx or api.request_timeout ends first.
// Subscribing again to the same channel is a no-op.
func (h *Herald) Subscribe(ctx context.Context, s Subscribe) error {
	done := make(chan error, 1)
	if err := h.subscribe(s, func(err error) { done <- err }); err != nil {
		return err
	}
	return h.wait(ctx, done)
}

// Unsubscribe ends a Subscribe (see Unsubscribe). It does not wait.
func (h *Herald) Unsubscribe(u Unsubscribe) error {
	b, app, err := h.app(u.App)
	if err != nil {
		return err
	}
	if u.Subscriber == nil {
		return ErrNoActor
	}
	b.Unsubscribe(app, &actors.RemoveSubscriber{Channel: u.Channel, Subscriber: u.Subscriber})
	return nil
}

// WatchFacts registers w.Watcher (see WatchFacts) and returns once every
// later fact of the app reaches it, or when ctx or api.request_timeout
// ends first. Registering the same watcher again replaces the first.
func (h *Herald) WatchFacts(ctx context.Context, w WatchFacts) error {
	done := make(chan error, 1)
	if err := h.watchFacts(w, func(err error) { done <- err }); err != nil {
		return err
	}
	return h.wait(ctx, done)
}

// UnwatchFacts ends a WatchFacts. It does not wait.
func (h *Herald) UnwatchFacts(u UnwatchFacts) error {
	b, app, err := h.app(u.App)
	if err != nil {
		return err
	}
	if u.Watcher == nil {
		return ErrNoActor
	}
	b.UnwatchFacts(app, &actors.UnwatchFacts{Watcher: u.Watcher})
	return nil
}

// publish checks p and queues it for its app.
func (h *Herald) publish(p Publish) error {
	b, _, err := h.app(p.App)
	if err != nil {
		return err
	}
	req, err := p.request()
	if err != nil {
		return err
	}
	return b.Post(req)
}

// subscribe checks s and hands it to its app, which calls reply (when
// not nil) with the outcome.
func (h *Herald) subscribe(s Subscribe, reply func(error)) error {
	b, app, err := h.app(s.App)
	if err != nil {
		return err
	}
	m, err := s.command(reply)
	if err != nil {
		return err
	}
	b.Subscribe(app, m)
	return nil
}

// watchFacts checks w and hands it to its app, which calls reply (when
// not nil) once the watcher is registered.
func (h *Herald) watchFacts(w WatchFacts, reply func(error)) error {
	b, app, err := h.app(w.App)
	if err != nil {
		return err
	}
	if w.Watcher == nil {
		return ErrNoActor
	}
	b.WatchFacts(app, &actors.WatchFacts{Watcher: w.Watcher, Debounce: w.Debounce, Reply: reply})
	return nil
}

// app returns the running broker and the app whose key is key.
func (h *Herald) app(key string) (*actors.Broker, *actors.App, error) {
	if !h.running.Load() {
		return nil, nil, ErrNotRunning
	}
	app, ok := h.broker.App(key)
	if !ok {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownApp, pusher.Truncate(key, 64))
	}
	return h.broker, app, nil
}

// wait waits for a command's answer, ctx or api.request_timeout.
func (h *Herald) wait(ctx context.Context, done <-chan error) error {
	t := time.NewTimer(h.cfg.API.RequestTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("the broker did not answer within api.request_timeout (%s)", h.cfg.API.RequestTimeout)
	}
}

// request checks p and makes it the app's trigger request.
func (p Publish) request() (*actors.TriggerRequest, error) {
	switch {
	case !pusher.ValidEventName(p.Event):
		return nil, fmt.Errorf("%w: %q", ErrInvalidEvent, pusher.Truncate(p.Event, 64))
	case len(p.Channels) == 0:
		return nil, ErrNoChannels
	case len(p.Channels) > pusher.MaxChannelsPerTrigger:
		return nil, fmt.Errorf("%w: %d", ErrTooManyChannels, len(p.Channels))
	case len(p.Data) > pusher.MaxDataSize:
		return nil, fmt.Errorf("%w: %d bytes", ErrDataTooLarge, len(p.Data))
	case p.ExceptSocketID != "" && !pusher.ValidSocketID(p.ExceptSocketID):
		return nil, fmt.Errorf("%w: %q", ErrInvalidSocketID, pusher.Truncate(p.ExceptSocketID, 64))
	}
	for _, c := range p.Channels {
		if !pusher.ValidServerChannel(c) {
			return nil, fmt.Errorf("%w: %q", ErrInvalidChannel, pusher.Truncate(c, 210))
		}
	}
	channels := append([]string(nil), p.Channels...) // the message's own: the caller may reuse its slice
	return &actors.TriggerRequest{App: p.App,
		Events: []actors.TriggerEvent{{Name: p.Event, Data: p.Data, Channels: channels, SocketID: p.ExceptSocketID}}}, nil
}

// command checks s and makes it the app's AddSubscriber, answered
// through reply.
func (s Subscribe) command(reply func(error)) (*actors.AddSubscriber, error) {
	if s.Subscriber == nil {
		return nil, ErrNoActor
	}
	m := &actors.AddSubscriber{Channel: s.Channel, Subscriber: s.Subscriber, Reply: reply}
	if pusher.Kind(s.Channel) != pusher.Presence {
		return m, nil
	}
	if s.UserID == "" || len(s.UserID) > pusher.MaxUserIDLength {
		return nil, fmt.Errorf("%w: UserID must be 1 to %d bytes", ErrInvalidMember, pusher.MaxUserIDLength)
	}
	m.Member = &pusher.Member{UserID: s.UserID}
	if s.UserInfo != nil {
		info, err := json.Marshal(s.UserInfo)
		if err != nil || len(info) > pusher.MaxUserInfoSize {
			return nil, fmt.Errorf("%w: UserInfo must encode to JSON of at most %d bytes", ErrInvalidMember, pusher.MaxUserInfoSize)
		}
		m.Member.Info = info
	}
	return m, nil
}
