package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fuzzExts are the config file names FuzzLoad tries, chosen by a fuzzed
// byte; "" means no --config at all.
var fuzzExts = []string{".yaml", ".yml", ".json", ".toml", ""}

// FuzzLoad loads a fuzzed config file (as YAML, JSON or TOML, by a fuzzed
// byte) under fuzzed HERALD_ variables. Properties:
//   - Load never panics;
//   - when it succeeds, the Config passes Validate, has at least one app,
//     every app has its defaults filled in, the single app of
//     HERALD_APP_KEY/HERALD_APP_SECRET replaces the file's apps, and dev
//     mode is on only with the dev app;
//   - its result does not depend on the value of HERALD_APP_SECRET other
//     than through Apps[0].Secret: loading again with another secret gives
//     the same Config, or an error with the same text, so no error quotes
//     the secret.
func FuzzLoad(f *testing.F) {
	for i, name := range []string{"full.yaml", "full.yaml", "full.json", "full.toml"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b, uint8(i), "", "", "", "", "")
		}
	}
	f.Add([]byte("apps:\n  - key: k\n    secret: s\n"), uint8(0), "0.0.0.0:6001", "", "", "", "")
	f.Add([]byte("websocket:\n  listen: file:1\n  activity_timeout: 10s\n"), uint8(1), "127.0.0.1:9000", "20s", "https://a.example, https://b.example,", "", "")
	f.Add([]byte("webhooks:\n  # debounce: 1s\nwebsocket:\n  allowed_origins:\n"), uint8(0), "", "", "", "env-key", "env-secret")
	f.Add([]byte(`{"apps":[{"key":"k","secret":"s","webhooks":[{"url":"https://x.example","format":"webman","events":["user_added"],"headers":{"X-Token":"t"}}]}]}`), uint8(2), "", "", "", "", "")
	f.Add([]byte("[[apps]]\nkey = \"k\"\nsecret = \"s\"\nclient_events = \"yes\"\ncache_ttl = 5\n"), uint8(3), "", "", "", "", "")
	f.Add([]byte("api: 5\nshutdown_timout: 5s\n"), uint8(0), ":http", "1.5s", "", "", "only-a-secret")
	f.Add([]byte("apps:\n  - key: k\n    secret: {nested: hidden-file-secret}\n"), uint8(0), "", "", "", "", "")
	f.Add([]byte("a: &a [*a]\n"), uint8(0), "", "", "", "", "")
	f.Add([]byte(nil), uint8(4), "", "0", "", "a key", "s")

	f.Fuzz(func(t *testing.T, file []byte, format uint8, listen, activityTimeout, origins, appKey, appSecret string) {
		var args []string
		if ext := fuzzExts[int(format)%len(fuzzExts)]; ext != "" {
			path := filepath.Join(t.TempDir(), "herald"+ext)
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
			args = []string{"--config", path}
		}
		environ := func(secret string) []string {
			env := []string{"PATH=/usr/bin", "HOME=/root"}
			for _, v := range [][2]string{
				{"HERALD_WEBSOCKET_LISTEN", listen},
				{"HERALD_WEBSOCKET_ACTIVITY_TIMEOUT", activityTimeout},
				{"HERALD_WEBSOCKET_ALLOWED_ORIGINS", origins},
				{"HERALD_APP_KEY", appKey},
				{"HERALD_APP_SECRET", secret},
			} {
				if v[1] != "" { // set to "", most of them would only fail
					env = append(env, v[0]+"="+v[1])
				}
			}
			return env
		}

		cfg, err := Load(args, environ(appSecret))
		if appSecret != "" {
			// Load again with another secret: same result but for the secret.
			other := appSecret + "-other"
			cfg2, err2 := Load(args, environ(other))
			switch {
			case (err == nil) != (err2 == nil):
				t.Fatalf("with HERALD_APP_SECRET %q: %v; with %q: %v", appSecret, err, other, err2)
			case err != nil:
				// Several errors may come in any order; compare them as sets.
				if a, b := errorLines(err), errorLines(err2); !slices.Equal(a, b) {
					t.Fatalf("errors depend on HERALD_APP_SECRET:\n%q\n%q", a, b)
				}
			default:
				cfg2.Apps[0].Secret = appSecret
				if !reflect.DeepEqual(cfg, cfg2) {
					t.Fatalf("Config depends on HERALD_APP_SECRET beyond apps[0].secret:\n%+v\n%+v", cfg, cfg2)
				}
			}
		}
		if err != nil {
			return
		}

		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load returned a Config that Validate refuses: %v", err)
		}
		if len(cfg.Apps) == 0 {
			t.Fatal("Load returned no app")
		}
		for i, a := range cfg.Apps {
			if !reflect.DeepEqual(a, a.WithDefaults()) {
				t.Fatalf("apps[%d] lacks its defaults: %+v", i, a)
			}
		}
		if appKey != "" && (len(cfg.Apps) != 1 || cfg.Apps[0].Key != appKey || cfg.Apps[0].Secret != appSecret) {
			t.Fatalf("HERALD_APP_KEY %q did not give the one app: %+v", appKey, cfg.Apps)
		}
		if cfg.DevMode && !reflect.DeepEqual(cfg.Apps, []App{DevApp()}) {
			t.Fatalf("dev mode with apps %+v", cfg.Apps)
		}
	})
}

// errorLines returns the lines of err's text, sorted.
func errorLines(err error) []string {
	lines := strings.Split(err.Error(), "\n")
	slices.Sort(lines)
	return lines
}
