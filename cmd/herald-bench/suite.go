package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// suiteSpec is one scenario of the suite: a command line run against
// every server, the rows it shows, and the targets it checks.
type suiteSpec struct {
	ID      string
	Title   string
	Cmd     string
	Args    []string
	Rows    []suiteRow
	Targets []suiteTarget
	// HeraldOnly scenarios (a cluster) run against Herald and the
	// --before-bin Herald, not the baseline.
	HeraldOnly bool
}

type suiteRow struct {
	Key, Label, Fmt string
}

// suiteTarget is checked on the medians and on every run (for counts that
// must be zero in all of them). Check returns Herald's figure, the one it
// is compared with (labelled), the ratio and whether the target holds;
// skip is true when the comparison was not run (no --before-bin).
type suiteTarget struct {
	Text  string
	Check func(s servers) (herald, other, ratio string, ok, skip bool)
}

// servers is one scenario's runs on each server: Herald (this module),
// the baseline, and Herald before (--before-bin; no runs without it).
type servers struct {
	H, B, P summary
}

// summary is one server's runs of one scenario.
type summary struct {
	Runs []*result
}

func (s summary) median(k string) float64 {
	var v []float64
	for _, r := range s.Runs {
		if x, ok := r.Metrics[k]; ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (s summary) max(k string) float64 {
	m := math.NaN()
	for _, r := range s.Runs {
		if x, ok := r.Metrics[k]; ok && (math.IsNaN(m) || x > m) {
			m = x
		}
	}
	return m
}

func (s summary) values(k, f string) string {
	var out []string
	for _, r := range s.Runs {
		if x, ok := r.Metrics[k]; ok {
			out = append(out, fmt.Sprintf(f, x))
		} else {
			out = append(out, "–")
		}
	}
	return strings.Join(out, " / ")
}

func (s summary) errors() []string {
	var out []string
	for i, r := range s.Runs {
		for _, e := range r.Errors {
			out = append(out, fmt.Sprintf("run %d: %s", i+1, e))
		}
	}
	return out
}

// ratioCheck compares Herald's median of key with the baseline's:
// Herald/baseline ≤ limit (le) or ≥ limit.
func ratioCheck(key, f string, limit float64, le bool) func(s servers) (string, string, string, bool, bool) {
	return func(s servers) (string, string, string, bool, bool) {
		h, o, r, ok := medianRatio(s.H, s.B, key, f, limit, le)
		return h, "baseline " + o, r, ok, false
	}
}

// beforeCheck compares Herald's median of key with Herald before's
// (--before-bin): no regression within limit.
func beforeCheck(key, f string, limit float64, le bool) func(s servers) (string, string, string, bool, bool) {
	return func(s servers) (string, string, string, bool, bool) {
		if len(s.P.Runs) == 0 {
			return "", "", "", false, true
		}
		h, o, r, ok := medianRatio(s.H, s.P, key, f, limit, le)
		return h, "before " + o, r, ok, false
	}
}

func medianRatio(h, o summary, key, f string, limit float64, le bool) (string, string, string, bool) {
	hv, ov := h.median(key), o.median(key)
	r := hv / ov
	ok := r <= limit
	if !le {
		ok = r >= limit
	}
	return fmt.Sprintf(f, hv), fmt.Sprintf(f, ov), fmt.Sprintf("%.2f", r), ok && !math.IsNaN(r)
}

// absCheck: Herald's median of key ≤ limit (the baseline's shown beside).
func absCheck(key, f string, limit float64) func(s servers) (string, string, string, bool, bool) {
	return func(s servers) (string, string, string, bool, bool) {
		hv := s.H.median(key)
		if len(s.B.Runs) == 0 {
			return fmt.Sprintf(f, hv), "", "", hv <= limit, false
		}
		bv := s.B.median(key)
		return fmt.Sprintf(f, hv), "baseline " + fmt.Sprintf(f, bv), fmt.Sprintf("%.2f", hv/bv), hv <= limit, false
	}
}

// zeroCheck: the metrics are 0 in every Herald run.
func zeroCheck(keys ...string) func(s servers) (string, string, string, bool, bool) {
	return func(s servers) (string, string, string, bool, bool) {
		var hs, bs []string
		ok := true
		o, label := s.B, "baseline "
		if len(o.Runs) == 0 {
			o, label = s.P, "before "
		}
		for _, k := range keys {
			hm, bm := s.H.max(k), o.max(k)
			hs = append(hs, fmt.Sprintf("%.0f", hm))
			bs = append(bs, fmt.Sprintf("%.0f", bm))
			ok = ok && hm == 0
		}
		other := ""
		if len(o.Runs) > 0 {
			other = label + strings.Join(bs, " / ")
		}
		return strings.Join(hs, " / "), other, "", ok && len(s.H.Runs) > 0, false
	}
}

// servedCheck: in every Herald run of an open-loop scenario, the requests
// served per second are at least frac of those offered.
func servedCheck(frac float64) func(s servers) (string, string, string, bool, bool) {
	return func(s servers) (string, string, string, bool, bool) {
		ok := len(s.H.Runs) > 0
		lo := math.Inf(1)
		for _, r := range s.H.Runs {
			got, want := r.Metrics["requests_per_s"], r.Metrics["offered_per_s"]
			lo = math.Min(lo, got/want)
			ok = ok && want > 0 && got >= frac*want && r.Metrics["publish_errors"] == 0
		}
		return fmt.Sprintf("%.0f/s of %.0f/s", s.H.median("requests_per_s"), s.H.median("offered_per_s")),
			"baseline " + fmt.Sprintf("%.0f/s", s.B.median("requests_per_s")), fmt.Sprintf("%.3f (lowest run)", lo), ok, false
	}
}

var fanoutRows = []suiteRow{
	{"server_cpu_us_per_delivery", "server CPU per delivery (µs)", "%.2f"},
	{"server_cpu_pct", "server CPU (% of a core)", "%.1f"},
	{"lat_p50_ms", "delivery latency p50 (ms)", "%.2f"},
	{"lat_p90_ms", "delivery latency p90 (ms)", "%.2f"},
	{"lat_p99_ms", "delivery latency p99 (ms)", "%.2f"},
	{"lat_p999_ms", "delivery latency p99.9 (ms)", "%.2f"},
	{"lat_max_ms", "delivery latency max (ms)", "%.2f"},
	{"deliveries_per_s", "deliveries/s", "%.0f"},
	{"missing", "missing deliveries", "%.0f"},
	{"duplicates", "duplicate deliveries", "%.0f"},
	{"publish_p50_ms", "API request p50 (ms)", "%.2f"},
	{"publish_p99_ms", "API request p99 (ms)", "%.2f"},
	{"client_cpu_us_per_delivery", "generator CPU per delivery (µs)", "%.2f"},
	{"connect_s", "connect+subscribe all (s)", "%.2f"},
	{"write_syscalls_per_delivery", "server write syscalls per delivery (less one per API response)", "%.3f"},
	{"server_rss_mib", "server RSS at the end (MiB)", "%.1f"},
}

// burstRows are fanoutRows with the burst figures first.
var burstRows = append([]suiteRow{
	{"frames_per_burst", "frames per socket per event (a burst)", "%.2f"},
	{"write_syscalls_per_burst", "server write syscalls per burst (less one per API response)", "%.3f"},
}, fanoutRows...)

var publishRows = []suiteRow{
	{"requests_per_s", "API requests/s", "%.0f"},
	{"server_cpu_us_per_request", "server CPU per request (µs)", "%.1f"},
	{"server_cpu_pct", "server CPU (% of a core)", "%.1f"},
	{"publish_p50_ms", "request latency p50 (ms)", "%.2f"},
	{"publish_p99_ms", "request latency p99 (ms)", "%.2f"},
	{"publish_p999_ms", "request latency p99.9 (ms)", "%.2f"},
	{"lat_p99_ms", "delivery latency p99 (ms)", "%.2f"},
	{"lat_p999_ms", "delivery latency p99.9 (ms)", "%.2f"},
	{"client_cpu_pct", "generator CPU (% of a core)", "%.1f"},
	{"publish_lag_max_ms", "open loop: publisher max lag behind schedule (ms)", "%.1f"},
	{"missing", "missing deliveries", "%.0f"},
	{"publish_errors", "request errors", "%.0f"},
}

// noRegress is the suite's bar against Herald before (--before-bin): at
// least as good, within the suite's noise.
const noRegress = 1.05

func suiteSpecs(quick bool) []suiteSpec {
	d := func(long, short string) string {
		if quick {
			return short
		}
		return long
	}
	cpuNoWorse := suiteTarget{"no regression: CPU per delivery ≤ 1.05 × before", beforeCheck("server_cpu_us_per_delivery", "%.2f µs", noRegress, true)}
	return []suiteSpec{
		{
			ID: "fanout-2k", Title: "fanout: 2 000 subscribers over 10 channels, 200 events/s (40 000 deliveries/s)",
			Cmd: "fanout", Args: []string{"--conns", "2000", "--channels", "10", "--rate", "200", "--duration", d("10s", "3s")},
			Rows: fanoutRows,
			Targets: []suiteTarget{
				{"server CPU per delivery ≤ 0.95 × baseline", ratioCheck("server_cpu_us_per_delivery", "%.2f µs", 0.95, true)},
				{"p99.9 delivery ≤ 1.2 × baseline", ratioCheck("lat_p999_ms", "%.2f ms", 1.2, true)},
				{"no missing or duplicate deliveries (every run)", zeroCheck("missing", "duplicates")},
				cpuNoWorse,
				{"no regression: p99.9 ≤ 1.05 × before", beforeCheck("lat_p999_ms", "%.2f ms", noRegress, true)},
			},
		},
		{
			ID: "fanout-10k", Title: "fanout: 10 000 subscribers on one channel, 5 events/s",
			Cmd: "fanout", Args: []string{"--conns", "10000", "--channels", "1", "--rate", "5", "--duration", d("8s", "4s")},
			Rows: fanoutRows,
			Targets: []suiteTarget{
				{"p99 delivery ≤ 1.2 × baseline", ratioCheck("lat_p99_ms", "%.1f ms", 1.2, true)},
				{"no missing deliveries (every run)", zeroCheck("missing")},
				cpuNoWorse,
				{"no regression: p99 ≤ 1.05 × before", beforeCheck("lat_p99_ms", "%.1f ms", noRegress, true)},
			},
		},
		{
			ID: "fanout-1000ch", Title: "fanout: 1 000 channels × 10 subscribers, 2 000 events/s spread over the channels",
			Cmd: "fanout", Args: []string{"--conns", "10000", "--channels", "1000", "--rate", "2000", "--duration", d("6s", "3s")},
			Rows: fanoutRows,
			Targets: []suiteTarget{
				{"p99 delivery ≤ 20 ms", absCheck("lat_p99_ms", "%.2f ms", 20)},
				{"no missing deliveries (every run)", zeroCheck("missing")},
				cpuNoWorse,
			},
		},
		{
			ID: "burst-1000ch", Title: "burst: 1 000 connections each on 10 of 1 000 channels (10 subscribers a channel), 500 events/s each to 10 consecutive channels (a socket gets up to 10 frames at once)",
			Cmd: "fanout", Args: []string{"--conns", "1000", "--channels", "1000", "--subs-per-conn", "10", "--channels-per-event", "10",
				"--rate", "500", "--duration", d("6s", "3s")},
			Rows: burstRows,
			Targets: []suiteTarget{
				// syscw counts every write(2) of the process, the Go runtime's
				// own (its netpoller's eventfd) too: the baseline, which
				// writes each frame alone, reads 1.001-1.002 per frame, so
				// 1 is checked to 1 %.
				{"a burst to one socket leaves in one write: write syscalls per burst ≤ 1 (to 1 %: the count includes the runtime's own writes)", absCheck("write_syscalls_per_burst", "%.3f", 1.01)},
				{"no missing or duplicate deliveries (every run)", zeroCheck("missing", "duplicates")},
				cpuNoWorse,
			},
		},
		{
			ID: "idle-15k", Title: "idle: 15 000 subscribed connections on a freshly started server",
			Cmd: "idle", Args: []string{"--conns", d("15000", "3000"), "--procs", "2"},
			Rows: []suiteRow{
				{"rss_per_conn_kib", "marginal RSS per connection (KiB)", "%.2f"},
				{"rss_floor_per_conn_kib", "marginal RSS after GC + FreeOSMemory (KiB)", "%.2f"},
				{"heap_per_conn_kib", "heap in use per connection (KiB)", "%.2f"},
				{"live_heap_per_conn_kib", "live heap per connection (KiB)", "%.2f"},
				{"stack_per_conn_kib", "goroutine stack per connection (KiB)", "%.2f"},
				{"stack_gc_per_conn_kib", "goroutine stack per connection after a GC (KiB)", "%.2f"},
				{"goroutines_per_conn", "goroutines per connection", "%.3f"},
				{"server_rss_start_mib", "server RSS fresh (MiB)", "%.1f"},
				{"server_rss_mib", "server RSS with the connections (MiB)", "%.1f"},
				{"connects_per_s", "connects+subscribes/s", "%.0f"},
				{"server_idle_cpu_pct", "server CPU while held (% of a core)", "%.2f"},
			},
			Targets: []suiteTarget{
				{"marginal RSS ≤ 6 KiB per connection", absCheck("rss_per_conn_kib", "%.2f KiB", 6)},
				{"one goroutine per socket (its read loop; idle actors have none)", absCheck("goroutines_per_conn", "%.3f", 1.01)},
				{"no regression: marginal RSS ≤ 1.05 × before", beforeCheck("rss_per_conn_kib", "%.2f KiB", noRegress, true)},
			},
		},
		{
			ID: "churn-500", Title: "churn: 500 connect+subscribe+disconnect per second (10 channels, each with one long-lived subscriber; start sampled after 30 000 warm-up cycles)",
			Cmd: "churn", Args: []string{"--rate", "500", "--duration", d("10s", "3s"), "--warmup", d("20s", "2s"), "--warmup-rate", "1500"},
			Rows: []suiteRow{
				{"server_cpu_us_per_conn", "server CPU per connection (µs)", "%.1f"},
				{"server_cpu_pct", "server CPU (% of a core)", "%.1f"},
				{"cycles_per_s", "cycles/s", "%.1f"},
				{"cycle_errors", "failed cycles", "%.0f"},
				{"cycle_p50_ms", "connect→subscribed p50 (ms)", "%.2f"},
				{"cycle_p99_ms", "connect→subscribed p99 (ms)", "%.2f"},
				{"warmup_cycles", "warm-up cycles before the start sample", "%.0f"},
				{"rss_fresh_mib", "RSS fresh (MiB)", "%.1f"},
				{"rss_start_mib", "RSS at start, after warm-up (MiB)", "%.1f"},
				{"rss_end_mib", "RSS after the run (MiB)", "%.1f"},
				{"rss_end_ratio", "RSS after / start", "%.3f"},
				{"live_heap_start_mib", "live heap at start (MiB)", "%.2f"},
				{"live_heap_end_mib", "live heap after the run (MiB)", "%.2f"},
				{"goroutines_start", "goroutines at start", "%.0f"},
				{"goroutines_end", "goroutines after the run", "%.0f"},
				{"goroutines_end_ratio", "goroutines after / start", "%.3f"},
				{"settle_s", "time to come back (s)", "%.1f"},
				{"client_cpu_us_per_conn", "generator CPU per connection (µs)", "%.1f"},
			},
			Targets: []suiteTarget{
				{"server CPU per connection ≤ 0.7 × baseline", ratioCheck("server_cpu_us_per_conn", "%.1f µs", 0.7, true)},
				{"RSS back within 5 % of the start", absCheck("rss_end_ratio", "%.3f", 1.05)},
				{"goroutines back within 5 % of the start", absCheck("goroutines_end_ratio", "%.3f", 1.05)},
				{"no regression: CPU per connection ≤ 1.05 × before", beforeCheck("server_cpu_us_per_conn", "%.1f µs", noRegress, true)},
			},
		},
		{
			ID: "publish", Title: "publish at saturation: HTTP API requests/s to a channel with 10 subscribers (closed loop, 16 requests in flight)",
			Cmd: "publish", Args: []string{"--subs", "10", "--concurrency", "16", "--duration", d("6s", "3s")},
			Rows: publishRows,
			Targets: []suiteTarget{
				{"server CPU per API request ≤ 0.75 × baseline", ratioCheck("server_cpu_us_per_request", "%.1f µs", 0.75, true)},
				{"no regression: requests/s ≥ 0.95 × before", beforeCheck("requests_per_s", "%.0f/s", 1/noRegress, false)},
			},
		},
		{
			ID: "publish-2000", Title: "publish open loop: 2 000 HTTP API requests/s on a fixed schedule to a channel with 10 subscribers",
			Cmd: "publish", Args: []string{"--subs", "10", "--rate", "2000", "--concurrency", "64", "--duration", d("6s", "3s")},
			Rows: publishRows,
			Targets: []suiteTarget{
				{"server CPU per API request ≤ 0.75 × baseline", ratioCheck("server_cpu_us_per_request", "%.1f µs", 0.75, true)},
				{"every request served on schedule: requests/s ≥ 0.99 × offered, no errors (every run)", servedCheck(0.99)},
				{"no regression: CPU per request ≤ 1.05 × before", beforeCheck("server_cpu_us_per_request", "%.1f µs", noRegress, true)},
			},
		},
		{
			ID: "cluster-3", Title: "cluster: the fanout-2k load on 3 Herald nodes (etcd on loopback; server CPU and RSS summed over the nodes)",
			Cmd: "fanout", Args: []string{"--nodes", "3", "--conns", "2000", "--channels", "10", "--rate", "200", "--duration", d("10s", "3s")},
			Rows: fanoutRows, HeraldOnly: true,
			Targets: []suiteTarget{
				{"no missing or duplicate deliveries (every run)", zeroCheck("missing", "duplicates")},
				cpuNoWorse,
				{"no regression: p99 ≤ 1.05 × before", beforeCheck("lat_p99_ms", "%.2f ms", noRegress, true)},
			},
		},
	}
}

func runSuite(args []string) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	runs := fs.Int("runs", 3, "runs per server per scenario (the servers alternate, in a rotating order)")
	out := fs.String("out", "BENCHMARKS.md", "markdown file whose generated section is replaced (created if missing)")
	raw := fs.String("raw", "bench/results/last-suite.json", "every run's full result as JSON (\"\" for none)")
	only := fs.String("only", "", "comma-separated scenario ids to run (fanout-2k, fanout-10k, fanout-1000ch, burst-1000ch, idle-15k, churn-500, publish, publish-2000, cluster-3, micro)")
	quick := fs.Bool("quick", false, "short runs (a smoke test of the suite, not numbers to publish)")
	profile := fs.String("profile", "", "directory for the servers' CPU (and heap) profiles of every run")
	binDir := fs.String("bin-dir", "", "where to build the servers (default a temp directory)")
	from := fs.String("from", "", "rebuild the tables from this raw JSON of an earlier suite: only the scenarios --only names run again (\"micro\" for the micro-benchmarks), the others keep their runs")
	before := fs.String("before-bin", "", "a bench/heraldsrv binary built from an earlier commit: every scenario also runs against it (column \"before\"), for the no-regression targets")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	want := map[string]bool{}
	for _, id := range strings.Split(*only, ",") {
		if id = strings.TrimSpace(id); id != "" {
			want[id] = true
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if *binDir == "" {
		*binDir = filepath.Join(os.TempDir(), "herald-bench-bin")
	}
	fmt.Fprintf(os.Stderr, "suite: building the servers into %s\n", *binDir)
	bins := map[string]string{}
	for _, k := range []string{"herald", "baseline"} {
		if bins[k], err = buildServer(k, *binDir); err != nil {
			return err
		}
	}
	if *before != "" {
		if _, err := os.Stat(*before); err != nil {
			return fmt.Errorf("--before-bin: %w", err)
		}
		bins["before"] = *before
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	started := time.Now()
	specs := suiteSpecs(*quick)
	results := map[string]map[string]*summary{}
	var all []*result
	kindsOf := func(sp suiteSpec) []string {
		k := []string{"herald", "baseline"}
		if sp.HeraldOnly {
			k = []string{"herald"}
		}
		if bins["before"] != "" {
			k = append(k, "before")
		}
		return k
	}
	total := 0
	for _, sp := range specs {
		if len(want) == 0 || want[sp.ID] {
			total += len(kindsOf(sp)) * *runs
		}
	}
	var took time.Duration
	var micro []microResult
	microErr := ""
	if *from != "" {
		if started, all, took, micro, microErr, err = loadSuite(*from, specs, results); err != nil {
			return err
		}
		total = 0
		if bins["before"] == "" {
			for _, r := range all {
				if r.Server == "before" {
					*before = "(from " + *from + ")"
				}
			}
		}
	}
	runStart := time.Now()
	rerun := func(sp suiteSpec) bool { // with --from, only what --only names runs again
		if *from != "" {
			return want[sp.ID]
		}
		return len(want) == 0 || want[sp.ID]
	}
	if *from != "" {
		for _, sp := range specs {
			if rerun(sp) {
				total += len(kindsOf(sp)) * *runs
				kept := all[:0]
				for _, r := range all {
					if results[sp.ID] == nil || !inSummaries(results[sp.ID], r) {
						kept = append(kept, r)
					}
				}
				all = kept
			}
		}
	}
	n := 0
	for _, sp := range specs {
		if !rerun(sp) {
			continue
		}
		results[sp.ID] = map[string]*summary{"herald": {}, "baseline": {}, "before": {}}
		kinds := kindsOf(sp)
		for run := 0; run < *runs; run++ {
			order := append(append([]string(nil), kinds[run%len(kinds):]...), kinds[:run%len(kinds)]...)
			for _, name := range order {
				n++
				kind := name
				if name == "before" {
					kind = "herald"
				}
				args := append([]string{sp.Cmd, "--server", kind, "--bin", bins[name], "--json", "--quiet"}, sp.Args...)
				if *profile != "" {
					args = append(args, "--profile", filepath.Join(*profile, fmt.Sprintf("%s-%s-run%d", sp.ID, name, run+1)))
				}
				fmt.Fprintf(os.Stderr, "suite [%d/%d] %s %s run %d … ", n, total, sp.ID, name, run+1)
				t0 := time.Now()
				res, err := runChild(exe, root, args)
				if err != nil {
					fmt.Fprintf(os.Stderr, "FAILED after %.0fs: %v\n", time.Since(t0).Seconds(), err)
					res = &result{Scenario: sp.Cmd, Metrics: map[string]float64{}, Errors: []string{err.Error()}}
				} else {
					fmt.Fprintf(os.Stderr, "%.0fs %s\n", time.Since(t0).Seconds(), headline(sp, res))
				}
				res.Server = name
				res.Command = commandLine(sp.Cmd, append([]string{"--server", kind}, sp.Args...))
				results[sp.ID][name].Runs = append(results[sp.ID][name].Runs, res)
				all = append(all, res)
			}
		}
	}
	if len(want) == 0 && *from == "" || want["micro"] {
		microErr = ""
		fmt.Fprintf(os.Stderr, "suite: go test -bench (pusher, actors, transport) … ")
		t0 := time.Now()
		micro, err = runMicro(root, *quick)
		if err != nil {
			microErr = err.Error()
			fmt.Fprintf(os.Stderr, "FAILED: %v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "%.0fs\n", time.Since(t0).Seconds())
		}
	}
	if *from == "" {
		took = time.Since(started)
	} else if len(want) > 0 {
		took += time.Since(runStart)
	}
	md := suiteMarkdown(specs, results, micro, microErr, *runs, *quick, *before, *from != "", started, took)
	if *raw != "" {
		if err := os.MkdirAll(filepath.Dir(*raw), 0o755); err == nil {
			b, _ := json.MarshalIndent(map[string]any{"started": started, "runs": all, "micro": micro, "micro_error": microErr}, "", "  ")
			_ = os.WriteFile(*raw, b, 0o644)
		}
	}
	if err := replaceSection(*out, suiteSection, md); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "suite: done; wrote %s\n", *out)
	fmt.Print(md)
	return nil
}

// inSummaries reports whether r is one of the runs in s.
func inSummaries(s map[string]*summary, r *result) bool {
	for _, sm := range s {
		for _, x := range sm.Runs {
			if x == r {
				return true
			}
		}
	}
	return false
}

// loadSuite reads a raw JSON the suite wrote and files its runs under
// their scenarios (matched by command line), for --from.
func loadSuite(file string, specs []suiteSpec, results map[string]map[string]*summary) (time.Time, []*result, time.Duration, []microResult, string, error) {
	var raw struct {
		Started  time.Time     `json:"started"`
		Runs     []*result     `json:"runs"`
		Micro    []microResult `json:"micro"`
		MicroErr string        `json:"micro_error"`
	}
	b, err := os.ReadFile(file) //nolint:gosec // G304: the --from file the user named
	if err != nil {
		return time.Time{}, nil, 0, nil, "", err
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return time.Time{}, nil, 0, nil, "", fmt.Errorf("%s: %w", file, err)
	}
	end := raw.Started
	var kept []*result
	for _, r := range raw.Runs {
		if e := r.Started.Add(time.Duration(r.Seconds * float64(time.Second))); e.After(end) {
			end = e
		}
		filed := false
		for _, sp := range specs {
			kind := r.Server
			if kind == "before" {
				kind = "herald"
			}
			if r.Command != commandLine(sp.Cmd, append([]string{"--server", kind}, sp.Args...)) {
				continue
			}
			if results[sp.ID] == nil {
				results[sp.ID] = map[string]*summary{"herald": {}, "baseline": {}, "before": {}}
			}
			results[sp.ID][r.Server].Runs = append(results[sp.ID][r.Server].Runs, r)
			filed = true
		}
		if filed {
			kept = append(kept, r)
		} else {
			fmt.Fprintf(os.Stderr, "suite: %s: dropping a run no scenario of the suite runs any more: %s\n", file, r.Command)
		}
	}
	return raw.Started, kept, end.Sub(raw.Started), raw.Micro, raw.MicroErr, nil
}

func headline(sp suiteSpec, r *result) string {
	var parts []string
	for _, row := range sp.Rows[:min(3, len(sp.Rows))] {
		if v, ok := r.Metrics[row.Key]; ok {
			parts = append(parts, fmt.Sprintf("%s="+row.Fmt, row.Key, v))
		}
	}
	if len(r.Errors) > 0 {
		parts = append(parts, fmt.Sprintf("ERRORS: %v", r.Errors))
	}
	return strings.Join(parts, " ")
}

// runChild runs one scenario as a child process (bounded by the child's
// own --timeout, and here by 10 minutes) and parses its JSON.
func runChild(exe, dir string, args []string) (*result, error) { return runChildCmd(exe, dir, args) }

// runChildCmd runs name args (herald-bench itself, or a wrapper such as
// taskset that execs it) and parses the scenario's JSON.
func runChildCmd(name, dir string, args []string) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var res result
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		if err == nil { // the child exited 0 without a JSON result
			err = jerr
		}
		return nil, fmt.Errorf("%w; stderr: %s", err, lastLines(stderr.String(), 10))
	}
	return &res, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// microResult is one go test -bench line.
type microResult struct {
	Pkg, Name   string
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
	Extra       map[string]float64
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func runMicro(root string, quick bool) ([]microResult, error) {
	bt := "1s"
	if quick {
		bt = "200ms"
	}
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", bt, "./pusher/", "./actors/", "./transport/")
	cmd.Dir = root
	outb, runErr := cmd.CombinedOutput()
	var res []microResult
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(outb))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "pkg: ") {
			pkg = strings.TrimPrefix(line, "pkg: github.com/herald-push/herald/")
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := microResult{Pkg: pkg, Name: strings.TrimPrefix(m[1], "Benchmark"), Extra: map[string]float64{}}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseFloat(f[i], 64)
			switch f[i+1] {
			case "ns/op":
				r.NsPerOp = v
			case "B/op":
				r.BytesPerOp = v
			case "allocs/op":
				r.AllocsPerOp = v
			default:
				r.Extra[f[i+1]] = v
			}
		}
		res = append(res, r)
	}
	if runErr != nil { // what passed is kept; the failures are named
		var failed []string
		for _, line := range strings.Split(string(outb), "\n") {
			if f, ok := strings.CutPrefix(strings.TrimSpace(line), "--- FAIL: "); ok && !strings.Contains(f, "/") {
				failed = append(failed, f)
			}
		}
		return res, fmt.Errorf("%w: failed: %s", runErr, strings.Join(failed, ", "))
	}
	return res, nil
}

// section names a generated part of BENCHMARKS.md, between its markers.
type section struct{ begin, end string }

var suiteSection = section{
	"<!-- herald-bench suite: begin (generated by `go run ./cmd/herald-bench suite`; edits inside are overwritten) -->",
	"<!-- herald-bench suite: end -->",
}

func replaceSection(file string, sec section, md string) error {
	block := sec.begin + "\n" + md + sec.end + "\n"
	old, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, sec.begin), strings.Index(s, sec.end)
	switch {
	case i >= 0 && j > i:
		s = s[:i] + block + strings.TrimPrefix(s[j+len(sec.end):], "\n")
	case len(s) == 0:
		s = "# Herald benchmarks\n\n" + block
	default:
		s = strings.TrimRight(s, "\n") + "\n\n" + block
	}
	return os.WriteFile(file, []byte(s), 0o644) //nolint:gosec // G703: the --out file the user asked for
}

