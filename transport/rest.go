package transport

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
)

// apiHandler serves Pusher's HTTP API under /apps/{id}/. It checks the
// request's signature and limits, then asks the broker's HTTP adapter
// actor, and writes the answer as JSON. Every error is a JSON body
// {"error": message, "code": status}.
type apiHandler struct {
	broker  *actors.Broker // set by attach before any request is served
	maxBody atomic.Int64
	now     func() time.Time
	obs     actors.Observer                   // nil: nobody
	quotas  atomic.Pointer[map[string]*quota] // by app key; replaced whole by attach and setLimits
}

// quota is one app's API quotas (a nil limit: unlimited).
type quota struct {
	events *rateLimit // max_backend_events_per_second
	reads  *rateLimit // max_read_requests_per_second
}

func newAPIHandler(l Limits, obs actors.Observer) *apiHandler {
	h := &apiHandler{now: time.Now, obs: obs}
	h.maxBody.Store(l.MaxBodySize)
	h.quotas.Store(&map[string]*quota{})
	return h
}

// attach makes the handler serve b, with its apps' quotas.
func (h *apiHandler) attach(b *actors.Broker) {
	h.broker = b
	h.readQuotas()
}

// setLimits applies a new body size and reads the apps' quotas again.
func (h *apiHandler) setLimits(l Limits) {
	h.maxBody.Store(l.MaxBodySize)
	if h.broker != nil {
		h.readQuotas()
	}
}

// readQuotas builds the quotas of the broker's current apps, keeping the
// limiter (and so its state) of an app whose rate is unchanged.
func (h *apiHandler) readQuotas() {
	old := *h.quotas.Load()
	next := make(map[string]*quota, len(h.broker.Apps()))
	for _, a := range h.broker.Apps() {
		cfg, q := a.Config(), &quota{}
		prev := old[cfg.Key]
		if prev != nil && prev.events.rateIs(cfg.MaxBackendEventsPerSecond) {
			q.events = prev.events
		} else {
			q.events = newRateLimit(cfg.MaxBackendEventsPerSecond)
		}
		if prev != nil && prev.reads.rateIs(cfg.MaxReadRequestsPerSecond) {
			q.reads = prev.reads
		} else {
			q.reads = newRateLimit(cfg.MaxReadRequestsPerSecond)
		}
		next[cfg.Key] = q
	}
	h.quotas.Store(&next)
}

// quota returns the quotas of the app whose key is key; an app added by a
// reload that Update has not read yet is unlimited until then.
func (h *apiHandler) quota(key string) *quota {
	if q := (*h.quotas.Load())[key]; q != nil {
		return q
	}
	return &quota{}
}

// errRate answers a request over an app's quota (its configuration key).
func errRate(quota string) *apiError {
	e := fail(http.StatusTooManyRequests, "over quota: "+strings.TrimPrefix(quota, "apps."))
	e.quota = quota
	return e
}

// apiError is an HTTP status with a message safe to show the caller.
type apiError struct {
	status int
	msg    string
	quota  string // the quota that refused (429), for the observer
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, msg string) *apiError { return &apiError{status: status, msg: msg} }

// apiCall is what the observer is told of a request: which app (once its
// auth_key is known) and which route.
type apiCall struct {
	app, route string
}

func (h *apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var call apiCall
	res, err := h.serve(r, &call)
	status, quota := http.StatusOK, ""
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = fail(http.StatusInternalServerError, "internal error")
		}
		pusher.WriteError(w, ae.status, ae.msg)
		status, quota = ae.status, ae.quota
	} else {
		pusher.WriteJSON(w, http.StatusOK, res)
	}
	if h.obs != nil {
		actors.Tell(h.obs, actors.Observation{Kind: actors.ObservedAPI, App: call.app, Method: r.Method,
			Path: call.route, Code: status, Duration: time.Since(start)})
		if quota != "" {
			actors.Tell(h.obs, actors.Observation{Kind: actors.ObservedError, App: call.app, Code: status, Detail: quota})
		}
	}
}

// Route patterns, as observations name API requests.
const (
	routeEvents    = "/apps/{app_id}/events"
	routeBatch     = "/apps/{app_id}/batch_events"
	routeChannels  = "/apps/{app_id}/channels"
	routeChannel   = "/apps/{app_id}/channels/{channel_name}"
	routeUsers     = "/apps/{app_id}/channels/{channel_name}/users"
	routeTerminate = "/apps/{app_id}/users/{user_id}/terminate_connections"
)

