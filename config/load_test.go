package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes content to a file called name in a temporary
// directory and returns its path.
func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fullConfig is what testdata/full.{yaml,toml,json} describe.
func fullConfig() Config {
	return Config{
		WebSocket: WebSocket{
			Listen:          "0.0.0.0:6001",
			ActivityTimeout: 120 * time.Second,
			PongTimeout:     15 * time.Second,
			MaxMessageSize:  65536,
			WriteQueue:      256,
			WriteQueueBytes: 1 << 20,
			MaxConnections:  DefaultMaxConnections(),
			ReadBufferSize:  4096,
			AllowedOrigins:  []string{"https://example.com", "https://app.example.com"},
		},
		API: API{
			Listen:            "0.0.0.0:6001",
			MaxBodySize:       1048576,
			ReadHeaderTimeout: 2 * time.Second,
			ReadTimeout:       20 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			RequestTimeout:    3 * time.Second,
		},
		Log:     Log{Level: "debug", Format: "json"},
		Metrics: Metrics{Enabled: false, Listen: "0.0.0.0:9100"},
		Webhooks: Webhooks{
			Debounce:    0,
			BatchWindow: 100 * time.Millisecond,
			BatchMax:    50,
			Timeout:     2 * time.Second,
			RetryFor:    time.Minute,
			QueueSize:   500,
			BackoffMin:  2 * time.Second,
			BackoffMax:  30 * time.Second,
		},
		Cluster:         Default().Cluster,
		ShutdownTimeout: 30 * time.Second,
		Apps: []App{
			{
				ID:                        "1001",
				Key:                       "chat-key",
				Secret:                    "chat-secret-7f3a",
				ClientEvents:              true,
				ClientEventRate:           20,
				MaxPresenceMembers:        500,
				MaxChannelsPerConnection:  50,
				UserAuthenticationTimeout: 30 * time.Second,
				Watchlist:                 true,
				SubscriptionCount:         true,
				CacheTTL:                  time.Hour,
				History:                   History{Size: 100, TTL: 2 * time.Minute, Prefixes: []string{"chat-", "private-chat-"}},
				Webhooks: []Webhook{
					{
						URL:     "https://hooks.example.com/pusher",
						Format:  WebhookFormatPusher,
						Events:  []string{"channel_occupied", "channel_vacated", "member_added"},
						Headers: map[string]string{"Authorization": "Bearer hook-token"},
					},
					{URL: "http://127.0.0.1:8080/webman", Format: WebhookFormatWebman},
				},
			},
			{
				Key:                      "other-key",
				Secret:                   "other-secret-91bc",
				ClientEventRate:          10,
				MaxPresenceMembers:       100,
				MaxChannelsPerConnection: 1000,
				CacheTTL:                 30 * time.Minute,
				History:                  History{TTL: 5 * time.Minute},
			},
		},
	}
}

func TestLoadFullFiles(t *testing.T) {
	want := fullConfig()
	for _, name := range []string{"full.yaml", "full.toml", "full.json"} {
		t.Run(name, func(t *testing.T) {
			got, err := Load([]string{"--config", filepath.Join("testdata", name)}, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load(%s) =\n%+v\nwant\n%+v", name, got, want)
			}
		})
	}
}

func TestLoadDefaults(t *testing.T) {
	for _, args := range [][]string{nil, {}} {
		got, err := Load(args, []string{"PATH=/usr/bin", "HOME=/root"})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		want := Default()
		want.Apps = []App{DevApp()}
		want.DevMode = true
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Load(%q) =\n%+v\nwant\n%+v", args, got, want)
		}
	}
}

