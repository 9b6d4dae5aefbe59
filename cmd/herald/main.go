// Command herald runs the Herald broker: the Pusher protocol on
// WebSocket, Pusher's HTTP API, webhooks and the JavaScript client.
//
//	herald                      # dev defaults: one app (key app-key, secret app-secret, any id) on 127.0.0.1
//	herald --config herald.yaml # file, then HERALD_* env vars, then flags
//	herald check-config --config herald.yaml  # validate and print it, secrets masked (exit 2 if invalid)
//	herald --version            # version, VCS commit, Go version
//	herald --help
//
// SIGHUP reloads the configuration; SIGINT and SIGTERM shut down in order.
package main

import (
	"os"

	"github.com/herald-push/herald"
)

func main() { os.Exit(herald.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr)) }
