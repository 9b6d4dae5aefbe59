// Command herald runs the Herald broker: the Pusher protocol on
// WebSocket, Pusher's HTTP API, webhooks and the JavaScript client.
//
//	herald                      # dev defaults: one app app-id/app-key/app-secret on 127.0.0.1
//	herald --config herald.yaml # file, then HERALD_* env vars, then flags
//	herald --help
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
)

func main() { os.Exit(run(os.Args[1:], os.Environ())) }

func run(args, environ []string) int {
	cfg, err := config.Load(args, environ)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(os.Stdout, config.Usage())
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "herald: %v\n", err)
		return 2
	}
	log := herald.NewLogger(cfg.Log, os.Stderr)
	if cfg.DevMode {
		log.Warn("NO APPS CONFIGURED: running the dev app (id app-id, key app-key, secret app-secret) with the demo at /demo/. Never expose this to a network; configure apps with --config.")
	}
	h, err := herald.New(cfg, herald.Options{Logger: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := h.Start(); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-ctx.Done()
	stop()
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout+time.Second)
	defer cancel()
	if err := h.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