func TestLoadDevModeOnlyWithoutApps(t *testing.T) {
	path := writeConfig(t, "c.yaml", "apps:\n  - key: k\n    secret: s\n")
	got, err := Load([]string{"-c", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.DevMode || len(got.Apps) != 1 || got.Apps[0].Key != "k" {
		t.Errorf("DevMode = %v, apps = %+v; want false and the file's app", got.DevMode, got.Apps)
	}
}

func TestLoadPrecedence(t *testing.T) {
	file := writeConfig(t, "c.yaml", "websocket:\n  listen: file:1\n  activity_timeout: 10s\n")
	env := []string{"HERALD_WEBSOCKET_LISTEN=env:2", "HERALD_WEBSOCKET_ACTIVITY_TIMEOUT=20s"}
	flags := []string{"--websocket.listen=flag:3", "--websocket.activity_timeout", "40s"}

	tests := []struct {
		name       string
		args, env  []string
		wantListen string
		wantAT     time.Duration
	}{
		{"defaults", nil, nil, "127.0.0.1:3131", 30 * time.Second},
		{"file", []string{"-c", file}, nil, "file:1", 10 * time.Second},
		{"env over default", nil, env, "env:2", 20 * time.Second},
		{"env over file", []string{"-c", file}, env, "env:2", 20 * time.Second},
		{"flag over file", append([]string{"-c", file}, flags...), nil, "flag:3", 40 * time.Second},
		{"flag over env and file", append([]string{"-c", file}, flags...), env, "flag:3", 40 * time.Second},
		{"unset flags do not clobber", []string{"-c", file, "--log.level=debug"}, env, "env:2", 20 * time.Second},
		{"one flag, one env", []string{"-c", file, "--websocket.activity_timeout=5s"}, env[:1], "env:2", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got.WebSocket.Listen != tt.wantListen || got.WebSocket.ActivityTimeout != tt.wantAT {
				t.Errorf("listen, activity_timeout = %q, %s; want %q, %s",
					got.WebSocket.Listen, got.WebSocket.ActivityTimeout, tt.wantListen, tt.wantAT)
			}
		})
	}
}

// metrics.* load from every source like the other keys.
func TestLoadMetrics(t *testing.T) {
	file := writeConfig(t, "c.yaml", "metrics:\n  listen: 127.0.0.1:9100\n")
	tests := []struct {
		name        string
		args, env   []string
		wantEnabled bool
		wantListen  string
	}{
		{"defaults", nil, nil, true, ""},
		{"file", []string{"-c", file}, nil, true, "127.0.0.1:9100"},
		{"env", []string{"-c", file}, []string{"HERALD_METRICS_LISTEN=127.0.0.1:9200", "HERALD_METRICS_ENABLED=false"}, false, "127.0.0.1:9200"},
		{"flag", []string{"-c", file, "--metrics.listen=127.0.0.1:9300", "--metrics.enabled=false"}, nil, false, "127.0.0.1:9300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got.Metrics.Enabled != tt.wantEnabled || got.Metrics.Listen != tt.wantListen {
				t.Errorf("metrics = %+v, want enabled %v, listen %q", got.Metrics, tt.wantEnabled, tt.wantListen)
			}
		})
	}
}

func TestLoadLists(t *testing.T) {
	file := writeConfig(t, "c.yaml", "websocket:\n  allowed_origins: [https://file.example]\n")
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"file", []string{"-c", file}, nil, []string{"https://file.example"}},
		{"env replaces the file's list", []string{"-c", file}, []string{"HERALD_WEBSOCKET_ALLOWED_ORIGINS=https://a.example, https://b.example"}, []string{"https://a.example", "https://b.example"}},
		{"empty env means any", []string{"-c", file}, []string{"HERALD_WEBSOCKET_ALLOWED_ORIGINS="}, nil},
		{"flag", []string{"-c", file, "--websocket.allowed_origins=https://c.example,https://d.example"}, nil, []string{"https://c.example", "https://d.example"}},
		{"comma-separated string in file", []string{"-c", writeConfig(t, "s.yaml", "websocket:\n  allowed_origins: https://x.example,https://y.example\n")}, nil, []string{"https://x.example", "https://y.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got.WebSocket.AllowedOrigins, tt.want) {
				t.Errorf("allowed_origins = %q, want %q", got.WebSocket.AllowedOrigins, tt.want)
			}
		})
	}
}

