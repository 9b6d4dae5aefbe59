package config

import (
	"errors"
	"fmt"
	"strings"
)

// envPrefix starts every environment variable Herald reads.
const envPrefix = "HERALD_"

// The variables of the single-app case. apps is a list, so its fields have
// no key path of their own; these describe one app, which replaces any
// list from the file.
const (
	envAppID              = envPrefix + "APP_ID"
	envAppKey             = envPrefix + "APP_KEY"
	envAppSecret          = envPrefix + "APP_SECRET"
	envAppClientEvents    = envPrefix + "APP_CLIENT_EVENTS"
	envAppHistorySize     = envPrefix + "APP_HISTORY_SIZE"
	envAppHistoryTTL      = envPrefix + "APP_HISTORY_TTL"
	envAppHistoryPrefixes = envPrefix + "APP_HISTORY_PREFIXES"
)

// envAppFields maps the single-app variables to the App key paths they
// set ("history.size" is the key size of the app's history section).
var envAppFields = map[string]string{
	envAppID:              "id",
	envAppKey:             "key",
	envAppSecret:          "secret",
	envAppClientEvents:    "client_events",
	envAppHistorySize:     "history.size",
	envAppHistoryTTL:      "history.ttl",
	envAppHistoryPrefixes: "history.prefixes",
}

// EnvName returns the environment variable that sets the key at keyPath:
// HERALD_ followed by the path upper-cased, with "_" between its parts, so
// that "websocket.activity_timeout" is HERALD_WEBSOCKET_ACTIVITY_TIMEOUT.
func EnvName(keyPath string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(keyPath, ".", "_"))
}

// envLayer returns the settings given by the HERALD_ variables of environ
// (in os.Environ form) as a map of key paths. keys lists every scalar key
// path and whether it takes a comma-separated list.
//
// Names are looked up in a table built from keys rather than split on "_",
// because key names contain "_" themselves: HERALD_API_READ_HEADER_TIMEOUT
// could not otherwise be told from a key "api.read.header.timeout". The
// table also makes a misspelt variable an error instead of a setting that
// is silently ignored.
func envLayer(environ []string, keys map[string]bool) (map[string]any, error) {
	byName := make(map[string]string, len(keys))
	for key := range keys {
		byName[EnvName(key)] = key
	}

	out := make(map[string]any)
	app := make(map[string]any)
	var appVars []string
	var errs []error
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) {
			continue
		}
		if field, ok := envAppFields[name]; ok {
			setPath(app, field, value)
			appVars = append(appVars, name)
			continue
		}
		key, ok := byName[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown environment variable %s", name))
			continue
		}
		if keys[key] {
			out[key] = splitList(value)
		} else {
			out[key] = value
		}
	}

	if len(app) > 0 {
		if _, ok := app["key"]; ok {
			out["apps"] = []any{app}
		} else {
			for _, name := range appVars {
				errs = append(errs, fmt.Errorf("%s is set but %s is not", name, envAppKey))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// setPath sets the key path ("history.size") in m, making the sections on
// the way. A list key (prefixes) takes a comma-separated value.
func setPath(m map[string]any, path, value string) {
	section, key, nested := strings.Cut(path, ".")
	if !nested {
		m[path] = value
		return
	}
	sub, _ := m[section].(map[string]any)
	if sub == nil {
		sub = make(map[string]any)
		m[section] = sub
	}
	if key == "prefixes" {
		sub[key] = splitList(value)
		return
	}
	sub[key] = value
}

// splitList splits a comma-separated value, trimming blanks around items
// and dropping empty ones, so that "a, b," is [a b] and "" is the empty list.
func splitList(s string) []string {
	items := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
