package config

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/maps"
	"github.com/knadh/koanf/parsers/json"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// ErrHelp is wrapped by the error Load returns when the arguments ask for
// help (-h or --help). The caller should print Usage and exit successfully.
var ErrHelp = pflag.ErrHelp

// configFlag names the flag that gives the config file. It is the one flag
// that is not a key.
const configFlag = "config"

// Load builds the configuration from, in increasing precedence: Default,
// the file named by --config, the HERALD_ variables of environ and the
// flags in args. args are the command-line arguments without the program
// name (os.Args[1:]) and environ is in os.Environ form.
//
// When no app is configured anywhere, Load adds DevApp and sets DevMode.
// The result has been checked with Validate.
func Load(args, environ []string) (Config, error) {
	fs := newFlagSet()
	// The defaults layer is read from the flags before parsing, while they
	// still hold their defaults, which newFlagSet took from Default.
	defaults := flagValues(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("command line: unexpected argument %q", fs.Arg(0))
	}

	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return Config{}, err
	}
	if path, _ := fs.GetString(configFlag); path != "" {
		if err := loadFile(k, path); err != nil {
			return Config{}, err
		}
	}
	env, err := envLayer(environ, scalarKeys(fs))
	if err != nil {
		return Config{}, err
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return Config{}, err
	}
	// Every key already exists from the defaults layer, so posflag only
	// merges the flags given on the command line and an unset flag cannot
	// clobber the file or the environment.
	if err := k.Load(posflag.ProviderWithFlag(fs, ".", k, flagValue(fs)), nil); err != nil {
		return Config{}, err
	}

	var cfg Config
	if err := unmarshal(k, &cfg); err != nil {
		return Config{}, err
	}
	// nil and empty both mean "any origin"; keep one of them so that
	// configurations compare equal.
	if len(cfg.WebSocket.AllowedOrigins) == 0 {
		cfg.WebSocket.AllowedOrigins = nil
	}
	for i := range cfg.Apps {
		cfg.Apps[i] = cfg.Apps[i].WithDefaults()
		if len(cfg.Apps[i].History.Prefixes) == 0 {
			cfg.Apps[i].History.Prefixes = nil // nil and empty both mean every channel
		}
	}
	if len(cfg.Apps) == 0 {
		cfg.Apps = []App{DevApp()}
		cfg.DevMode = true
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Usage returns the help text of the command line: the flags with their
// defaults, and the environment variables.
func Usage() string {
	var b strings.Builder
	b.WriteString("Usage: herald [flags]\n\nFlags:\n")
	b.WriteString(newFlagSet().FlagUsages())
	b.WriteString(`
Every flag but --config can also be given as an environment variable named
HERALD_ followed by the flag name upper-cased, with "_" for ".": for example
--websocket.listen is HERALD_WEBSOCKET_LISTEN. Lists are comma-separated.
A single app can be given with HERALD_APP_KEY, HERALD_APP_SECRET,
HERALD_APP_ID, HERALD_APP_CLIENT_EVENTS, HERALD_APP_HISTORY_SIZE,
HERALD_APP_HISTORY_TTL and HERALD_APP_HISTORY_PREFIXES; it replaces the
apps of the file.
Precedence: defaults < config file < environment < flags.
`)
	return b.String()
}

// newFlagSet returns the command-line flags: --config and one flag per
// scalar key, named by its key path, with the default of Default. It is the
// one list of scalar keys; the environment table is built from it too.
func newFlagSet() *pflag.FlagSet {
	d := Default()
	fs := pflag.NewFlagSet("herald", pflag.ContinueOnError)
	// Load returns errors instead of printing them, and Usage is printed
	// by the caller.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false

	fs.StringP(configFlag, "c", "", "read settings from `FILE` (.yaml, .yml, .toml or .json)")

	ws := d.WebSocket
	fs.String("websocket.listen", ws.Listen, "`host:port` of the WebSocket server")
	fs.Duration("websocket.activity_timeout", ws.ActivityTimeout, "idle time after which clients ping (whole seconds, 1s..3600s)")
	fs.Duration("websocket.pong_timeout", ws.PongTimeout, "time a connection has to answer a ping")
	fs.Int("websocket.max_message_size", ws.MaxMessageSize, "largest inbound frame, in `bytes` (1024..16777216)")
	fs.Int("websocket.write_queue", ws.WriteQueue, "frames queued per socket before it is closed with 4100 (>= 16)")
	fs.Int("websocket.write_queue_bytes", ws.WriteQueueBytes, "`bytes` queued per socket before it is closed with 4100 (>= 4096)")
	fs.Int("websocket.max_connections", ws.MaxConnections, "open connections of the process; more get HTTP 503 (0: no cap; default: fd limit - 256)")
	fs.Int("websocket.max_connections_per_ip", ws.MaxConnectionsPerIP, "open connections per remote IP; more get HTTP 503 (0: no cap)")
	fs.Int("websocket.read_buffer_size", ws.ReadBufferSize, "read buffer per connection, in `bytes` (>= 256)")
	fs.StringSlice("websocket.allowed_origins", ws.AllowedOrigins, "accepted Origin headers, comma-separated (default any)")
	fs.String("websocket.tls.cert_file", ws.TLS.CertFile, "PEM certificate `FILE`: serve wss:// (with --websocket.tls.key_file)")
	fs.String("websocket.tls.key_file", ws.TLS.KeyFile, "PEM private key `FILE` of --websocket.tls.cert_file")

	api := d.API
	fs.String("api.listen", api.Listen, "`host:port` of the REST API server (may equal --websocket.listen)")
	fs.Int64("api.max_body_size", api.MaxBodySize, "largest request body, in `bytes`")
	fs.Duration("api.read_header_timeout", api.ReadHeaderTimeout, "time to read request headers")
	fs.Duration("api.read_timeout", api.ReadTimeout, "time to read a whole request")
	fs.Duration("api.write_timeout", api.WriteTimeout, "time to write a response")
	fs.Duration("api.idle_timeout", api.IdleTimeout, "time a keep-alive connection may stay idle")
	fs.Duration("api.request_timeout", api.RequestTimeout, "time a request may wait for the broker")
	fs.String("api.tls.cert_file", api.TLS.CertFile, "PEM certificate `FILE`: serve https:// (with --api.tls.key_file)")
	fs.String("api.tls.key_file", api.TLS.KeyFile, "PEM private key `FILE` of --api.tls.cert_file")

	fs.String("log.level", d.Log.Level, "log `level`: debug, info, warn or error")
	fs.String("log.format", d.Log.Format, "log `format`: text or json")

	fs.Bool("metrics.enabled", d.Metrics.Enabled, "serve GET /metrics (Prometheus)")
	fs.String("metrics.listen", d.Metrics.Listen, "`host:port` of a listener of its own for /metrics (default: the API listener)")

	wh := d.Webhooks
	fs.Duration("webhooks.debounce", wh.Debounce, "time webhook events are held back to cancel out (0 disables)")
	fs.Duration("webhooks.batch_window", wh.BatchWindow, "time events are collected into one request")
	fs.Int("webhooks.batch_max", wh.BatchMax, "most events in one request (1..100)")
	fs.Duration("webhooks.timeout", wh.Timeout, "time one delivery attempt may take")
	fs.Duration("webhooks.retry_for", wh.RetryFor, "time a failed delivery is retried (0 disables)")
	fs.Int("webhooks.queue_size", wh.QueueSize, "events queued per webhook URL")
	fs.Duration("webhooks.backoff_min", wh.BackoffMin, "wait before the first retry; doubles each time")
	fs.Duration("webhooks.backoff_max", wh.BackoffMax, "longest wait between retries")

	cl := d.Cluster
	fs.String("cluster.provider", cl.Provider, "membership: \"\" (single node) or etcd")
	fs.String("cluster.name", cl.Name, "nodes with the same provider and name form one cluster")
	fs.StringSlice("cluster.etcd_endpoints", cl.EtcdEndpoints, "etcd servers, `host:port,...`")
	fs.String("cluster.listen", cl.Listen, "`host:port` of this node's inter-node (gRPC) listener; port 0 picks one")
	fs.String("cluster.advertise", cl.Advertise, "`host:port` the other nodes dial, when it differs from cluster.listen")
	fs.Duration("cluster.grace", cl.Grace, "time a departure waits before it is told (a reconnect within it shows nothing)")

	fs.String("dashboard.token", d.Dashboard.Token, "bearer `token` of the dashboard at /dashboard/ on the API listener (empty: off; in dev mode a random one is made and logged)")

	fs.Duration("shutdown_timeout", d.ShutdownTimeout, "time a graceful shutdown may take")
	return fs
}

// flagValue returns the posflag callback that gives a flag's key and typed
// value. It is posflag.Provider's behaviour except that --config, which is
// not a key, is left out; otherwise it would reach the decoder as an unknown
// key.
func flagValue(fs *pflag.FlagSet) func(*pflag.Flag) (string, any) {
	return func(f *pflag.Flag) (string, any) {
		if f.Name == configFlag {
			return "", nil
		}
		return f.Name, posflag.FlagVal(fs, f)
	}
}

// flagValues returns the current value of every key flag, keyed by path.
func flagValues(fs *pflag.FlagSet) map[string]any {
	values := make(map[string]any)
	get := flagValue(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if key, v := get(f); key != "" {
			values[key] = v
		}
	})
	return values
}

