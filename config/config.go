package config

import (
	"crypto/tls"
	"fmt"
	"time"
)

// Config is Herald's whole configuration, as returned by Load.
type Config struct {
	// WebSocket configures the server that Pusher clients connect to.
	WebSocket WebSocket `koanf:"websocket"`
	// API configures the HTTP server of the Pusher REST API.
	API API `koanf:"api"`
	// Log configures the process log.
	Log Log `koanf:"log"`
	// Metrics configures GET /metrics (Prometheus).
	Metrics Metrics `koanf:"metrics"`
	// Webhooks holds the delivery settings shared by every app's webhooks.
	Webhooks Webhooks `koanf:"webhooks"`
	// Cluster makes this process one node of a cluster; the default is a
	// single node.
	Cluster Cluster `koanf:"cluster"`
	// Dashboard serves the live dashboard at /dashboard/ on the API
	// listener; off by default.
	Dashboard Dashboard `koanf:"dashboard"`
	// ShutdownTimeout bounds a graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// Apps lists the applications Herald serves. A list from a later
	// source replaces the earlier one whole; it is never merged item by item.
	Apps []App `koanf:"apps"`
	// DevMode is true when no app was configured anywhere and Load added
	// DevApp, so that the caller can warn that well-known credentials are
	// in use. It is not a configuration key.
	DevMode bool `koanf:"-"`
}

// WebSocket configures the server that Pusher clients connect to.
type WebSocket struct {
	// Listen is the host:port to listen on. Default "127.0.0.1:3131".
	Listen string `koanf:"listen"`
	// ActivityTimeout is the idle time after which a client should ping,
	// sent to clients in pusher:connection_established. Default 30s; it
	// must be whole seconds between 1s and 3600s because the protocol
	// carries it in seconds.
	ActivityTimeout time.Duration `koanf:"activity_timeout"`
	// PongTimeout is how long the server waits for a pong after its own
	// ping before it closes the connection. Default 30s; must be > 0.
	PongTimeout time.Duration `koanf:"pong_timeout"`
	// MaxMessageSize is the largest inbound frame, in bytes. Default
	// 32768; 1024..16777216.
	MaxMessageSize int `koanf:"max_message_size"`
	// WriteQueue is the number of frames queued for one socket before the
	// socket is closed with code 4100 (over capacity). Default 1024; >= 16.
	WriteQueue int `koanf:"write_queue"`
	// WriteQueueBytes is the number of bytes queued for one socket before
	// the socket is closed with code 4100; pongs and errors count too.
	// Default 1048576 (1 MiB); >= 4096.
	WriteQueueBytes int `koanf:"write_queue_bytes"`
	// MaxConnections caps the open WebSocket connections of the process;
	// upgrades past it get HTTP 503 and the API keeps working. Default:
	// the file descriptor limit less a reserve (see DefaultMaxConnections);
	// 0 means no cap.
	MaxConnections int `koanf:"max_connections"`
	// MaxConnectionsPerIP caps the open connections of one remote IP (the
	// TCP peer: behind a proxy, the proxy's). Default 0, no cap.
	MaxConnectionsPerIP int `koanf:"max_connections_per_ip"`
	// ReadBufferSize is the size of each connection's read buffer, in
	// bytes. Default 256 (clients send small frames: a subscribe, a pong;
	// a larger frame costs one more read, and an idle connection holds
	// 0.8 KiB less than at 1024, 1.5 KiB less RSS: BENCHMARKS.md); >= 256.
	ReadBufferSize int `koanf:"read_buffer_size"`
	// AllowedOrigins lists the Origin header values accepted on the
	// WebSocket handshake; other origins get 403. A request without an
	// Origin (not a browser) is accepted. Empty (the default) accepts any.
	AllowedOrigins []string `koanf:"allowed_origins"`
	// TLS serves wss:// instead of ws:// when set. When Listen equals
	// API.Listen the two TLS settings must be the same.
	TLS TLS `koanf:"tls"`
}

// TLS is a listener's certificate. Both files or neither: neither (the
// default) serves plain ws:// or http://. The files are read at start-up
// and again on every reload (SIGHUP), so a renewed certificate is served
// to new connections without dropping the open ones.
type TLS struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `koanf:"cert_file"`
	// KeyFile is the PEM private key of the leaf. Its contents are never
	// printed; the path is.
	KeyFile string `koanf:"key_file"`
}