// An empty YAML section is null; it must leave the defaults in place
// rather than replace the section with zero values.
func TestLoadEmptySection(t *testing.T) {
	path := writeConfig(t, "c.yaml", "webhooks:\n  # debounce: 1s\nwebsocket:\n  listen: \"127.0.0.1:9000\"\n  allowed_origins:\n")
	got, err := Load([]string{"--config=" + path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Webhooks != Default().Webhooks {
		t.Errorf("webhooks = %+v, want the defaults", got.Webhooks)
	}
	if got.WebSocket.Listen != "127.0.0.1:9000" || got.WebSocket.PongTimeout != 30*time.Second {
		t.Errorf("websocket = %+v", got.WebSocket)
	}
}

func TestLoadEnvApp(t *testing.T) {
	env := []string{
		"HERALD_APP_ID=42",
		"HERALD_APP_KEY=env-key",
		"HERALD_APP_SECRET=env-secret",
		"HERALD_APP_CLIENT_EVENTS=true",
	}
	want := App{ID: "42", Key: "env-key", Secret: "env-secret", ClientEvents: true}.WithDefaults()

	for _, args := range [][]string{nil, {"--config", "testdata/full.yaml"}} {
		got, err := Load(args, env)
		if err != nil {
			t.Fatalf("Load(%q): %v", args, err)
		}
		if got.DevMode || !reflect.DeepEqual(got.Apps, []App{want}) {
			t.Errorf("Load(%q): DevMode %v, apps %+v; want exactly %+v", args, got.DevMode, got.Apps, want)
		}
	}

	// History of the one app: size and ttl (HERALD_APP_HISTORY_*).
	hist, err := Load(nil, append(env, "HERALD_APP_HISTORY_SIZE=100", "HERALD_APP_HISTORY_TTL=90s", "HERALD_APP_HISTORY_PREFIXES=chat-, news-"))
	if err != nil {
		t.Fatalf("Load with history: %v", err)
	}
	if h := hist.Apps[0].History; h.Size != 100 || h.TTL != 90*time.Second || !reflect.DeepEqual(h.Prefixes, []string{"chat-", "news-"}) {
		t.Errorf("history = %+v", h)
	}
	if h := (App{Key: "k"}).WithDefaults().History; h.Size != 0 || h.TTL != 5*time.Minute || h.Prefixes != nil {
		t.Errorf("default history = %+v, want off with a 5m ttl", h)
	}

	// Without the key, the other app variables would be ignored; that is
	// an error rather than a surprise.
	_, err = Load(nil, []string{"HERALD_APP_SECRET=env-secret"})
	if err == nil || !strings.Contains(err.Error(), "HERALD_APP_SECRET") || strings.Contains(err.Error(), "env-secret") {
		t.Errorf("HERALD_APP_SECRET without HERALD_APP_KEY: err = %v", err)
	}
}

func TestLoadHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		_, err := Load([]string{arg}, nil)
		if !errors.Is(err, ErrHelp) {
			t.Errorf("Load(%q) error = %v, want ErrHelp", arg, err)
		}
	}
	usage := Usage()
	for _, want := range []string{"--config", "-c", "--websocket.listen", "--websocket.activity_timeout", "--shutdown_timeout", "--webhooks.retry_for", "HERALD_WEBSOCKET_LISTEN", "HERALD_APP_KEY"} {
		if !strings.Contains(usage, want) {
			t.Errorf("Usage() does not mention %s:\n%s", want, usage)
		}
	}
}