// scalarKeys returns the key path of every key flag and whether it takes a
// list.
func scalarKeys(fs *pflag.FlagSet) map[string]bool {
	keys := make(map[string]bool)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != configFlag {
			keys[f.Name] = f.Value.Type() == "stringSlice"
		}
	})
	return keys
}

// loadFile merges the file at path into k, choosing the parser by the
// file's extension.
func loadFile(k *koanf.Koanf, path string) error {
	var parser koanf.Parser
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		parser = yaml.Parser()
	case ".toml":
		parser = toml.Parser()
	case ".json":
		parser = json.Parser()
	default:
		return fmt.Errorf("config file %s: unknown format %q (want .yaml, .yml, .toml or .json)", path, ext)
	}
	if err := k.Load(file.Provider(path), parser, koanf.WithMergeFunc(mergeFile)); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// mergeFile merges the file's settings src into dest, which holds the
// defaults, like koanf's default merge but with two checks first. A null
// value is dropped: a YAML section whose settings are all commented out
// ("webhooks:" alone) is null, and merged as is it would replace the whole
// section of defaults with nothing. A single value where dest has a section
// ("api: 5") is an error: merged, it would be overwritten again by the
// flags' defaults and so be silently ignored.
func mergeFile(src, dest map[string]any) error {
	if err := checkSections(src, dest, ""); err != nil {
		return err
	}
	maps.Merge(src, dest)
	return nil
}