func suiteMarkdown(specs []suiteSpec, results map[string]map[string]*summary, micro []microResult, microErr string, runs int, quick bool, before string, rebuilt bool, started time.Time, took time.Duration) string {
	var b strings.Builder
	m := describeMachine()
	gmp := m.GOMAXPROCS
	for _, sp := range specs {
		if s := results[sp.ID]; s != nil && len(s["herald"].Runs) > 0 && s["herald"].Runs[0].Machine.GOMAXPROCS != "" {
			gmp = s["herald"].Runs[0].Machine.GOMAXPROCS
			break
		}
	}
	fmt.Fprintf(&b, "Generated %s by `go run ./cmd/herald-bench suite", started.UTC().Format("2006-01-02 15:04 MST"))
	if before != "" {
		b.WriteString(" --before-bin …")
	}
	if rebuilt {
		fmt.Fprintf(&b, "`, its runs spanning %s (tables rebuilt with `--from`: the scenarios re-run with `--only` replaced theirs)", took.Round(time.Second))
	} else {
		fmt.Fprintf(&b, "` in %s", took.Round(time.Second))
	}
	if quick {
		b.WriteString(" (**--quick: smoke-test durations, not numbers to quote**)")
	}
	servers := "Herald and the baseline"
	order := "herald, baseline / baseline, herald / …"
	if before != "" {
		servers = "Herald (this commit), the baseline and Herald before (`--before-bin`, built from an earlier commit)"
		order = "herald, baseline, before / baseline, before, herald / before, herald, baseline"
	}
	fmt.Fprintf(&b, ".\n\nMachine: %s, %d cores, %d GiB, Linux %s, %s; GOMAXPROCS: %s; fd limit %d. "+
		"Server and load generator share the machine's cores, and other engineers' tests ran on it at the same time. "+
		"Each scenario ran %d time(s) against each of %s, in a rotating order (%s), each run on a freshly started server "+
		"process; the tables give the **median** of the runs and, in the last columns, every run.\n\n",
		m.CPU, m.Cores, m.MemGiB, m.Kernel, m.Go, gmp, m.FDLimit, runs, servers, order)

	b.WriteString("### Targets\n\n| scenario | target | Herald | compared with | ratio | holds |\n|---|---|---|---|---|---|\n")
	for _, sp := range specs {
		s := results[sp.ID]
		if s == nil {
			continue
		}
		for _, t := range sp.Targets {
			h, o, r, ok, skip := t.Check(servers3(s))
			if skip {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", sp.ID, t.Text, h, o, r, yesNo(ok))
		}
	}
	if len(micro) > 0 {
		var a, tr []string
		for _, mr := range micro {
			if mr.Pkg == "actors" && strings.HasPrefix(mr.Name, "Fanout/") {
				a = append(a, fmt.Sprintf("%s: %.0f", strings.TrimPrefix(mr.Name, "Fanout/"), mr.AllocsPerOp))
			}
			if mr.Pkg == "transport" && strings.HasPrefix(mr.Name, "FanoutSocket/") {
				tr = append(tr, fmt.Sprintf("%s: %.0f", strings.TrimPrefix(mr.Name, "FanoutSocket/"), mr.AllocsPerOp))
			}
		}
		fmt.Fprintf(&b, "| micro | fan-out allocations per publish do not grow with subscribers (actors, `BenchmarkFanout`) | %s | | | %s |\n",
			strings.Join(a, ", "), yesNo(constant(micro, "actors", "Fanout/")))
		fmt.Fprintf(&b, "| micro | the same through Herald's socket (transport, `BenchmarkFanoutSocket`) | %s | gws Broadcaster: see `FanoutBroadcaster` below | | %s |\n",
			strings.Join(tr, ", "), yesNo(constant(micro, "transport", "FanoutSocket/")))
	}
	b.WriteString("\n")

	for _, sp := range specs {
		s := results[sp.ID]
		if s == nil {
			continue
		}
		cols := []string{"herald", "baseline", "before"}
		labels := map[string]string{"herald": "Herald", "baseline": "baseline", "before": "before"}
		var shown []string
		for _, c := range cols {
			if len(s[c].Runs) > 0 {
				shown = append(shown, c)
			}
		}
		fmt.Fprintf(&b, "### %s\n\n```\n", sp.Title)
		for _, c := range shown {
			kind, extra := c, ""
			if c == "before" {
				kind, extra = "herald", " --bin HERALD_BEFORE"
			}
			fmt.Fprintf(&b, "%s%s\n", commandLine(sp.Cmd, append([]string{"--server", kind}, sp.Args...)), extra)
		}
		b.WriteString("```\n\n| metric |")
		for _, c := range shown {
			b.WriteString(" " + labels[c] + " |")
			if c != "herald" {
				b.WriteString(" Herald / " + labels[c] + " |")
			}
		}
		for _, c := range shown {
			b.WriteString(" " + labels[c] + " runs |")
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", 2*len(shown)-1+len(shown)) + "\n")
		for _, row := range sp.Rows {
			hv := s["herald"].median(row.Key)
			have := false
			for _, c := range shown {
				have = have || !math.IsNaN(s[c].median(row.Key))
			}
			if !have {
				continue
			}
			fmt.Fprintf(&b, "| %s |", row.Label)
			for _, c := range shown {
				v := s[c].median(row.Key)
				fmt.Fprintf(&b, " "+row.Fmt+" |", v)
				if c != "herald" {
					r := ""
					if v != 0 && !math.IsNaN(v) && !math.IsNaN(hv) {
						r = fmt.Sprintf("%.2f", hv/v)
					}
					b.WriteString(" " + r + " |")
				}
			}
			for _, c := range shown {
				b.WriteString(" " + s[c].values(row.Key, row.Fmt) + " |")
			}
			b.WriteString("\n")
		}
		for _, c := range shown {
			for _, e := range s[c].errors() {
				fmt.Fprintf(&b, "\n%s %s\n", labels[c], e)
			}
		}
		b.WriteString("\n")
	}

	if len(micro) > 0 {
		b.WriteString("### Go micro-benchmarks\n\n```\ngo test -run '^$' -bench . -benchmem ./pusher/ ./actors/ ./transport/\n```\n\n")
		if microErr != "" {
			fmt.Fprintf(&b, "**`go test -bench` did not pass**: %s. The benchmarks that ran:\n\n", microErr)
		}
		b.WriteString("| package | benchmark | ns/op | B/op | allocs/op | other |\n|---|---|---|---|---|---|\n")
		for _, mr := range micro {
			var extra []string
			for k, v := range mr.Extra {
				extra = append(extra, fmt.Sprintf("%.1f %s", v, k))
			}
			sort.Strings(extra)
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.0f | %s |\n", mr.Pkg, mr.Name, mr.NsPerOp, mr.BytesPerOp, mr.AllocsPerOp, strings.Join(extra, ", "))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func servers3(s map[string]*summary) servers {
	return servers{H: *s["herald"], B: *s["baseline"], P: *s["before"]}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// constant reports whether allocs/op of the sub-benchmarks under prefix
// are the same for every subscriber count.
func constant(micro []microResult, pkg, prefix string) bool {
	first, seen := 0.0, false
	for _, mr := range micro {
		if mr.Pkg != pkg || !strings.HasPrefix(mr.Name, prefix) {
			continue
		}
		if !seen {
			first, seen = mr.AllocsPerOp, true
		} else if mr.AllocsPerOp > first+1 {
			return false
		}
	}
	return seen
}
