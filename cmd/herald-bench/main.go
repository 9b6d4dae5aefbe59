// Command herald-bench is Herald's load generator and benchmark driver.
// It speaks the Pusher protocol over loopback only, to Herald or to the
// baseline server (bench/baseline), and measures the server process from
// /proc (its own CPU and RSS) while it runs.
//
//	herald-bench fanout  [flags]   N connections over C channels, R events/s through the signed HTTP API
//	herald-bench idle    [flags]   N subscribed connections held: marginal RSS, heap and goroutines per connection
//	herald-bench churn   [flags]   connect+subscribe+disconnect at R/s: server CPU per connection, leaks
//	herald-bench publish [flags]   HTTP API requests/s and latency to a channel with S subscribers
//	herald-bench soak    [flags]   mixed load for --duration: server RSS, goroutines and fds every minute
//	herald-bench floor   [flags]   N plain TCP connections held by bench/floor: the memory floor of a goroutine per connection
//	herald-bench suite   [flags]   every scenario, Herald, baseline (and --before-bin) alternating, 3 runs, medians → BENCHMARKS.md
//	herald-bench scaling [flags]   fanout and publish at saturation, server GOMAXPROCS 1 vs 2, pinned with taskset → BENCHMARKS.md
//	herald-bench budget  [flags]   idle runs with every allocation profiled: a connection's memory, row by row
//
// By default a scenario builds and starts its own server (--server herald,
// baseline or floor) on free loopback ports and stops it after the run, so each
// run measures a freshly started process. --server external measures a
// server already running (--ws, --api, --pid). fanout --nodes N (N > 1)
// starts a Herald cluster instead: Debian's etcd and N servers on loopback,
// subscribers and publishes spread round-robin over the nodes, server CPU
// and RSS summed over them (cluster.go). A progress line goes to
// stderr while it runs; the summary table (or --json) to stdout. Every run
// is bounded by --timeout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch cmd := os.Args[1]; cmd {
	case "fanout", "idle", "churn", "publish", "soak", "floor":
		err = runScenario(cmd, os.Args[2:])
	case "suite":
		err = runSuite(os.Args[2:])
	case "scaling":
		err = runScaling(os.Args[2:])
	case "budget":
		err = runBudget(os.Args[2:])
	case "worker":
		err = runWorker()
	case "-h", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "herald-bench: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "herald-bench: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: herald-bench <fanout|idle|churn|publish|soak|floor|suite|scaling|budget> [flags]
       herald-bench <command> -h   for the flags of one command

  fanout   N connections over C channels, R events/s through the signed HTTP API:
           delivery latency from a timestamp in the payload, deliveries/s,
           missing and duplicate deliveries, server CPU and write syscalls per
           delivery; --subs-per-conn and --channels-per-event: bursts to a socket;
           --nodes N: against a Herald cluster of N nodes (etcd on loopback)
  idle     N subscribed connections held: marginal RSS per connection
  churn    connect+subscribe+disconnect per second: server CPU per connection,
           RSS and goroutines after the run
  publish  HTTP API requests/s and latency to a channel with S subscribers,
           closed loop or (--rate) open loop; server CPU per request
  soak     mixed load (churn, publishes, presence, client events, signins, a
           slow reader) for --duration: the server's RSS, goroutines and fds
           every minute and their growth, errors, missing deliveries
  floor    N plain TCP connections held by bench/floor (--mode read, grown or
           epoll): what a connection costs a Go server before gws or Herald
  suite    every scenario against Herald and the baseline (and --before-bin),
           alternating, 3 runs, medians and ratios written into BENCHMARKS.md
  scaling  fanout and publish at saturation with the server on GOMAXPROCS 1
           and 2, server and generator pinned apart with taskset
  budget   idle runs with every allocation profiled: the memory of one
           connection, row by row (read buffer, gws.Conn, actor, mailbox, …)
