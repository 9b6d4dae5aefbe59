package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// reloadable are the keys a running broker applies on reload (SIGHUP),
// besides apps and every webhooks.* key. The write queue bounds apply to
// connections opened after the reload. Every other key — the listeners'
// addresses, timeouts and buffer sizes, TLS on or off, log.format, the
// cluster — takes a restart.
var reloadable = []string{
	"log.level",
	"websocket.max_connections",
	"websocket.max_connections_per_ip",
	"websocket.allowed_origins",
	"websocket.write_queue",
	"websocket.write_queue_bytes",
	"api.max_body_size",
	"shutdown_timeout",
	// The certificate files are re-read on every reload; their paths may
	// change as long as TLS stays on (see Reload).
	"websocket.tls.cert_file",
	"websocket.tls.key_file",
	"api.tls.cert_file",
	"api.tls.key_file",
}

// Reloadable reports whether a change of key takes effect on reload.
func Reloadable(key string) bool {
	return strings.HasPrefix(key, "webhooks.") || slices.Contains(reloadable, key)
}

// Reload returns the configuration a running broker moves to when it
// reloads from cur to the newly loaded next: next's reloadable settings,
// cur's for the rest. changed lists the keys that differ and apply
// ("apps" when any app differs), ignored those that differ but take a
// restart, both in field order. Turning a listener's TLS on or off is
// ignored, and so is a change of apps that would enter or leave dev mode
// (the demo is mounted at start-up only).
func Reload(cur, next Config) (out Config, changed, ignored []string) {
	out = cur
	on := reflect.ValueOf(&out).Elem()
	nv := reflect.ValueOf(next)
	tlsFlip := map[string]bool{
		"websocket.tls.": cur.WebSocket.TLS.Enabled() != next.WebSocket.TLS.Enabled(),
		"api.tls.":       cur.API.TLS.Enabled() != next.API.TLS.Enabled(),
	}
	for _, key := range diffKeys(reflect.ValueOf(cur), nv, "") {
		ok := Reloadable(key)
		for prefix, flip := range tlsFlip {
			if flip && strings.HasPrefix(key, prefix) {
				ok = false
			}
		}
		if !ok {
			ignored = append(ignored, key)
			continue
		}
		field(on, key).Set(field(nv, key))
		changed = append(changed, key)
	}
	if !reflect.DeepEqual(cur.Apps, next.Apps) {
		if cur.DevMode != next.DevMode {
			ignored = append(ignored, "apps")
		} else {
			out.Apps = next.Apps
			changed = append(changed, "apps")
		}
	}
	return out, changed, ignored
}

// diffKeys returns the key paths of the scalar and list settings that
// differ between the structs a and b. Lists of sections (apps) are left
// to the caller.
func diffKeys(a, b reflect.Value, prefix string) []string {
	var keys []string
	t := a.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("koanf")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		fa, fb := a.Field(i), b.Field(i)
		switch {
		case fa.Type() == durationType:
			if fa.Int() != fb.Int() {
				keys = append(keys, key)
			}
		case fa.Kind() == reflect.Struct:
			keys = append(keys, diffKeys(fa, fb, key+".")...)
		case fa.Kind() == reflect.Slice && fa.Type().Elem().Kind() == reflect.Struct:
		default:
			if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
				keys = append(keys, key)
			}
		}
	}
	return keys
}

// field returns the field of the struct v at a key path.
func field(v reflect.Value, key string) reflect.Value {
	for name := range strings.SplitSeq(key, ".") {
		t := v.Type()
		found := false
		for i := range t.NumField() {
			if t.Field(i).Tag.Get("koanf") == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			panic(fmt.Sprintf("config: no key %q", key))
		}
	}
	return v
}
