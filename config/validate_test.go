package config

import (
	"strings"
	"testing"
	"time"
)

const testSecret = "validate-secret-e91f"

// validConfig returns a valid configuration with one app and one webhook,
// for the cases below to break one setting of.
func validConfig() Config {
	c := Default()
	c.Apps = []App{App{
		ID:     "1",
		Key:    "key-1",
		Secret: testSecret,
		Webhooks: []Webhook{{
			URL:     "https://hooks.example.com/x",
			Headers: map[string]string{"Authorization": "Bearer " + testSecret},
		}},
	}.WithDefaults()}
	return c
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"valid", func(*Config) {}},
		{"no apps", func(c *Config) { c.Apps = nil }},
		{"one port for both servers", func(c *Config) { c.API.Listen = c.WebSocket.Listen }},
		{"any host", func(c *Config) { c.WebSocket.Listen = ":3131" }},
		{"ipv6", func(c *Config) { c.API.Listen = "[::1]:3232" }},
		{"no debounce, no retry", func(c *Config) { c.Webhooks.Debounce, c.Webhooks.RetryFor = 0, 0 }},
		{"activity bounds", func(c *Config) { c.WebSocket.ActivityTimeout = time.Hour }},
		{"apps without id", func(c *Config) {
			c.Apps = append(c.Apps, App{Key: "key-2", Secret: "x"}.WithDefaults(), App{Key: "key-3", Secret: "x"}.WithDefaults())
			c.Apps[0].ID = ""
		}},
		{"webman events", func(c *Config) {
			c.Apps[0].Webhooks[0].Format = WebhookFormatWebman
			c.Apps[0].Webhooks[0].Events = WebmanWebhookEvents
		}},
		{"pusher events", func(c *Config) { c.Apps[0].Webhooks[0].Events = PusherWebhookEvents }},
		{"metrics on a port of its own", func(c *Config) { c.Metrics.Listen = "127.0.0.1:9100" }},
		{"metrics off, listen not checked", func(c *Config) { c.Metrics = Metrics{Enabled: false, Listen: c.API.Listen} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"listen without port", func(c *Config) { c.WebSocket.Listen = "localhost" }, []string{"websocket.listen"}},
		{"listen with named port", func(c *Config) { c.API.Listen = "localhost:http" }, []string{"api.listen"}},
		{"activity timeout too small", func(c *Config) { c.WebSocket.ActivityTimeout = 0 }, []string{"websocket.activity_timeout"}},
		{"activity timeout too large", func(c *Config) { c.WebSocket.ActivityTimeout = time.Hour + time.Second }, []string{"websocket.activity_timeout"}},
		{"activity timeout not whole seconds", func(c *Config) { c.WebSocket.ActivityTimeout = 2500 * time.Millisecond }, []string{"websocket.activity_timeout"}},
		{"pong timeout", func(c *Config) { c.WebSocket.PongTimeout = 0 }, []string{"websocket.pong_timeout"}},
		{"message size", func(c *Config) { c.WebSocket.MaxMessageSize = 1023 }, []string{"websocket.max_message_size"}},
		{"message size large", func(c *Config) { c.WebSocket.MaxMessageSize = 16<<20 + 1 }, []string{"websocket.max_message_size"}},
		{"write queue", func(c *Config) { c.WebSocket.WriteQueue = 15 }, []string{"websocket.write_queue"}},
		{"read buffer", func(c *Config) { c.WebSocket.ReadBufferSize = 255 }, []string{"websocket.read_buffer_size"}},
		{"empty origin", func(c *Config) { c.WebSocket.AllowedOrigins = []string{"https://a.example", ""} }, []string{"websocket.allowed_origins[1]"}},
		{"body size", func(c *Config) { c.API.MaxBodySize = 0 }, []string{"api.max_body_size"}},
		{"api timeouts", func(c *Config) {
			c.API.ReadHeaderTimeout, c.API.ReadTimeout, c.API.WriteTimeout, c.API.IdleTimeout, c.API.RequestTimeout = 0, 0, 0, 0, -1
		}, []string{"api.read_header_timeout", "api.read_timeout", "api.write_timeout", "api.idle_timeout", "api.request_timeout"}},
		{"log", func(c *Config) { c.Log = Log{Level: "INFO", Format: ""} }, []string{"log.level", "log.format"}},
		{"webhook settings", func(c *Config) {
			c.Webhooks = Webhooks{Debounce: -1, BatchWindow: -1, BatchMax: 101, Timeout: 0, RetryFor: -1, QueueSize: 0, BackoffMin: 0, BackoffMax: -1}
		}, []string{"webhooks.debounce", "webhooks.batch_window", "webhooks.batch_max", "webhooks.timeout", "webhooks.retry_for", "webhooks.queue_size",
			"webhooks.backoff_min", "webhooks.backoff_max"}},
		{"backoff max below min", func(c *Config) { c.Webhooks.BackoffMin, c.Webhooks.BackoffMax = time.Minute, time.Second }, []string{"webhooks.backoff_max"}},
		{"cluster grace", func(c *Config) { c.Cluster.Provider, c.Cluster.Grace = ClusterEtcd, 0 }, []string{"cluster.grace"}},
		{"shutdown timeout", func(c *Config) { c.ShutdownTimeout = 0 }, []string{"shutdown_timeout"}},
		{"metrics listen", func(c *Config) { c.Metrics.Listen = "localhost" }, []string{"metrics.listen", "host:port"}},
		{"metrics on the api port", func(c *Config) { c.Metrics.Listen = c.API.Listen }, []string{"metrics.listen", "must differ"}},
		{"metrics on the websocket port", func(c *Config) { c.Metrics.Listen = c.WebSocket.Listen }, []string{"metrics.listen", "must differ"}},
		{"key and secret required", func(c *Config) { c.Apps[0].Key, c.Apps[0].Secret = "", "" }, []string{"apps[0].key", "apps[0].secret"}},
		{"key charset", func(c *Config) { c.Apps[0].Key = "key/1" }, []string{"apps[0].key"}},
		{"duplicate key", func(c *Config) {
			c.Apps = append(c.Apps, App{Key: "key-1", Secret: testSecret}.WithDefaults())
		}, []string{"apps[1].key", "apps[0]"}},
		{"duplicate id", func(c *Config) {
			c.Apps = append(c.Apps, App{ID: "1", Key: "key-2", Secret: testSecret}.WithDefaults())
		}, []string{"apps[1].id"}},
		{"app limits", func(c *Config) {
			a := &c.Apps[0]
			a.ClientEventRate, a.MaxPresenceMembers, a.MaxChannelsPerConnection = 0, 10001, 0
			a.UserAuthenticationTimeout, a.CacheTTL = -1, 0
		}, []string{"apps[0].client_event_rate", "apps[0].max_presence_members", "apps[0].max_channels_per_connection", "apps[0].user_authentication_timeout", "apps[0].cache_ttl"}},
		{"history bounds", func(c *Config) {
			c.Apps[0].History = History{Size: MaxHistorySize + 1, TTL: 25 * time.Hour, Prefixes: []string{"chat-", "", "bad prefix"}}
		}, []string{"apps[0].history.size", "apps[0].history.ttl", "apps[0].history.prefixes[1]", "apps[0].history.prefixes[2]"}},
		{"history ttl", func(c *Config) { c.Apps[0].History = History{Size: 10, TTL: 500 * time.Millisecond} }, []string{"apps[0].history.ttl"}},
		{"history size negative", func(c *Config) { c.Apps[0].History.Size = -1 }, []string{"apps[0].history.size"}},
		{"webhook url relative", func(c *Config) { c.Apps[0].Webhooks[0].URL = "/hooks" }, []string{"apps[0].webhooks[0].url"}},
		{"webhook url scheme", func(c *Config) { c.Apps[0].Webhooks[0].URL = "ftp://x.example/" }, []string{"apps[0].webhooks[0].url"}},
		{"webhook url empty", func(c *Config) { c.Apps[0].Webhooks[0].URL = "" }, []string{"apps[0].webhooks[0].url"}},
		{"webhook format", func(c *Config) { c.Apps[0].Webhooks[0].Format = "slack" }, []string{"apps[0].webhooks[0].format", `"slack"`}},
		{"webhook event", func(c *Config) { c.Apps[0].Webhooks[0].Events = []string{"channel_ocupied"} }, []string{"apps[0].webhooks[0].events", `"channel_ocupied"`}},
		{"webhook event of the other format", func(c *Config) { c.Apps[0].Webhooks[0].Events = []string{"user_added"} }, []string{"apps[0].webhooks[0].events", `"user_added"`}},
		{"webhook header name", func(c *Config) { c.Apps[0].Webhooks[0].Headers["X Bad"] = testSecret }, []string{"apps[0].webhooks[0].headers", `"X Bad"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want errors naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// The secret put where a key or URL belongs must not be printed either.
func TestValidateHidesMisplacedSecret(t *testing.T) {
	c := validConfig()
	c.Apps = append(c.Apps, App{Key: testSecret + "/", Secret: testSecret}.WithDefaults())
	c.Apps[0].Webhooks[0].URL = "ftp://user:" + testSecret + "@x.example/"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error shows the secret: %v", err)
	}
}
