package herald

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/herald-push/herald/config"
)

// Main is the herald command: it loads the configuration from args (flags,
// --config FILE) and environ (HERALD_*), runs the broker until SIGINT or
// SIGTERM, shuts down in order and returns the exit code (0 after a clean
// shutdown, 2 for a configuration error, 1 for any other failure). Logs
// and errors go to stderr, --help to stdout.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, environ)
	if errors.Is(err, config.ErrHelp) {
		_, _ = fmt.Fprint(stdout, config.Usage())
		return 0
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "herald: %v\n", err)
		return 2
	}
	log := NewLogger(cfg.Log, stderr)
	if cfg.DevMode {
		log.Warn("NO APPS CONFIGURED: running the dev app (key app-key, secret app-secret, any app id) with the demo at /demo/. Never expose this to a network; configure apps with --config.")
	}
	h, err := New(cfg, Options{Logger: log})
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