`)
}

// result is one scenario run against one server.
type result struct {
	Scenario string             `json:"scenario"`
	Server   string             `json:"server"`
	Command  string             `json:"command"`
	Params   map[string]string  `json:"params"`
	Machine  machine            `json:"machine"`
	Started  time.Time          `json:"started"`
	Seconds  float64            `json:"seconds"`
	Metrics  map[string]float64 `json:"metrics"`
	Errors   []string           `json:"errors,omitempty"`
	Profiles []string           `json:"profiles,omitempty"`
	Samples  []soakSample       `json:"samples,omitempty"` // soak: the server's figures over time
}

// runner is what every scenario gets: its flags' values, the server, and
// the progress line.
type runner struct {
	ctx     context.Context
	name    string
	srv     *server // the server; in a cluster, its first node
	fleet   *fleet  // every server process of the run (one, or the cluster's nodes)
	res     *result
	appID   string
	key     string
	secret  string
	procs   int
	quiet   bool
	profile string // directory for pprof profiles; "" for none
	status  func() string
}

func (r *runner) wsURL() string {
	return "ws://" + r.srv.WS + "/app/" + r.key + "?protocol=7&client=herald-bench&version=1.0"
}

// wsURLs is every node's WebSocket URL when the run has more than one
// node, nil otherwise.
func (r *runner) wsURLs() []string {
	if len(r.fleet.nodes) < 2 {
		return nil
	}
	var out []string
	for _, s := range r.fleet.nodes {
		out = append(out, "ws://"+s.WS+"/app/"+r.key+"?protocol=7&client=herald-bench&version=1.0")
	}
	return out
}

// apiAddrs is every node's API host:port.
func (r *runner) apiAddrs() []string {
	var out []string
	for _, s := range r.fleet.nodes {
		out = append(out, s.API)
	}
	return out
}

func (r *runner) metric(k string, v float64) { r.res.Metrics[k] = v }

func (r *runner) errorf(format string, a ...any) {
	r.res.Errors = append(r.res.Errors, fmt.Sprintf(format, a...))
}

// sleep waits d or until the run's context ends.
func (r *runner) sleep(d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.ctx.Done():
	}
}

// progress prints r.status() to stderr every second until stop is closed.
func (r *runner) progress(stop <-chan struct{}) {
	if r.quiet {
		return
	}
	tty := false
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-stop:
			if tty {
				fmt.Fprintln(os.Stderr)
			}
			return
		case <-t.C:
			n++
			line := fmt.Sprintf("[%s %s %4.0fs] %s", r.name, r.srv.Kind, time.Since(start).Seconds(), r.status())
			if tty {
				fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
			} else if n%2 == 0 {
				fmt.Fprintln(os.Stderr, line)
			}
		}
	}
}

type scenario struct {
	flags   func(fs *flag.FlagSet) // adds the scenario's own flags
	run     func(r *runner) error
	table   []metricDef          // summary table rows
	timeout func() time.Duration // default bound from the flags
	cluster bool                 // takes --nodes: runs against a Herald cluster it starts
	server  string               // the default --server ("" : herald)
	env     func() []string      // added to the environment of the server it starts, before --server-env
}

var scenarios = map[string]*scenario{}

func runScenario(name string, args []string) error {
	sc := scenarios[name]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	defKind := sc.server
	if defKind == "" {
		defKind = "herald"
	}
	kind := fs.String("server", defKind, "server to measure: herald (bench/heraldsrv), baseline (bench/baseline), floor (bench/floor) or external")
	bin := fs.String("bin", "", "server binary (default: go build it from this module)")
	ws := fs.String("ws", "", "external: WebSocket host:port (loopback only)")
	api := fs.String("api", "", "external: HTTP API host:port (loopback only)")
	pid := fs.Int("pid", 0, "external: the server's pid, for its CPU and RSS")
	dbg := fs.String("debug", "", "external: the server's bench/benchdebug host:port, if any")
	appID := fs.String("app-id", "app-id", "app id in API paths")
	key := fs.String("key", "app-key", "app key")
	secret := fs.String("secret", "app-secret", "app secret (signs API requests)")
	procs := fs.Int("procs", 0, "generator worker processes holding the connections (0: one per 10 000 connections)")
	gmp := fs.Int("server-gomaxprocs", 0, "GOMAXPROCS of a server this tool starts (0: inherit)")
	cpus := fs.String("server-cpus", "", "CPU list a server this tool starts is pinned to (taskset -c LIST; \"\": not pinned)")
	asJSON := fs.Bool("json", false, "print the result as JSON instead of a table")
	quiet := fs.Bool("quiet", false, "no progress line")
	timeout := fs.Duration("timeout", 0, "hard bound of the whole run (default from the scenario's flags)")
	var serverEnv multiFlag
	fs.Var(&serverEnv, "server-env", "`KEY=VALUE` added to the environment of a server this tool starts (repeatable; e.g. GODEBUG=..., GOGC=...)")
	profile := fs.String("profile", "", "directory to write the server's CPU profile of the measured phase (and heap profile for idle) into")
	nodes := new(int)
	*nodes = 1
	if sc.cluster {
		fs.IntVar(nodes, "nodes", 1, "herald: start a cluster of N nodes (Debian's etcd and N servers on loopback; subscribers and publishes spread over them round-robin; server CPU and RSS summed over the nodes); 1: one server, no cluster")
	}
	sc.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *nodes < 1 {
		return fmt.Errorf("--nodes %d: need at least 1", *nodes)
	}
	if *nodes > 1 && *kind != "herald" {
		return fmt.Errorf("--nodes %d needs --server herald (a cluster this tool starts)", *nodes)
	}
	bound := *timeout
	if bound <= 0 {
		bound = sc.timeout()
		if *nodes > 1 { // etcd, the nodes' start (in parallel) and stop
			bound += 60 * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	ctx, stopSig := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSig()
	// The context ends every wait; this ends a run stuck anyway.
	hard := time.AfterFunc(bound+30*time.Second, func() {
		fmt.Fprintf(os.Stderr, "herald-bench: %s exceeded its %s bound; exiting\n", name, bound)
		os.Exit(3)
	})
	defer hard.Stop()

	res := &result{Scenario: name, Server: *kind, Command: commandLine(name, args), Params: map[string]string{},
		Machine: describeMachine(), Started: time.Now(), Metrics: map[string]float64{}}
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "json", "quiet", "bin", "secret", "profile", "timeout":
			return
		case "ws", "api", "pid", "debug":
			if *kind != "external" {
				return
			}
		case "nodes":
			if *nodes == 1 { // the default: a single server, as before --nodes existed
				return
			}
		}
		res.Params[f.Name] = f.Value.String()
	})
	env := []string(serverEnv)
	if sc.env != nil {
		env = append(sc.env(), env...)
	}
	fl, err := startFleet(ctx, serverOpts{Kind: *kind, Bin: *bin, WS: *ws, API: *api, PID: *pid, Debug: *dbg, GOMAXPROCS: *gmp, Env: env, CPUs: *cpus}, *nodes)
	if err != nil {
		return err
	}
	defer fl.Stop()
	srv := fl.nodes[0]
	if st, ok := srv.Stats(false); ok {
		res.Machine.GOMAXPROCS = fmt.Sprintf("server %d, generator %s", st.GOMAXPROCS, res.Machine.GOMAXPROCS)
	}
	r := &runner{ctx: ctx, name: name, srv: srv, fleet: fl, res: res, appID: *appID, key: *key, secret: *secret,
		procs: *procs, quiet: *quiet, profile: *profile, status: func() string { return "" }}
	if r.profile != "" {
		if err := os.MkdirAll(r.profile, 0o755); err != nil { //nolint:gosec // G703: the --profile directory the user asked for
			return err
		}
	}
	stop := make(chan struct{})
	go r.progress(stop)
	runErr := sc.run(r)
	close(stop)
	if runErr == nil && ctx.Err() != nil {
		runErr = fmt.Errorf("run did not finish within %s", bound)
	}
	if runErr != nil {
		r.errorf("%v", runErr)
	}
	for _, d := range fl.Dead() {
		r.errorf("%s exited during the run", d)
	}
	res.Seconds = time.Since(res.Started).Seconds()
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printTable(res, sc.table)
	if runErr != nil {
		return runErr
	}
	return nil
}

func commandLine(name string, args []string) string {
	parts := []string{"go run ./cmd/herald-bench", name}
	for _, a := range args {
		if a == "--json" || a == "-json" || a == "--quiet" || a == "-quiet" || strings.HasPrefix(a, "--bin=") {
			continue
		}
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// metricDef is one row of a summary table.
type metricDef struct {
	Key   string
	Label string
	Fmt   string // printf verb for the value
}

func printTable(res *result, defs []metricDef) {
	fmt.Printf("\n%s against %s (%s)\n", res.Scenario, res.Server, res.Started.Format(time.RFC3339))
	var keys []string
	for k, v := range res.Params {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	fmt.Printf("params: %s\n", strings.Join(keys, " "))
	fmt.Printf("machine: %s, %d cores, %d GiB, Linux %s, %s, GOMAXPROCS %s\n\n",
		res.Machine.CPU, res.Machine.Cores, res.Machine.MemGiB, res.Machine.Kernel, res.Machine.Go, res.Machine.GOMAXPROCS)
	w := 0
	for _, d := range defs {
		if len(d.Label) > w {
			w = len(d.Label)
		}
	}
	for _, d := range defs {
		v, ok := res.Metrics[d.Key]
		if !ok {
			continue
		}
		fmt.Printf("  %-*s  "+d.Fmt+"\n", w, d.Label, v)
	}
	if len(res.Samples) > 0 {
		printSamples(res.Samples)
	}
	for _, p := range res.Profiles {
		fmt.Printf("  profile: %s\n", p)
	}
	for _, e := range res.Errors {
		fmt.Printf("  ERROR: %s\n", e)
	}
	fmt.Println()
}

// profilePath names a profile file of this run.
func (r *runner) profilePath(kind string) string {
	return filepath.Join(r.profile, fmt.Sprintf("%s-%s-%s.pprof", r.name, r.srv.Kind, kind))
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