func checkSections(src, dest map[string]any, prefix string) error {
	for key, v := range src {
		if v == nil {
			delete(src, key)
			continue
		}
		section, ok := dest[key].(map[string]any)
		if !ok {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s%s: must be a section of keys, not a single value", prefix, key)
		}
		if err := checkSections(m, section, prefix+key+"."); err != nil {
			return err
		}
	}
	return nil
}

// unmarshal decodes k into cfg, refusing unknown keys.
func unmarshal(k *koanf.Koanf, cfg *Config) error {
	// Giving a DecoderConfig replaces koanf's default one, so its settings
	// are repeated here: the duration and TextUnmarshaler hooks, and weakly
	// typed input because the environment gives every value as a string.
	// Added to them: comma-separated strings become lists, a duration
	// without a unit is refused, every key must match a field exactly
	// (ErrorUnused, and MatchName instead of mapstructure's case-insensitive
	// match, so that "Listen" and "listen" cannot both land on one field).
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationNeedsUnit,
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
			mapstructure.TextUnmarshallerHookFunc(),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		MatchName:        func(mapKey, fieldName string) bool { return mapKey == fieldName },
		TagName:          "koanf",
	}
	err := k.UnmarshalWithConf("", cfg, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: dc})
	return errors.Join(decodeErrors(err)...)
}

var durationType = reflect.TypeFor[time.Duration]()

// durationNeedsUnit refuses a number given for a duration: YAML, TOML and
// JSON numbers would otherwise be read as nanoseconds, so "timeout: 5"
// would mean 5ns. Zero is accepted, as time.ParseDuration accepts "0".
func durationNeedsUnit(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, errors.New(`a duration needs a unit, as in "30s" or "500ms"`)
	}
	return data, nil
}

// decodeErrors rewrites mapstructure's errors, such as "'websocket' has
// invalid keys: listn", into one error per problem that names the key as a
// user writes it: `unknown key "websocket.listn"`. Inside a list the key is
// given relative to its item: `apps[0]: unknown key "secrt"`.
func decodeErrors(err error) []error {
	switch e := err.(type) { //nolint:errorlint // walks the error tree itself, level by level
	case nil:
		return nil
	case interface{ Unwrap() []error }:
		var errs []error
		for _, e := range e.Unwrap() {
			errs = append(errs, decodeErrors(e)...)
		}
		return errs
	case *mapstructure.DecodeError:
		return rewriteDecodeError(e)
	case interface{ Unwrap() error }:
		// Several errors come wrapped in one "decoding failed due to the
		// following error(s)"; only the errors inside it say anything.
		if inner := e.Unwrap(); isJoined(inner) {
			return decodeErrors(inner)
		}
	}
	return []error{err}
}

func isJoined(err error) bool {
	_, ok := err.(interface{ Unwrap() []error })
	return ok
}

// rewriteDecodeError turns one mapstructure error into errors that start
// with the key path.
func rewriteDecodeError(de *mapstructure.DecodeError) []error {
	inner := de.Unwrap()
	if isJoined(inner) {
		return decodeErrors(inner)
	}
	msg := inner.Error()
	keys, ok := strings.CutPrefix(msg, "has invalid keys: ")
	if !ok {
		return []error{fmt.Errorf("%s: %s", displayName(de.Name()), msg)}
	}
	// Split the path after its last list index: "apps[0].webhooks[1]" is
	// the item, and what follows it is a key path inside the item.
	item, path := "", de.Name()
	if i := strings.LastIndex(path, "]"); i >= 0 {
		item, path = path[:i+1], strings.TrimPrefix(path[i+1:], ".")
	}
	var errs []error
	for key := range strings.SplitSeq(keys, ", ") {
		if path != "" {
			key = path + "." + key
		}
		if item != "" {
			errs = append(errs, fmt.Errorf("%s: unknown key %q", item, key))
		} else {
			errs = append(errs, fmt.Errorf("unknown key %q", key))
		}
	}
	return errs
}

// displayName names the top level, which mapstructure leaves empty.
func displayName(name string) string {
	if name == "" {
		return "configuration"
	}
	return name
}
