package dashboard

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
)

// Broker is what the dashboard asks of the broker; *actors.Broker is one.
type Broker interface {
	// Apps returns the configured apps.
	Apps() []*actors.App
	// Channels lists an app's occupied channels, as GET /channels does.
	Channels(req *actors.ChannelsRequest) (*actors.ChannelsResponse, error)
}

// Config configures NewHandler.
type Config struct {
	// Token is the bearer token every data request must carry. Required:
	// an empty token refuses every request.
	Token string
	// Broker answers the channel lists.
	Broker Broker
	// Page serves the page and its assets (web.DashboardHandler); it is
	// public, the data is not.
	Page http.Handler
}

// Bounds of the data endpoints.
const (
	// maxChannels caps the channels one list returns (the busiest first).
	maxChannels = 500
	// channelsTTL is how long a channel list is reused before the broker
	// is asked again, so that many open dashboards cost the broker one
	// query per app every few seconds.
	channelsTTL = 2 * time.Second
	// writeWait bounds one write to a stream: a dashboard that stops
	// reading is cut after it.
	writeWait = 10 * time.Second
	// keepalive is how often an idle stream sends a comment, so proxies
	// keep it open and a vanished client is noticed.
	keepalive = 15 * time.Second
)

// Handler serves /dashboard/ on the API listener: the page (Config.Page),
// and under /dashboard/api/ the data, which needs the token:
//
//	GET /dashboard/api/overview          every app with its counts and channel count
//	GET /dashboard/api/channels?app=ID   an app's occupied channels with subscriber and member counts
//	GET /dashboard/api/events            the debug console: Server-Sent Events (filters: app, channel, kind)
//
// The token comes as "Authorization: Bearer TOKEN", or, for the event
// stream (EventSource cannot set headers), as ?token=TOKEN. A request
// without it, or with a wrong one, gets 401 with a JSON body.
type Handler struct {
	hub   *Hub
	cfg   Config
	token [sha256.Size]byte // compared in constant time, whatever the lengths

	mu       sync.Mutex // guards channels; never held while the broker is asked
	channels map[string]channelList
}

// channelList is an app's channels as the broker last told them.
type channelList struct {
	at       time.Time
	channels map[string]actors.ChannelInfo
}

// NewHandler serves hub's observations and cfg.Broker's channels.
func NewHandler(hub *Hub, cfg Config) *Handler {
	return &Handler{hub: hub, cfg: cfg, token: sha256.Sum256([]byte(cfg.Token)), channels: make(map[string]channelList)}
}

func (d *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := strings.Index(r.URL.Path, "/dashboard/api/")
	if i < 0 {
		d.cfg.Page.ServeHTTP(w, r)
		return
	}
	route := r.URL.Path[i+len("/dashboard/api/"):]
	if !d.authorized(r, route == "events") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald-dashboard"`)
		pusher.WriteError(w, http.StatusUnauthorized, "the dashboard token is missing or wrong")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		pusher.WriteError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	switch route {
	case "overview":
		d.overview(w, r)
	case "channels":
		d.channelList(w, r)
	case "events":
		d.events(w, r)
	default:
		pusher.WriteError(w, http.StatusNotFound, "not found: "+pusher.Truncate(r.URL.Path, 200))
	}
}

// authorized checks the request's token; inQuery also accepts ?token=.
func (d *Handler) authorized(r *http.Request, inQuery bool) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok && inQuery:
		got = r.URL.Query().Get("token")
	case !ok:
		got = ""
	}
	if got == "" || d.cfg.Token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], d.token[:]) == 1
}

// appView is one app in the overview. The key is public (clients connect
// with it); the secret is never here.
type appView struct {
	ID       string   `json:"id"`
	Key      string   `json:"key"`
	Channels *int     `json:"channels"` // null when the broker did not answer
	Stats    AppStats `json:"stats"`
}

func (d *Handler) overview(w http.ResponseWriter, r *http.Request) {
	apps := d.cfg.Broker.Apps()
	out := make([]appView, 0, len(apps))
	for _, a := range apps {
		v := appView{ID: appID(a), Key: a.Key(), Stats: d.hub.Stats(appID(a))}
		if chans, err := d.listChannels(a, r.URL.Query().Has("fresh")); err == nil {
			n := len(chans)
			v.Channels = &n
		}
		out = append(out, v)
	}
	pusher.WriteJSON(w, http.StatusOK, map[string]any{
		"time": d.hub.cfg.Now().UnixMilli(), "apps": out, "streams": d.hub.streams(),
	})
}

// channelView is one channel in a channel list. Users is set on presence
// channels only.
type channelView struct {
	Name          string `json:"name"`
	Subscriptions int    `json:"subscriptions"`
	Users         *int   `json:"users,omitempty"`
}

func (d *Handler) channelList(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("app")
	var app *actors.App
	for _, a := range d.cfg.Broker.Apps() {
		if appID(a) == id {
			app = a
		}
	}
	if app == nil {
		pusher.WriteError(w, http.StatusNotFound, "unknown app")
		return
	}
	chans, err := d.listChannels(app, r.URL.Query().Has("fresh"))
	if err != nil {
		pusher.WriteError(w, http.StatusServiceUnavailable, "the broker did not answer in time")
		return
	}
	list := make([]channelView, 0, len(chans))
	for name, ci := range chans {
		v := channelView{Name: name, Subscriptions: ci.Subscriptions}
		if pusher.Kind(name) == pusher.Presence {
			users := ci.Users
			v.Users = &users
		}
		list = append(list, v)
	}
	slices.SortFunc(list, func(a, b channelView) int {
		return cmp.Or(cmp.Compare(b.Subscriptions, a.Subscriptions), strings.Compare(a.Name, b.Name))
	})
	total := len(list)
	list = list[:min(total, maxChannels)]
	pusher.WriteJSON(w, http.StatusOK, map[string]any{
		"app": id, "total": total, "channels": list, "truncated": total > len(list),
		"time": d.hub.cfg.Now().UnixMilli(),
	})
}

// listChannels returns app's occupied channels, as the HTTP API's GET
// /apps/{id}/channels gets them, reusing a list younger than channelsTTL
// unless fresh.
func (d *Handler) listChannels(app *actors.App, fresh bool) (map[string]actors.ChannelInfo, error) {
	id := appID(app)
	now := d.hub.cfg.Now()
	d.mu.Lock()
	cached, ok := d.channels[id]
	d.mu.Unlock()
	if ok && !fresh && now.Sub(cached.at) < channelsTTL {
		return cached.channels, nil
	}
	cr, err := d.cfg.Broker.Channels(&actors.ChannelsRequest{App: app.Key()})
	if err != nil || cr == nil {
		return nil, cmp.Or(err, errNoAnswer)
	}
	d.mu.Lock()
	d.channels[id] = channelList{at: now, channels: cr.Channels}
	d.mu.Unlock()
	return cr.Channels, nil
}

// appID is the name observations carry for a (actors.App.Name): its id
// when it started, or its key when it had none; a reload keeps it.
func appID(a *actors.App) string { return a.Name() }