// routeOf is the pattern of the route after /apps/{app_id}/, "" when none matches.
func routeOf(route []string) string {
	switch {
	case len(route) == 1 && route[0] == "events":
		return routeEvents
	case len(route) == 1 && route[0] == "batch_events":
		return routeBatch
	case len(route) == 1 && route[0] == "channels":
		return routeChannels
	case len(route) == 2 && route[0] == "channels":
		return routeChannel
	case len(route) == 3 && route[0] == "channels" && route[2] == "users":
		return routeUsers
	case len(route) == 3 && route[0] == "users" && route[2] == "terminate_connections":
		return routeTerminate
	}
	return ""
}

func (h *apiHandler) serve(r *http.Request, call *apiCall) (any, error) {
	// The signed path starts at /apps/: a proxy prefix is not signed.
	raw := r.URL.EscapedPath()
	i := strings.Index(raw, "/apps/")
	if i < 0 {
		return nil, fail(http.StatusNotFound, "not found")
	}
	signPath := raw[i:]
	parts := strings.Split(strings.Trim(r.URL.Path[strings.Index(r.URL.Path, "/apps/"):], "/"), "/")
	// parts: apps, {id}, resource...
	if len(parts) < 3 {
		return nil, fail(http.StatusNotFound, "not found")
	}
	appID, route := parts[1], parts[2:]
	call.route = routeOf(route)

	// Who is asking is checked before the body is read: a request without
	// a known key and a fresh timestamp costs no more than its headers.
	app, err := h.app(r, appID)
	if err != nil {
		return nil, err
	}
	call.app = app.Name()
	body, err := h.readBody(r)
	if err != nil {
		return nil, err
	}
	if err := pusher.VerifyREST(app.Config().Secret, r.Method, signPath, r.URL.Query(), body, h.now()); err != nil {
		return nil, fail(http.StatusUnauthorized, err.Error())
	}
	key := app.Key()
	read := func() error {
		if err := method(r, http.MethodGet); err != nil {
			return err
		}
		if !h.quota(key).reads.take(1, h.now()) {
			return errRate(actors.QuotaReadRequests)
		}
		return nil
	}
	switch call.route {
	case routeEvents:
		if err := method(r, http.MethodPost); err != nil {
			return nil, err
		}
		return h.trigger(key, body)
	case routeBatch:
		if err := method(r, http.MethodPost); err != nil {
			return nil, err
		}
		return h.batch(key, body)
	case routeChannels:
		if err := read(); err != nil {
			return nil, err
		}
		return h.channels(key, r)
	case routeChannel:
		if err := read(); err != nil {
			return nil, err
		}
		return h.channel(key, route[1], r)
	case routeUsers:
		if err := read(); err != nil {
			return nil, err
		}
		return h.users(key, route[1])
	case routeTerminate:
		if err := method(r, http.MethodPost); err != nil {
			return nil, err
		}
		return h.terminate(key, route[1])
	}
	return nil, fail(http.StatusNotFound, "not found: "+pusher.Truncate(r.URL.Path, 200))
}

func method(r *http.Request, want string) error {
	if r.Method != want {
		return fail(http.StatusMethodNotAllowed, "method not allowed: use "+want)
	}
	return nil
}

func (h *apiHandler) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	maxBody := h.maxBody.Load()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fail(http.StatusBadRequest, "cannot read the request body")
	}
	if int64(len(body)) > maxBody {
		return nil, fail(http.StatusRequestEntityTooLarge, "request body too large")
	}
	return body, nil
}

// app finds the app by auth_key and checks what of the signing can be
// checked without the body. An unknown key is 401 (the signature cannot
// be right); a known key with another app's id is 404.
func (h *apiHandler) app(r *http.Request, appID string) (*actors.App, error) {
	q := r.URL.Query()
	if err := pusher.CheckRESTAuth(q, h.now()); err != nil {
		return nil, fail(http.StatusUnauthorized, err.Error())
	}
	app, ok := h.broker.App(q.Get("auth_key"))
	if !ok {
		return nil, fail(http.StatusUnauthorized, "unknown auth_key")
	}
	if !app.MatchesID(appID) {
		return nil, fail(http.StatusNotFound, "unknown app id "+pusher.Truncate(appID, 64))
	}
	return app, nil
}

// eventBody is one event of /events or /batch_events. Data is raw so an
// object (which webman's server passed through) can be accepted and sent
// on as its JSON text: clients need data as a string.
type eventBody struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channels []string        `json:"channels"`
	Channel  string          `json:"channel"`
	SocketID string          `json:"socket_id"`
	Info     string          `json:"info"`
}

