package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	d := Default()
	if len(d.Apps) != 0 || d.DevMode {
		t.Errorf("Default() has apps %v, DevMode %v; want none, false", d.Apps, d.DevMode)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"websocket.listen", d.WebSocket.Listen, "127.0.0.1:3131"},
		{"websocket.activity_timeout", d.WebSocket.ActivityTimeout, 30 * time.Second},
		{"websocket.max_message_size", d.WebSocket.MaxMessageSize, 32768},
		{"api.listen", d.API.Listen, "127.0.0.1:3232"},
		{"api.max_body_size", d.API.MaxBodySize, int64(262144)},
		{"log.level", d.Log.Level, "info"},
		{"log.format", d.Log.Format, "text"},
		{"webhooks.debounce", d.Webhooks.Debounce, 3 * time.Second},
		{"webhooks.batch_window", d.Webhooks.BatchWindow, 250 * time.Millisecond},
		{"webhooks.retry_for", d.Webhooks.RetryFor, 5 * time.Minute},
		{"shutdown_timeout", d.ShutdownTimeout, 10 * time.Second},
		{"websocket.write_queue_bytes", d.WebSocket.WriteQueueBytes, 1 << 20},
		{"websocket.max_connections_per_ip", d.WebSocket.MaxConnectionsPerIP, 0},
		{"metrics.enabled", d.Metrics.Enabled, true},
		{"metrics.listen", d.Metrics.Listen, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDevApp(t *testing.T) {
	want := App{
		ID:                       "", // any id: app-id and webman's 1024 both reach it
		Key:                      "app-key",
		Secret:                   "app-secret",
		ClientEvents:             true,
		ClientEventRate:          10,
		MaxPresenceMembers:       100,
		MaxChannelsPerConnection: 1000,
		CacheTTL:                 30 * time.Minute,
		History:                  History{TTL: 5 * time.Minute}, // off (size 0)
	}
	if got := DevApp(); !reflect.DeepEqual(got, want) {
		t.Errorf("DevApp() = %+v, want %+v", got, want)
	}
}

func TestWithDefaults(t *testing.T) {
	hooks := []Webhook{{URL: "https://example.com/a"}, {URL: "https://example.com/b", Format: WebhookFormatWebman}}
	a := App{Key: "k", Secret: "s", UserAuthenticationTimeout: 0, ClientEventRate: 3, Webhooks: hooks}.WithDefaults()

	if a.ClientEventRate != 3 {
		t.Errorf("ClientEventRate = %d, want the given 3", a.ClientEventRate)
	}
	if a.MaxPresenceMembers != 100 || a.MaxChannelsPerConnection != 1000 || a.CacheTTL != 30*time.Minute {
		t.Errorf("defaults not filled: %+v", a)
	}
	if a.UserAuthenticationTimeout != 0 {
		t.Errorf("UserAuthenticationTimeout = %s, want 0 (off)", a.UserAuthenticationTimeout)
	}
	if a.Webhooks[0].Format != WebhookFormatPusher || a.Webhooks[1].Format != WebhookFormatWebman {
		t.Errorf("webhook formats = %q, %q; want pusher, webman", a.Webhooks[0].Format, a.Webhooks[1].Format)
	}
	if hooks[0].Format != "" {
		t.Errorf("WithDefaults wrote into the caller's webhooks slice")
	}
}

// websocket.max_connections defaults to the descriptor limit less a
// reserve, so a WebSocket flood cannot starve the API of descriptors.
func TestDefaultMaxConnections(t *testing.T) {
	limit := fdLimit()
	if limit <= 0 {
		t.Fatal("the descriptor limit cannot be read on this machine")
	}
	if got, want := Default().WebSocket.MaxConnections, max(64, limit-fdReserve); got != want {
		t.Fatalf("default max_connections = %d, want %d (limit %d)", got, want, limit)
	}
}