// Enabled reports whether TLS is configured (both files given).
func (t TLS) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// API configures the HTTP server of the Pusher REST API.
type API struct {
	// Listen is the host:port to listen on. Default "127.0.0.1:3232". It
	// may equal WebSocket.Listen, in which case one port serves both.
	Listen string `koanf:"listen"`
	// MaxBodySize is the largest request body, in bytes. Default 262144.
	MaxBodySize int64 `koanf:"max_body_size"`
	// ReadHeaderTimeout is http.Server.ReadHeaderTimeout. Default 5s.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	// ReadTimeout is http.Server.ReadTimeout. Default 10s.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// WriteTimeout is http.Server.WriteTimeout. Default 10s.
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// IdleTimeout is http.Server.IdleTimeout. Default 60s.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// RequestTimeout is how long one API request may wait for the broker
	// to answer. Default 5s.
	RequestTimeout time.Duration `koanf:"request_timeout"`
	// TLS serves https:// instead of http:// when set.
	TLS TLS `koanf:"tls"`
}

// Log configures the process log.
type Log struct {
	// Level is one of debug, info, warn or error. Default info.
	Level string `koanf:"level"`
	// Format is text or json. Default text.
	Format string `koanf:"format"`
}

// Metrics configures GET /metrics, the Prometheus text format of the
// broker's counters.
type Metrics struct {
	// Enabled serves /metrics. Default true.
	Enabled bool `koanf:"enabled"`
	// Listen is the host:port of a listener of its own for /metrics.
	// Default "": /metrics is served on the API listener.
	Listen string `koanf:"listen"`
}

// Webhooks holds the delivery settings shared by every app's webhooks.
type Webhooks struct {
	// Debounce holds webhook events back for this long, so that a change
	// undone meanwhile (a page reload vacating then reoccupying a channel)
	// need not be sent. Default 3s; 0 disables debouncing.
	Debounce time.Duration `koanf:"debounce"`
	// BatchWindow is how long events are collected into one request.
	// Default 250ms.
	BatchWindow time.Duration `koanf:"batch_window"`
	// BatchMax is the largest number of events in one request. Default 20;
	// 1..100.
	BatchMax int `koanf:"batch_max"`
	// Timeout bounds one delivery attempt. Default 4s.
	Timeout time.Duration `koanf:"timeout"`
	// RetryFor is how long a failed delivery keeps being retried. Default
	// 5m; 0 means no retry.
	RetryFor time.Duration `koanf:"retry_for"`
	// QueueSize is the number of events queued per webhook URL. Default
	// 10000; >= 1.
	QueueSize int `koanf:"queue_size"`
	// BackoffMin is the wait before the first retry of a failed delivery;
	// each later wait doubles, up to BackoffMax. Default 1s; > 0.
	BackoffMin time.Duration `koanf:"backoff_min"`
	// BackoffMax caps the wait between retries. Default 60s; >= BackoffMin.
	BackoffMax time.Duration `koanf:"backoff_max"`
}

// Cluster configures clustering (docs/cluster.md). Every node has its own
// websocket.listen and api.listen and the same apps.
type Cluster struct {
	// Provider is the membership: "" (the default) runs a single node;
	// "etcd" joins the nodes registered in etcd under Name.
	Provider string `koanf:"provider"`
	// Name: nodes with the same provider and name form one cluster.
	// Default "herald".
	Name string `koanf:"name"`
	// EtcdEndpoints are the etcd servers (host:port). Default
	// [127.0.0.1:2379].
	EtcdEndpoints []string `koanf:"etcd_endpoints"`
	// Listen is this node's inter-node (gRPC) address; port 0 picks a free
	// one. Default "127.0.0.1:0".
	Listen string `koanf:"listen"`
	// Advertise is the host:port the other nodes dial, when it differs
	// from Listen. Default "" (Listen's).
	Advertise string `koanf:"advertise"`
	// Grace is how long a departure (a member's last connection, a
	// channel's last subscription, a node that left) waits before it is
	// told, so that a reconnect to another node within it shows nothing.
	// Default 5s; > 0.
	Grace time.Duration `koanf:"grace"`
}

// Dashboard configures the live dashboard and debug console at
// /dashboard/ on the API listener.
type Dashboard struct {
	// Token is the bearer token the dashboard's data requires. Empty (the
	// default) turns the dashboard off, except in dev mode, where Herald
	// makes a random token at start and logs the dashboard's URL with it.
	// It is a credential: never printed, never logged. At least
	// MinDashboardTokenLength characters, printable ASCII without spaces.
	Token string `koanf:"token"`
}

// MinDashboardTokenLength is the shortest dashboard.token accepted. It is
// no more than the mask check-config prints in a token's place, so that
// the printed configuration loads back; use a long random token anyway
// (openssl rand -hex 16).
const MinDashboardTokenLength = 8

// Cluster providers.
const (
	ClusterSingleNode = ""
	ClusterEtcd       = "etcd"
)