func (e *eventBody) toEvent() (actors.TriggerEvent, error) {
	ev := actors.TriggerEvent{Name: e.Name, SocketID: e.SocketID}
	if !pusher.ValidEventName(e.Name) {
		return ev, fail(http.StatusBadRequest, "name must be 1 to 200 characters")
	}
	ev.Channels = e.Channels
	if e.Channel != "" {
		ev.Channels = append(ev.Channels, e.Channel)
	}
	if len(ev.Channels) == 0 {
		return ev, fail(http.StatusBadRequest, "channels (or channel) is required")
	}
	if len(ev.Channels) > pusher.MaxChannelsPerTrigger {
		return ev, fail(http.StatusBadRequest, "at most 100 channels per event")
	}
	for _, c := range ev.Channels {
		if !pusher.ValidServerChannel(c) {
			return ev, fail(http.StatusBadRequest, "invalid channel name: "+pusher.Truncate(c, 210))
		}
	}
	data, err := eventData(e.Data)
	if err != nil {
		return ev, err
	}
	ev.Data = data
	if e.SocketID != "" && !pusher.ValidSocketID(e.SocketID) {
		return ev, fail(http.StatusBadRequest, "invalid socket_id")
	}
	info, err := parseInfo(e.Info, "user_count", "subscription_count")
	if err != nil {
		return ev, err
	}
	ev.Info = info
	return ev, nil
}

func eventData(raw json.RawMessage) (string, error) {
	var data string
	switch {
	case len(raw) == 0 || string(raw) == "null":
		data = ""
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &data); err != nil {
			return "", fail(http.StatusBadRequest, "data must be a string")
		}
	default:
		data = string(raw)
	}
	if len(data) > pusher.MaxDataSize {
		return "", fail(http.StatusRequestEntityTooLarge, "data is larger than 10 KB")
	}
	return data, nil
}

func parseInfo(s string, allowed ...string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, a := range strings.Split(s, ",") {
		ok := false
		for _, w := range allowed {
			ok = ok || a == w
		}
		if !ok {
			return nil, fail(http.StatusBadRequest, "unsupported info attribute: "+pusher.Truncate(a, 64))
		}
		out = append(out, a)
	}
	return out, nil
}

func decode(body []byte, v any) error {
	if len(body) == 0 {
		return fail(http.StatusBadRequest, "a JSON body is required")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fail(http.StatusBadRequest, "invalid JSON body")
	}
	return nil
}

func (h *apiHandler) trigger(key string, body []byte) (any, error) {
	var e eventBody
	if err := decode(body, &e); err != nil {
		return nil, err
	}
	ev, err := e.toEvent()
	if err != nil {
		return nil, err
	}
	if !h.quota(key).events.take(len(ev.Channels), h.now()) {
		return nil, errRate(actors.QuotaBackendEvents)
	}
	req := &actors.TriggerRequest{App: key, Events: []actors.TriggerEvent{ev}}
	if len(ev.Info) == 0 {
		// Accepted once it is in the adapter's mailbox (in a cluster: on its
		// way to the grain).
		if err := h.broker.Post(req); err != nil {
			return nil, brokerError(err)
		}
		return struct{}{}, nil
	}
	res, err := h.broker.Trigger(req)
	if err != nil {
		return nil, brokerError(err)
	}
	return map[string]any{"channels": infoMap(res.Channels[0], ev.Info)}, nil
}

func (h *apiHandler) batch(key string, body []byte) (any, error) {
	var b struct {
		Batch []eventBody `json:"batch"`
	}
	if err := decode(body, &b); err != nil {
		return nil, err
	}
	if len(b.Batch) == 0 {
		return nil, fail(http.StatusBadRequest, "batch is required")
	}
	if len(b.Batch) > pusher.MaxBatchSize {
		return nil, fail(http.StatusBadRequest, "at most 10 events per batch")
	}
	req := &actors.TriggerRequest{App: key, Batch: true}
	wantInfo := false
	for i := range b.Batch {
		ev, err := b.Batch[i].toEvent()
		if err != nil {
			return nil, err
		}
		wantInfo = wantInfo || len(ev.Info) > 0
		req.Events = append(req.Events, ev)
	}
	if !h.quota(key).events.take(len(req.Events), h.now()) {
		return nil, errRate(actors.QuotaBackendEvents)
	}
	if !wantInfo {
		if err := h.broker.Post(req); err != nil {
			return nil, brokerError(err)
		}
		return struct{}{}, nil
	}
	tr, err := h.broker.Trigger(req)
	if err != nil {
		return nil, brokerError(err)
	}
	out := make([]map[string]any, len(req.Events))
	for i, ev := range req.Events {
		out[i] = map[string]any{}
		for _, c := range ev.Channels {
			for k, v := range infoAttrs(c, tr.Channels[i][c], ev.Info) {
				out[i][k] = v
			}
		}
	}
	return map[string]any{"batch": out}, nil
}

