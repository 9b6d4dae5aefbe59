package herald

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/herald-push/herald/config"
)

// Exit codes of Main.
const (
	exitOK     = 0
	exitFailed = 1 // the broker could not start or stop cleanly
	exitConfig = 2 // the configuration is invalid
)

// Main is the herald command. It returns the exit code; logs and errors
// go to stderr, --help, --version and check-config's output to stdout.
//
//	herald [flags]               run the broker until SIGINT or SIGTERM; SIGHUP reloads
//	herald --version             print the version, VCS commit and Go version
//	herald check-config [flags]  validate the configuration and print it, secrets masked
//
// The configuration comes from args (flags, --config FILE) and environ
// (HERALD_*). Exit codes: 0 after a clean shutdown (or a valid
// configuration), 2 for an invalid configuration, 1 for any other failure.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check-config" {
		return checkConfig(args[1:], environ, stdout, stderr)
	}
	if slices.Contains(args, "--version") {
		_, _ = fmt.Fprintln(stdout, Version())
		return exitOK
	}
	cfg, err := config.Load(args, environ)
	if errors.Is(err, config.ErrHelp) {
		_, _ = fmt.Fprint(stdout, config.Usage())
		_, _ = fmt.Fprint(stdout, commandsHelp)
		return exitOK
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "herald: %v\n", err)
		return exitConfig
	}
	level := new(slog.LevelVar)
	log := NewLogger(cfg.Log, stderr, level)
	log.Info("starting", "version", Version())
	if cfg.DevMode {
		log.Warn("NO APPS CONFIGURED: running the dev app (key app-key, secret app-secret, any app id) with the demo at /demo/. Never expose this to a network; configure apps with --config.")
	}
	// Signals are taken from here on, so a SIGHUP during start-up reloads
	// once the broker is up instead of killing the process.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	h, err := New(cfg, Options{Logger: log, LogLevel: level})
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	stop := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ShutdownTimeout+time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			log.Error("shutdown", "err", err)
			return exitFailed
		}
		return exitOK
	}
	if err := h.Start(); err != nil {
		log.Error("cannot start", "err", err)
		stop()
		return exitFailed
	}
	for sig := range sigs {
		if sig != syscall.SIGHUP {
			log.Info("signal received: shutting down", "signal", sig.String())
			break
		}
		log.Info("signal received: reloading the configuration", "signal", sig.String())
		reload(h, args, environ, log)
	}
	return stop()
}

// reload loads the configuration again from the same arguments and
// environment and applies it (Herald.Reload); an invalid one is logged
// with the messages of start-up and the running configuration stays.
func reload(h *Herald, args, environ []string, log *slog.Logger) {
	next, err := config.Load(args, environ)
	if err != nil {
		log.Error("reload: refused, the running configuration stays", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), next.ShutdownTimeout)
	defer cancel()
	if err := h.Reload(ctx, next); err != nil {
		log.Error("reload: refused, the running configuration stays", "err", err)
	}
}

// checkConfig is `herald check-config`: it loads the configuration as the
// broker would, prints it as YAML with every secret masked and exits 0,
// or prints the errors start-up would and exits 2.
func checkConfig(args, environ []string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, environ)
	if errors.Is(err, config.ErrHelp) {
		_, _ = fmt.Fprint(stdout, "Usage: herald check-config [flags]\n\n"+
			"Validates the configuration (the same file, HERALD_* variables and flags as herald)\n"+
			"and prints it as YAML, secrets masked. Exit code 0 when valid, 2 when not.\n\n")
		_, _ = fmt.Fprint(stdout, config.Usage())
		return exitOK
	}
	if err != nil {
		_, _ = fmt.Fprintf(stderr, "herald: %v\n", err)
		return exitConfig
	}
	if cfg.DevMode {
		_, _ = fmt.Fprintln(stdout, "# No apps are configured: herald would run the dev app (and the demo).")
	}
	_, _ = stdout.Write(cfg.YAML())
	_, _ = fmt.Fprintln(stderr, "herald: the configuration is valid")
	return exitOK
}

// commandsHelp completes --help with what is not a configuration flag.
const commandsHelp = `
Commands and signals:
  herald --version             print the version, VCS commit and Go version
  herald check-config [flags]  validate the configuration and print it, secrets masked (exit 2 if invalid)
  SIGHUP                       reload the configuration (apps, log level, limits, webhooks, certificates)
  SIGINT, SIGTERM              shut down: /readyz 503, sockets closed with 4200, webhooks flushed
`

// Version describes this build: the module version, the VCS commit (and
// whether the tree had changes) and the Go version, from the build
// information the Go toolchain embeds.
func Version() string { return version(debug.ReadBuildInfo()) }

func version(info *debug.BuildInfo, ok bool) string {
	version, commit, modified := "(devel)", "unknown", ""
	if ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision":
				commit = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				modified = " (modified)"
			}
		}
	}
	return fmt.Sprintf("herald %s, commit %s%s, %s", version, commit, modified, runtime.Version())
}
