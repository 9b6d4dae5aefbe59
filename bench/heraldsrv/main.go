// Command heraldsrv is the Herald broker as herald-bench measures it: the
// same program as cmd/herald (config from flags, HERALD_* variables and a
// file; herald.New; Start; Shutdown on SIGTERM), plus, only when
// BENCH_DEBUG_LISTEN is set, a debug listener on its own loopback port
// (pprof and goroutine/heap counts, see bench/benchdebug). Nothing of it
// runs on the broker's hot paths; it exists so a benchmark can profile the
// broker and count its goroutines without editing cmd/herald. It does not
// mount the web demo, which the benchmarks do not use.
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
	"github.com/herald-push/herald/bench/benchdebug"
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
		fmt.Fprintf(os.Stderr, "heraldsrv: %v\n", err)
		return 2
	}
	log := herald.NewLogger(cfg.Log, os.Stderr)
	if err := benchdebug.Start(os.Getenv(benchdebug.EnvListen)); err != nil {
		log.Error("cannot start the debug listener", "err", err)
		return 1
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
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout+time.Second)
	defer cancel()
	if err := h.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}