func (h *apiHandler) channels(key string, r *http.Request) (any, error) {
	q := r.URL.Query()
	prefix := q.Get("filter_by_prefix")
	info, err := parseInfo(q.Get("info"), "user_count", "subscription_count")
	if err != nil {
		return nil, err
	}
	for _, a := range info {
		if a == "user_count" && !strings.HasPrefix(prefix, "presence-") {
			return nil, fail(http.StatusBadRequest, "info=user_count needs filter_by_prefix=presence-")
		}
	}
	res, err := h.broker.Channels(&actors.ChannelsRequest{App: key, Prefix: prefix})
	if err != nil {
		return nil, brokerError(err)
	}
	return map[string]any{"channels": infoMap(res.Channels, info)}, nil
}

func (h *apiHandler) channel(key, name string, r *http.Request) (any, error) {
	if !pusher.ValidServerChannel(name) {
		return nil, fail(http.StatusBadRequest, "invalid channel name")
	}
	info, err := parseInfo(r.URL.Query().Get("info"), "user_count", "subscription_count", "cache", "history")
	if err != nil {
		return nil, err
	}
	cr, err := h.broker.Channel(&actors.ChannelRequest{App: key, Channel: name})
	if err != nil {
		return nil, brokerError(err)
	}
	out := map[string]any{"occupied": cr.Info.Occupied}
	for k, v := range infoAttrs(name, cr.Info, info) {
		out[k] = v
	}
	for _, a := range info {
		switch {
		case a == "cache" && cr.Cache != nil:
			out["cache"] = map[string]any{"event": cr.Cache.Event, "data": cr.Cache.Data, "ttl": int(cr.Cache.TTL.Seconds())}
		case a == "history" && cr.History != nil: // a channel with history (docs/recovery.md)
			out["history"] = map[string]any{"epoch": cr.History.Epoch, "offset": cr.History.Offset, "events": cr.History.Events}
		}
	}
	return out, nil
}

func (h *apiHandler) terminate(key, userID string) (any, error) {
	if !pusher.ValidChannelName(userID) {
		return nil, fail(http.StatusBadRequest, "invalid user id")
	}
	if _, err := h.broker.TerminateUser(&actors.TerminateUserRequest{App: key, UserID: userID}); err != nil {
		return nil, brokerError(err)
	}
	return struct{}{}, nil
}

func (h *apiHandler) users(key, name string) (any, error) {
	if pusher.Kind(name) != pusher.Presence || !pusher.ValidChannelName(name) {
		return nil, fail(http.StatusBadRequest, "users are listed for presence channels only")
	}
	res, err := h.broker.Users(&actors.UsersRequest{App: key, Channel: name})
	if err != nil {
		return nil, brokerError(err)
	}
	ids := res.IDs
	users := make([]map[string]string, len(ids))
	for i, id := range ids {
		users[i] = map[string]string{"id": id}
	}
	return map[string]any{"users": users}, nil
}

// brokerError is the answer to a query the broker did not answer: 503
// when it did not in time, 404 for an app removed meanwhile; anything
// else is an internal error.
func brokerError(err error) error {
	switch {
	case errors.Is(err, actors.ErrNoAnswer):
		return fail(http.StatusServiceUnavailable, "the broker did not answer in time")
	case errors.Is(err, actors.ErrUnknownApp):
		return fail(http.StatusNotFound, "unknown app")
	}
	return err
}

// infoAttrs returns the requested attributes of one channel: user_count
// on presence channels only, subscription_count on any.
func infoAttrs(name string, ci actors.ChannelInfo, info []string) map[string]any {
	out := map[string]any{}
	for _, a := range info {
		switch a {
		case "user_count":
			if pusher.Kind(name) == pusher.Presence {
				out["user_count"] = ci.Users
			}
		case "subscription_count":
			out["subscription_count"] = ci.Subscriptions
		}
	}
	return out
}

func infoMap(m map[string]actors.ChannelInfo, info []string) map[string]any {
	out := make(map[string]any, len(m))
	for name, ci := range m {
		out[name] = infoAttrs(name, ci, info)
	}
	return out
}