// wantErrors checks that Load fails with an error containing every string
// of want.
func wantErrors(t *testing.T, args, env []string, want ...string) {
	t.Helper()
	_, err := Load(args, env)
	if err == nil {
		t.Fatalf("Load(%q, %q) succeeded, want an error containing %q", args, env, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestLoadUnknownKeys(t *testing.T) {
	tests := []struct {
		name, file, content, want string
	}{
		{"top", "c.yaml", "shutdown_timout: 5s\n", `unknown key "shutdown_timout"`},
		{"nested", "c.yaml", "websocket:\n  listn: x\n", `unknown key "websocket.listn"`},
		{"nested toml", "c.toml", "[api]\nlissen = \"x\"\n", `unknown key "api.lissen"`},
		{"nested json", "c.json", `{"log": {"levle": "debug"}}`, `unknown key "log.levle"`},
		{"case matters", "c.yaml", "WebSocket:\n  listen: x\n", `unknown key "WebSocket"`},
		{"not a key", "c.yaml", "devmode: true\n", `unknown key "devmode"`},
		{"app", "c.yaml", "apps:\n  - key: k\n    secrt: s\n", `apps[0]: unknown key "secrt"`},
		{"second app", "c.yaml", "apps:\n  - key: k\n    secret: s\n  - key: l\n    secret: s\n    clientevents: true\n", `apps[1]: unknown key "clientevents"`},
		{"webhook", "c.yaml", "apps:\n  - key: k\n    secret: s\n    webhooks:\n      - url: https://x.example\n        evnts: [member_added]\n", `apps[0].webhooks[0]: unknown key "evnts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrors(t, []string{"--config", writeConfig(t, tt.file, tt.content)}, nil, tt.want)
		})
	}
}

func TestLoadUnknownEnv(t *testing.T) {
	wantErrors(t, nil, []string{"HERALD_WEBSOCKET_LISTN=x", "HERALD_LOG_LEVEL=debug", "HERALD_APP_WEBHOOK=y"},
		"HERALD_WEBSOCKET_LISTN", "HERALD_APP_WEBHOOK")
	// Other variables, including lower-case lookalikes, are not Herald's.
	if _, err := Load(nil, []string{"herald_websocket_listn=x", "HERALDX=1", "NOEQUALS"}); err != nil {
		t.Errorf("Load with foreign variables: %v", err)
	}
}

func TestLoadInvalidValues(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     []string
		content string // written to a .yaml file given with --config when not empty
		want    []string
	}{
		{name: "duration in file", content: "websocket:\n  activity_timeout: banana\n", want: []string{"websocket.activity_timeout"}},
		{name: "duration without unit", content: "webhooks:\n  timeout: 5\n", want: []string{"webhooks.timeout", "unit"}},
		{name: "int in file", content: "websocket:\n  max_message_size: lots\n", want: []string{"websocket.max_message_size"}},
		{name: "bool in file", content: "apps:\n  - key: k\n    secret: s\n    watchlist: maybe\n", want: []string{"apps[0].watchlist"}},
		{name: "every decoding error at once", content: "shutdown_timout: 5s\nwebsocket:\n  activity_timeout: banana\n  max_message_size: lots\n",
			want: []string{"websocket.activity_timeout", "websocket.max_message_size", `unknown key "shutdown_timout"`}},
		{name: "section not a map", content: "api: 5\n", want: []string{"api"}},
		{name: "int in env", env: []string{"HERALD_WEBSOCKET_WRITE_QUEUE=abc"}, want: []string{"websocket.write_queue"}},
		{name: "duration in env", env: []string{"HERALD_SHUTDOWN_TIMEOUT=soon"}, want: []string{"shutdown_timeout"}},
		{name: "bool in env", env: []string{"HERALD_APP_KEY=k", "HERALD_APP_SECRET=s", "HERALD_APP_CLIENT_EVENTS=yes please"}, want: []string{"apps[0].client_events"}},
		{name: "duration in flag", args: []string{"--websocket.activity_timeout=banana"}, want: []string{"websocket.activity_timeout"}},
		{name: "unknown flag", args: []string{"--websocket.listn=x"}, want: []string{"websocket.listn"}},
		{name: "positional argument", args: []string{"serve"}, want: []string{`"serve"`}},
		{name: "out of range", args: []string{"--websocket.activity_timeout=1500ms", "--webhooks.batch_max=0"}, want: []string{"websocket.activity_timeout", "webhooks.batch_max"}},
		{name: "listen", env: []string{"HERALD_API_LISTEN=localhost"}, want: []string{"api.listen"}},
		{name: "log", args: []string{"--log.level=loud", "--log.format=xml"}, want: []string{"log.level", "log.format"}},
		{name: "metrics enabled", env: []string{"HERALD_METRICS_ENABLED=sometimes"}, want: []string{"metrics.enabled"}},
		{name: "metrics listen", env: []string{"HERALD_METRICS_LISTEN=9100"}, want: []string{"metrics.listen"}},
		{name: "history size in env", env: []string{"HERALD_APP_KEY=k", "HERALD_APP_SECRET=s", "HERALD_APP_HISTORY_SIZE=lots"}, want: []string{"apps[0].history.size"}},
		{name: "history ttl in env", env: []string{"HERALD_APP_KEY=k", "HERALD_APP_SECRET=s", "HERALD_APP_HISTORY_SIZE=10", "HERALD_APP_HISTORY_TTL=10"}, want: []string{"apps[0].history.ttl", "unit"}},
		{name: "app key missing", env: []string{"HERALD_APP_KEY=", "HERALD_APP_SECRET=s"}, want: []string{"apps[0].key"}},
		{name: "unknown extension", args: []string{"--config", "herald.ini"}, want: []string{"herald.ini", "unknown format"}},
		{name: "missing file", args: []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, want: []string{"none.yaml"}},
		{name: "bad yaml", content: "websocket: [\n", want: []string{"config file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.content != "" {
				args = append([]string{"--config", writeConfig(t, "c.yaml", tt.content)}, args...)
			}
			wantErrors(t, args, tt.env, tt.want...)
		})
	}
}

// A secret must not leak into errors, even when it is the value that is
// wrong or sits next to one.
func TestLoadErrorsHideSecrets(t *testing.T) {
	const secret = "s3cr3t-do-not-print"
	contents := []string{
		"apps:\n  - key: k\n    secret: [" + secret + ", " + secret + "]\n",
		"apps:\n  - key: k\n    secret: {" + secret + ": 1}\n",
		"apps:\n  - key: k\n    secret: " + secret + "\n    secrt: " + secret + "\n",
		"apps:\n  - key: " + secret + "!\n    secret: " + secret + "\n  - key: " + secret + "!\n    secret: " + secret + "\n",
		"apps:\n  - key: k\n    secret: " + secret + "\n    webhooks:\n      - url: ftp://u:" + secret + "@x\n        format: slack\n        headers: {X-Token: " + secret + ", 'bad name': " + secret + "}\n",
	}
	for i, content := range contents {
		_, err := Load([]string{"--config", writeConfig(t, "c.yaml", content)}, nil)
		if err == nil {
			t.Errorf("case %d: Load succeeded, want an error", i)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("case %d: error shows the secret: %v", i, err)
		}
	}
}
