package dashboard

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
)

// Kinds lists every kind of observation the console shows, in the order
// its kind filter offers them.
var Kinds = []actors.ObservationKind{
	actors.ObservedConnect, actors.ObservedDisconnect,
	actors.ObservedSubscribe, actors.ObservedSubscribeRefused, actors.ObservedUnsubscribe,
	actors.ObservedAPI, actors.ObservedPublish,
	actors.ObservedClientEvent, actors.ObservedClientRefused,
	actors.ObservedWebhook, actors.ObservedWebhookRetry, actors.ObservedWebhookFailed,
	actors.ObservedError,
}

// Filter selects observations for a stream. The zero Filter selects all.
type Filter struct {
	// App is an app id; empty: any app.
	App string
	// Channel is part of a channel name; empty: any channel (and
	// observations of no channel).
	Channel string
	// Kinds are the kinds wanted; empty: every kind.
	Kinds []actors.ObservationKind
}

// Match reports whether f selects o.
func (f Filter) Match(o *actors.Observation) bool {
	return (f.App == "" || o.App == f.App) &&
		(f.Channel == "" || strings.Contains(o.Channel, f.Channel)) &&
		(len(f.Kinds) == 0 || slices.Contains(f.Kinds, o.Kind))
}

// parseFilter reads a stream's filter from its query: app, channel and
// kind (comma-separated kinds). An unknown kind or an overlong value is
// an error.
func parseFilter(q url.Values) (Filter, error) {
	f := Filter{App: q.Get("app"), Channel: q.Get("channel")}
	if len(f.App) > maxShortField || len(f.Channel) > maxNameField {
		return Filter{}, fmt.Errorf("app or channel filter too long")
	}
	for k := range strings.SplitSeq(q.Get("kind"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		kind := actors.ObservationKind(k)
		if !slices.Contains(Kinds, kind) {
			return Filter{}, fmt.Errorf("unknown kind %q", pusher.Truncate(k, 40))
		}
		if !slices.Contains(f.Kinds, kind) {
			f.Kinds = append(f.Kinds, kind)
		}
	}
	return f, nil
}