// App is one application: a key/secret pair and its features.
//
// The fields documented as "0 means the default" are filled by Load (see
// WithDefaults), because apps from a file replace the default list whole and
// so cannot inherit defaults from it.
type App struct {
	// ID is the app id in REST API paths (/apps/{id}/...). Empty accepts
	// any id.
	ID string `koanf:"id"`
	// Key is the public app key. Required, unique, made of [A-Za-z0-9_.-].
	Key string `koanf:"key"`
	// Secret signs and verifies requests. Required; never printed.
	Secret string `koanf:"secret"`
	// ClientEvents allows client-* events on private and presence
	// channels. Default false, as on Pusher; DevApp has true.
	ClientEvents bool `koanf:"client_events"`
	// ClientEventRate is the number of client events one connection may
	// send per second. 0 means the default, 10.
	ClientEventRate int `koanf:"client_event_rate"`
	// MaxPresenceMembers caps the members of one presence channel. 0 means
	// the default, 100; at most 10000.
	MaxPresenceMembers int `koanf:"max_presence_members"`
	// MaxChannelsPerConnection caps the subscriptions of one connection.
	// 0 means the default, 1000 (Pusher imposes none; pusher-js re-sends
	// every subscription at once after a reconnect).
	MaxChannelsPerConnection int `koanf:"max_channels_per_connection"`
	// MaxConnections caps the app's open connections; a connection past it
	// is closed with 4004. 0, the default, means no cap.
	MaxConnections int `koanf:"max_connections"`
	// MaxBackendEventsPerSecond caps the events the app's backends publish
	// through the API (each channel of an /events call and each batch item
	// is one); past it the API answers 429. 0, the default, means no cap.
	MaxBackendEventsPerSecond int `koanf:"max_backend_events_per_second"`
	// MaxReadRequestsPerSecond caps the app's API queries (GET channels,
	// channel, users); past it the API answers 429. 0, the default, means
	// no cap.
	MaxReadRequestsPerSecond int `koanf:"max_read_requests_per_second"`
	// UserAuthenticationTimeout is how long a connection may stay without
	// pusher:signin before it is closed. 0, the default, turns it off.
	UserAuthenticationTimeout time.Duration `koanf:"user_authentication_timeout"`
	// Watchlist enables watchlist events for signed-in users. Default false.
	Watchlist bool `koanf:"watchlist"`
	// SubscriptionCount enables pusher_internal:subscription_count events.
	// Default false.
	SubscriptionCount bool `koanf:"subscription_count"`
	// CacheTTL is how long the last event of a cache channel is kept. 0
	// means the default, 30m.
	CacheTTL time.Duration `koanf:"cache_ttl"`
	// History keeps the last events of channels so that Herald's
	// JavaScript client recovers what it missed while reconnecting
	// (docs/recovery.md). Off by default.
	History History `koanf:"history"`
	// Webhooks lists the URLs this app's events are delivered to.
	Webhooks []Webhook `koanf:"webhooks"`
}

// History is an app's channel history (docs/recovery.md).
type History struct {
	// Size is the number of events kept per channel. Default 0: no
	// history; at most MaxHistorySize.
	Size int `koanf:"size"`
	// TTL is how long an event is kept, and how long a channel without
	// subscribers keeps its history. 0 means the default, 5m; at most 24h.
	TTL time.Duration `koanf:"ttl"`
	// Prefixes limits history to the channels whose names start with one
	// of them. Empty (the default) means every channel.
	Prefixes []string `koanf:"prefixes"`
}

// MaxHistorySize is the largest history.size: the events one channel may
// keep.
const MaxHistorySize = 10000

// Webhook is one delivery target of an app.
type Webhook struct {
	// URL is the absolute http or https URL events are POSTed to. Required.
	URL string `koanf:"url"`
	// Format is WebhookFormatPusher or WebhookFormatWebman. Empty means
	// the default, pusher.
	Format string `koanf:"format"`
	// Events filters the events sent. Empty sends every event of the
	// format (PusherWebhookEvents or WebmanWebhookEvents).
	Events []string `koanf:"events"`
	// Headers are added to every request. Their values may hold
	// credentials, so they are never printed.
	Headers map[string]string `koanf:"headers"`
}

// Webhook formats.
const (
	// WebhookFormatPusher is Pusher's webhook body, signed with
	// X-Pusher-Key and X-Pusher-Signature.
	WebhookFormatPusher = "pusher"
	// WebhookFormatWebman is the body of webman/push's webhooks.
	WebhookFormatWebman = "webman"
)

// PusherWebhookEvents are the event names of the pusher webhook format.
var PusherWebhookEvents = []string{
	"channel_occupied",
	"channel_vacated",
	"member_added",
	"member_removed",
	"client_event",
	"cache_miss",
	"subscription_count",
}

