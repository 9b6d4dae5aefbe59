// Package config loads Herald's configuration into plain structs.
//
// # What is configurable
//
// The WebSocket server (websocket.*: listen address, TLS certificate,
// activity and pong timeouts, frame and buffer sizes, allowed origins),
// the REST API server (api.*: listen address, TLS certificate, body size,
// HTTP timeouts), the log (log.level, log.format), GET /metrics
// (metrics.enabled, metrics.listen), webhook delivery
// (webhooks.*: debounce, batching, timeout, retries and their back-off,
// queue size), the cluster (cluster.*), the dashboard (dashboard.token, a
// credential: never printed), shutdown_timeout, and the apps: their
// credentials, features, limits and webhooks. The fields of Config
// document every key, its default and its range.
//
// # Defaults
//
// Default returns every default, and is the only place one is written
// down: the packages below (transport, actors, webhooks) restate none and
// take every value from the Config the herald package builds them from. A
// program that embeds Herald starts from Default and sets its apps.
//
// # Sources and precedence
//
// Load reads, each source overriding the previous one:
//
//	defaults < config file < environment < command-line flags
//
// The file is given by --config FILE (or -c); its format follows its
// extension: .yaml or .yml, .toml, .json. Any key the file does not know,
// at any depth, stops loading with an error that names it, so that a typo
// is never silently ignored. Durations are written with a unit ("30s",
// "250ms", "5m").
//
// Every scalar key has a flag named by its key path (--websocket.listen,
// --api.listen, --shutdown_timeout, ...) and an environment variable named
// HERALD_ followed by the key path upper-cased, with "_" for "." (see
// EnvName): HERALD_WEBSOCKET_LISTEN, HERALD_WEBHOOKS_RETRY_FOR. List keys
// (websocket.allowed_origins) take comma-separated values. Because key
// names contain "_", variables are matched against a table of the known
// keys; a HERALD_ variable that matches none is an error. Usage returns
// the flag help.
//
// # Apps
//
// Apps come from the file, or, for the common single-app case, from
// HERALD_APP_KEY, HERALD_APP_SECRET, HERALD_APP_ID,
// HERALD_APP_CLIENT_EVENTS and HERALD_APP_HISTORY_SIZE, _TTL and
// _PREFIXES (the app's history section). Lists such as apps are replaced whole by a
// later source, never merged item by item: setting HERALD_APP_KEY gives
// exactly that one app, whatever the file lists. For the same reason apps
// cannot inherit per-app defaults from a default list, so the per-app
// fields whose zero value means "default" are filled after loading (see
// App.WithDefaults). When no app is configured anywhere, Load adds DevApp
// and sets Config.DevMode, so that Herald runs out of the box but the
// caller can warn about the well-known credentials.
//
// Validate checks the result, and reads the TLS certificate files; its
// messages name the key and never contain a secret.
//
// # Printing and reloading
//
// Config.YAML prints a configuration (herald check-config) as YAML that
// Load reads back, every secret masked: app secrets, webhook header
// values, URL passwords and any key named like a credential. Reload says
// what a running broker applies when it reloads (SIGHUP) and which
// changed keys take a restart; Reloadable lists them.
//
// # Boundaries
//
// Loading uses koanf, but koanf stays inside this package: other packages
// take the typed structs (Config, WebSocket, API, App, ...), which keeps
// them independent of how settings are found and easy to build in tests.
package config
