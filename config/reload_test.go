package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testcert"
)

func TestReload(t *testing.T) {
	cert := testcert.Write(t, t.TempDir(), "server")
	on := TLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	cur := validConfig()

	next := cur
	next.Log.Level = "debug"
	next.Log.Format = "json"
	next.WebSocket.Listen = "127.0.0.1:4000"
	next.WebSocket.MaxConnections = 7
	next.WebSocket.ActivityTimeout = time.Minute
	next.WebSocket.TLS = on
	next.Webhooks.Debounce = time.Second
	next.Cluster.Name = "other"
	next.Apps = append([]App(nil), cur.Apps...)
	next.Apps[0].ClientEvents = !cur.Apps[0].ClientEvents

	got, changed, ignored := Reload(cur, next)
	wantChanged := []string{"websocket.max_connections", "log.level", "webhooks.debounce", "apps"}
	wantIgnored := []string{"websocket.listen", "websocket.activity_timeout", "websocket.tls.cert_file", "websocket.tls.key_file", "log.format", "cluster.name"}
	if !reflect.DeepEqual(changed, wantChanged) || !reflect.DeepEqual(ignored, wantIgnored) {
		t.Errorf("changed %q, ignored %q; want %q, %q", changed, ignored, wantChanged, wantIgnored)
	}
	want := cur
	want.Log.Level, want.WebSocket.MaxConnections, want.Webhooks.Debounce, want.Apps = "debug", 7, time.Second, next.Apps
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Reload =\n%+v\nwant\n%+v", got, want)
	}

	// With TLS on both sides, new certificate paths apply.
	cur.API.TLS, next = on, cur
	next.API.TLS = TLS{CertFile: cert.CertFile + ".new", KeyFile: cert.KeyFile}
	got, changed, ignored = Reload(cur, next)
	if got.API.TLS != next.API.TLS || !reflect.DeepEqual(changed, []string{"api.tls.cert_file"}) || ignored != nil {
		t.Errorf("new cert path: tls %+v, changed %q, ignored %q", got.API.TLS, changed, ignored)
	}

	// Leaving dev mode (the file got its first app) takes a restart.
	dev := Default()
	dev.Apps, dev.DevMode = []App{DevApp()}, true
	got, _, ignored = Reload(dev, validConfig())
	if !reflect.DeepEqual(got.Apps, dev.Apps) || !reflect.DeepEqual(ignored, []string{"apps"}) {
		t.Errorf("dev mode: apps %+v, ignored %q", got.Apps, ignored)
	}
}

func TestReloadable(t *testing.T) {
	for key, want := range map[string]bool{
		"log.level": true, "webhooks.retry_for": true, "websocket.max_connections": true, "api.max_body_size": true,
		"websocket.listen": false, "api.listen": false, "cluster.provider": false, "log.format": false, "websocket.max_message_size": false,
	} {
		if Reloadable(key) != want {
			t.Errorf("Reloadable(%q) = %v, want %v", key, !want, want)
		}
	}
}