// WebmanWebhookEvents are the event names of the webman webhook format.
var WebmanWebhookEvents = []string{
	"channel_added",
	"channel_removed",
	"user_added",
	"user_removed",
}

// Per-app defaults, applied by WithDefaults to the fields whose zero value
// means "use the default".
const (
	defaultClientEventRate          = 10
	defaultMaxPresenceMembers       = 100
	defaultMaxChannelsPerConnection = 1000
	defaultCacheTTL                 = 30 * time.Minute
	defaultHistoryTTL               = 5 * time.Minute
)

// Default returns the defaults of every setting, with no apps: the one
// place where default values are written down. It is the first layer of
// Load; a program that embeds Herald starts from it, sets its apps and
// passes it to herald.New. The layers below (transport, actors, webhooks)
// take every value from it and restate none.
func Default() Config {
	return Config{
		WebSocket: WebSocket{
			Listen:          "127.0.0.1:3131",
			ActivityTimeout: 30 * time.Second,
			PongTimeout:     30 * time.Second,
			MaxMessageSize:  32 << 10,
			WriteQueue:      1024,
			WriteQueueBytes: 1 << 20,
			MaxConnections:  DefaultMaxConnections(),
			ReadBufferSize:  256,
		},
		API: API{
			Listen:            "127.0.0.1:3232",
			MaxBodySize:       256 << 10,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       60 * time.Second,
			RequestTimeout:    5 * time.Second,
		},
		Log: Log{
			Level:  "info",
			Format: "text",
		},
		Metrics: Metrics{
			Enabled: true,
		},
		Webhooks: Webhooks{
			Debounce:    3 * time.Second,
			BatchWindow: 250 * time.Millisecond,
			BatchMax:    20,
			Timeout:     4 * time.Second,
			RetryFor:    5 * time.Minute,
			QueueSize:   10000,
			BackoffMin:  time.Second,
			BackoffMax:  time.Minute,
		},
		Cluster: Cluster{
			Name:          "herald",
			EtcdEndpoints: []string{"127.0.0.1:2379"},
			Listen:        "127.0.0.1:0",
			Grace:         5 * time.Second,
		},
		ShutdownTimeout: 10 * time.Second,
	}
}

// DevApp returns the app Load adds when none is configured, so that Herald
// works out of the box with the credentials of the usual client examples:
// key app-key and secret app-secret. Its id is empty, so any id in API
// paths reaches it: app-id (the id the examples use) as well as 1024,
// which webman/push's PHP Api always sends. Client events are on because
// that is what one tries first in development.
func DevApp() App {
	return App{
		Key:          "app-key",
		Secret:       "app-secret",
		ClientEvents: true,
	}.WithDefaults()
}

// WithDefaults returns a copy of a with the defaults filled into the fields
// whose zero value means "use the default". UserAuthenticationTimeout is
// left alone because its zero value means "off".
func (a App) WithDefaults() App {
	if a.ClientEventRate == 0 {
		a.ClientEventRate = defaultClientEventRate
	}
	if a.MaxPresenceMembers == 0 {
		a.MaxPresenceMembers = defaultMaxPresenceMembers
	}
	if a.MaxChannelsPerConnection == 0 {
		a.MaxChannelsPerConnection = defaultMaxChannelsPerConnection
	}
	if a.CacheTTL == 0 {
		a.CacheTTL = defaultCacheTTL
	}
	if a.History.TTL == 0 {
		a.History.TTL = defaultHistoryTTL
	}
	if len(a.Webhooks) > 0 {
		// Copy so that filling defaults never writes into the caller's slice.
		hooks := make([]Webhook, len(a.Webhooks))
		copy(hooks, a.Webhooks)
		for i := range hooks {
			if hooks[i].Format == "" {
				hooks[i].Format = WebhookFormatPusher
			}
		}
		a.Webhooks = hooks
	}
	return a
}

// fdReserve is what DefaultMaxConnections keeps of the file descriptor
// limit for everything but WebSocket connections: listeners, API
// connections, webhook deliveries, config and log files.
const fdReserve = 256

// DefaultMaxConnections is websocket.max_connections' default: the
// process's file descriptor limit less fdReserve (at least 64), so that a
// flood of WebSocket connections can never starve the API and /healthz of
// descriptors. 0 (no cap) when the limit cannot be read.
func DefaultMaxConnections() int {
	limit := fdLimit()
	if limit <= 0 {
		return 0
	}
	return max(64, limit-fdReserve)
}

// Load reads the certificate and key files. Its error names the files and
// what is wrong with them (crypto/tls describes PEM and key problems
// without quoting the key).
func (t TLS) Load() (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load the certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
	}
	return cert, nil
}
