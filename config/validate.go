package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/herald-push/herald/pusher"
)

// Validate reports every invalid setting of c, each in an error that starts
// with the key path, joined with errors.Join. Messages never quote app
// secrets, webhook URLs (which may hold credentials) or header values; app
// keys are not quoted either, in case a secret was put in their place.
func (c Config) Validate() error {
	var v validator

	ws := c.WebSocket
	v.listen("websocket.listen", ws.Listen)
	v.check(ws.ActivityTimeout >= time.Second && ws.ActivityTimeout <= time.Hour && ws.ActivityTimeout%time.Second == 0,
		"websocket.activity_timeout", "must be whole seconds from 1s to 3600s, got %s", ws.ActivityTimeout)
	v.check(ws.PongTimeout > 0, "websocket.pong_timeout", "must be > 0, got %s", ws.PongTimeout)
	v.check(ws.MaxMessageSize >= 1024 && ws.MaxMessageSize <= 16<<20,
		"websocket.max_message_size", "must be from 1024 to 16777216, got %d", ws.MaxMessageSize)
	v.check(ws.WriteQueue >= 16, "websocket.write_queue", "must be >= 16, got %d", ws.WriteQueue)
	v.check(ws.WriteQueueBytes >= 4096, "websocket.write_queue_bytes", "must be >= 4096, got %d", ws.WriteQueueBytes)
	v.check(ws.MaxConnections >= 0, "websocket.max_connections", "must be >= 0, got %d", ws.MaxConnections)
	v.check(ws.MaxConnectionsPerIP >= 0, "websocket.max_connections_per_ip", "must be >= 0, got %d", ws.MaxConnectionsPerIP)
	v.check(ws.ReadBufferSize >= 256, "websocket.read_buffer_size", "must be >= 256, got %d", ws.ReadBufferSize)
	for i, origin := range ws.AllowedOrigins {
		v.check(origin != "", fmt.Sprintf("websocket.allowed_origins[%d]", i), "must not be empty")
	}
	v.tls("websocket.tls", ws.TLS)

	api := c.API
	v.listen("api.listen", api.Listen)
	v.check(api.MaxBodySize > 0, "api.max_body_size", "must be > 0, got %d", api.MaxBodySize)
	v.positive("api.read_header_timeout", api.ReadHeaderTimeout)
	v.positive("api.read_timeout", api.ReadTimeout)
	v.positive("api.write_timeout", api.WriteTimeout)
	v.positive("api.idle_timeout", api.IdleTimeout)
	v.positive("api.request_timeout", api.RequestTimeout)
	v.tls("api.tls", api.TLS)
	v.check(ws.Listen != api.Listen || ws.TLS == api.TLS, "api.tls",
		"must be the same as websocket.tls when api.listen equals websocket.listen (one listener)")

	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")

	if m := c.Metrics; m.Enabled && m.Listen != "" {
		v.listen("metrics.listen", m.Listen)
		v.check(!sameListen(m.Listen, c.API.Listen) && !sameListen(m.Listen, c.WebSocket.Listen), "metrics.listen",
			"must differ from websocket.listen and api.listen (leave it empty to serve /metrics on the API listener)")
	}

	wh := c.Webhooks
	v.check(wh.Debounce >= 0, "webhooks.debounce", "must be >= 0, got %s", wh.Debounce)
	v.check(wh.BatchWindow >= 0, "webhooks.batch_window", "must be >= 0, got %s", wh.BatchWindow)
	v.check(wh.BatchMax >= 1 && wh.BatchMax <= 100, "webhooks.batch_max", "must be from 1 to 100, got %d", wh.BatchMax)
	v.positive("webhooks.timeout", wh.Timeout)
	v.check(wh.RetryFor >= 0, "webhooks.retry_for", "must be >= 0, got %s", wh.RetryFor)
	v.check(wh.QueueSize >= 1, "webhooks.queue_size", "must be >= 1, got %d", wh.QueueSize)
	v.positive("webhooks.backoff_min", wh.BackoffMin)
	v.check(wh.BackoffMax >= wh.BackoffMin, "webhooks.backoff_max", "must be >= webhooks.backoff_min (%s), got %s", wh.BackoffMin, wh.BackoffMax)

	cl := c.Cluster
	v.oneOf("cluster.provider", cl.Provider, ClusterSingleNode, ClusterEtcd)
	if cl.Provider != ClusterSingleNode {
		v.check(isName(cl.Name), "cluster.name", "must be made of letters, digits, '_', '-' and '.'")
		v.listen("cluster.listen", cl.Listen)
		if cl.Advertise != "" {
			v.listen("cluster.advertise", cl.Advertise)
		}
		v.positive("cluster.grace", cl.Grace)
		v.check(len(cl.EtcdEndpoints) > 0, "cluster.etcd_endpoints", "must name at least one etcd server")
		for i, e := range cl.EtcdEndpoints {
			v.listen(fmt.Sprintf("cluster.etcd_endpoints[%d]", i), strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://"))
		}
	}

	if t := c.Dashboard.Token; t != "" {
		// Never quoted: it is a credential.
		v.check(len(t) >= MinDashboardTokenLength, "dashboard.token", "must be at least %d characters", MinDashboardTokenLength)
		v.check(isPrintable(t), "dashboard.token", "must be printable ASCII without spaces")
	}

	v.positive("shutdown_timeout", c.ShutdownTimeout)

	v.apps(c.Apps)
	return errors.Join(v.errs...)
}

// validator collects the errors of Validate.
type validator struct {
	errs []error
}

// check records an error for key unless ok.
func (v *validator) check(ok bool, key, format string, args ...any) {
	if !ok {
		v.errs = append(v.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
}

func (v *validator) positive(key string, d time.Duration) {
	v.check(d > 0, key, "must be > 0, got %s", d)
}

func (v *validator) oneOf(key, value string, allowed ...string) {
	v.check(slices.Contains(allowed, value), key, "must be one of %s, got %q", strings.Join(allowed, ", "), value)
}

// tls checks a listener's certificate: both files or neither, and a pair
// that loads. The error names the files (paths, never their contents).
func (v *validator) tls(key string, t TLS) {
	switch {
	case t.CertFile == "" && t.KeyFile == "":
	case t.CertFile == "":
		v.check(false, key+".cert_file", "is required when %s.key_file is set", key)
	case t.KeyFile == "":
		v.check(false, key+".key_file", "is required when %s.cert_file is set", key)
	default:
		if _, err := t.Load(); err != nil {
			v.check(false, key, "%v", err)
		}
	}
}

// listen checks a listen address. A numeric port is required, although
// net.Listen would also take a service name, so that the port in use can be
// read from the configuration.
func (v *validator) listen(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	v.check(err == nil, key, "must be host:port with a numeric port, got %q", addr)
}

func (v *validator) apps(apps []App) {
	keys := make(map[string]int)
	ids := make(map[string]int)
	for i, a := range apps {
		p := fmt.Sprintf("apps[%d]", i)

		if a.Key == "" {
			v.check(false, p+".key", "is required")
		} else if !isName(a.Key) {
			v.check(false, p+".key", "must be made of letters, digits, '_', '-' and '.'")
		} else if j, dup := keys[a.Key]; dup {
			v.check(false, p+".key", "is the same as apps[%d].key", j)
		} else {
			keys[a.Key] = i
		}
		v.check(a.Secret != "", p+".secret", "is required")
		if a.ID != "" {
			if !isName(a.ID) {
				v.check(false, p+".id", "must be made of letters, digits, '_', '-' and '.'")
			} else if j, dup := ids[a.ID]; dup {
				v.check(false, p+".id", "%q is already the id of apps[%d]", a.ID, j)
			} else {
				ids[a.ID] = i
			}
		}

		v.check(a.ClientEventRate >= 1, p+".client_event_rate", "must be >= 1, got %d", a.ClientEventRate)
		v.check(a.MaxPresenceMembers >= 1 && a.MaxPresenceMembers <= 10000,
			p+".max_presence_members", "must be from 1 to 10000, got %d", a.MaxPresenceMembers)
		v.check(a.MaxChannelsPerConnection >= 1,
			p+".max_channels_per_connection", "must be >= 1, got %d", a.MaxChannelsPerConnection)
		v.check(a.MaxConnections >= 0, p+".max_connections", "must be >= 0, got %d", a.MaxConnections)
		v.check(a.MaxBackendEventsPerSecond >= 0,
			p+".max_backend_events_per_second", "must be >= 0, got %d", a.MaxBackendEventsPerSecond)
		v.check(a.MaxReadRequestsPerSecond >= 0,
			p+".max_read_requests_per_second", "must be >= 0, got %d", a.MaxReadRequestsPerSecond)
		v.check(a.UserAuthenticationTimeout >= 0,
			p+".user_authentication_timeout", "must be >= 0, got %s", a.UserAuthenticationTimeout)
		v.positive(p+".cache_ttl", a.CacheTTL)
		v.check(a.History.Size >= 0 && a.History.Size <= MaxHistorySize,
			p+".history.size", "must be from 0 to %d, got %d", MaxHistorySize, a.History.Size)
		v.check(a.History.TTL >= time.Second && a.History.TTL <= 24*time.Hour,
			p+".history.ttl", "must be from 1s to 24h, got %s", a.History.TTL)
		for j, prefix := range a.History.Prefixes {
			v.check(pusher.ValidChannelName(prefix), fmt.Sprintf("%s.history.prefixes[%d]", p, j),
				"must be the start of a channel name: A-Z a-z 0-9 _ - = @ , . ; and at most 200 characters")
		}

		for j, w := range a.Webhooks {
			v.webhook(fmt.Sprintf("%s.webhooks[%d]", p, j), w)
		}
	}
}

func (v *validator) webhook(p string, w Webhook) {
	u, err := url.Parse(w.URL)
	v.check(err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "",
		p+".url", "must be an absolute http or https URL")

	var known []string
	switch w.Format {
	case WebhookFormatPusher:
		known = PusherWebhookEvents
	case WebhookFormatWebman:
		known = WebmanWebhookEvents
	default:
		v.check(false, p+".format", "must be %s or %s, got %q", WebhookFormatPusher, WebhookFormatWebman, w.Format)
	}
	// Events can only be judged against a known format.
	if known != nil {
		for _, e := range w.Events {
			v.check(slices.Contains(known, e), p+".events",
				"%q is not a %s event (want one of %s)", e, w.Format, strings.Join(known, ", "))
		}
	}

	// Sorted so that the errors come out in a stable order.
	for _, name := range slices.Sorted(maps.Keys(w.Headers)) {
		v.check(isToken(name), p+".headers", "%q is not a valid header name", name)
	}
}

// sameListen reports whether two listen addresses would take the same
// port (port 0 picks a free one each time).
func sameListen(a, b string) bool {
	_, port, err := net.SplitHostPort(a)
	return a == b && err == nil && port != "0"
}

// isName reports whether s is made of [A-Za-z0-9_.-], the characters that
// app keys and ids may use in channel auth strings and URL paths unescaped.
func isName(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
	}) < 0
}

// isPrintable reports whether s is made of printable ASCII other than the
// space, so that it fits an Authorization header and a URL unchanged.
func isPrintable(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) < 0
}

// isToken reports whether s is a valid HTTP header name (an RFC 9110 token).
func isToken(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", r))
	}) < 0
}
