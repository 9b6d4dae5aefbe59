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

// suiteSpec is one scenario of the suite: a command line run against both
// servers, the rows it shows, and the targets it checks.
type suiteSpec struct {
	ID      string
	Title   string
	Cmd     string
	Args    []string
	Rows    []suiteRow
	Targets []suiteTarget
}

type suiteRow struct {
	Key, Label, Fmt string
}

// suiteTarget is checked on the medians (m[server][metric]) and on every
// run (for counts that must be zero in all of them).
type suiteTarget struct {
	Text  string
	Check func(h, b summary) (herald, baseline, ratio string, ok bool)
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

func ratioCheck(key, f string, limit float64, le bool) func(h, b summary) (string, string, string, bool) {
	return func(h, b summary) (string, string, string, bool) {
		hv, bv := h.median(key), b.median(key)
		r := hv / bv
		ok := r <= limit
		if !le {
			ok = r >= limit
		}
		return fmt.Sprintf(f, hv), fmt.Sprintf(f, bv), fmt.Sprintf("%.2f", r), ok && !math.IsNaN(r)
	}
}

func absCheck(key, f string, limit float64) func(h, b summary) (string, string, string, bool) {
	return func(h, b summary) (string, string, string, bool) {
		hv, bv := h.median(key), b.median(key)
		return fmt.Sprintf(f, hv), fmt.Sprintf(f, bv), fmt.Sprintf("%.2f", hv/bv), hv <= limit
	}
}

// zeroCheck: the metrics are 0 in every Herald run.
func zeroCheck(keys ...string) func(h, b summary) (string, string, string, bool) {
	return func(h, b summary) (string, string, string, bool) {
		var hs, bs []string
		ok := true
		for _, k := range keys {
			hm, bm := h.max(k), b.max(k)
			hs = append(hs, fmt.Sprintf("%.0f", hm))
			bs = append(bs, fmt.Sprintf("%.0f", bm))
			ok = ok && hm == 0
		}
		return strings.Join(hs, " / "), strings.Join(bs, " / "), "", ok && len(h.Runs) > 0
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
}

func suiteSpecs(quick bool) []suiteSpec {
	d := func(long, short string) string {
		if quick {
			return short
		}
		return long
	}
	return []suiteSpec{
		{
			ID: "fanout-2k", Title: "fanout: 2 000 subscribers over 10 channels, 200 events/s (40 000 deliveries/s)",
			Cmd: "fanout", Args: []string{"--conns", "2000", "--channels", "10", "--rate", "200", "--duration", d("10s", "3s")},
			Rows: fanoutRows,
			Targets: []suiteTarget{
				{"server CPU per delivery ≤ 1.15 × baseline", ratioCheck("server_cpu_us_per_delivery", "%.2f µs", 1.15, true)},
				{"p99 delivery ≤ 10 ms", absCheck("lat_p99_ms", "%.2f ms", 10)},
				{"no missing or duplicate deliveries (every run)", zeroCheck("missing", "duplicates")},
			},
		},
		{
			ID: "fanout-10k", Title: "fanout: 10 000 subscribers on one channel, 5 events/s",
			Cmd: "fanout", Args: []string{"--conns", "10000", "--channels", "1", "--rate", "5", "--duration", d("12s", "4s")},
			Rows: fanoutRows,
			Targets: []suiteTarget{
				{"p99 delivery ≤ 1.2 × baseline", ratioCheck("lat_p99_ms", "%.1f ms", 1.2, true)},
				{"no missing deliveries (every run)", zeroCheck("missing")},
			},
		},
		{
			ID: "fanout-1000ch", Title: "fanout: 1 000 channels × 10 subscribers, 2 000 events/s spread over the channels",
			Cmd: "fanout", Args: []string{"--conns", "10000", "--channels", "1000", "--rate", "2000", "--duration", d("10s", "3s")},
			Rows: fanoutRows,
			Targets: []suiteTarget{
				{"p99 delivery ≤ 20 ms", absCheck("lat_p99_ms", "%.2f ms", 20)},
				{"no missing deliveries (every run)", zeroCheck("missing")},
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
				{"goroutines_per_conn", "goroutines per connection", "%.3f"},
				{"server_rss_start_mib", "server RSS fresh (MiB)", "%.1f"},
				{"server_rss_mib", "server RSS with the connections (MiB)", "%.1f"},
				{"connects_per_s", "connects+subscribes/s", "%.0f"},
				{"server_idle_cpu_pct", "server CPU while held (% of a core)", "%.2f"},
			},
			Targets: []suiteTarget{
				{"marginal RSS ≤ 7 KiB per connection", absCheck("rss_per_conn_kib", "%.2f KiB", 7)},
				{"one goroutine per socket (its read loop; idle actors have none)", absCheck("goroutines_per_conn", "%.3f", 1.01)},
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
				{"server CPU per connection ≤ 1.2 × baseline", ratioCheck("server_cpu_us_per_conn", "%.1f µs", 1.2, true)},
				{"RSS back within 5 % of the start", absCheck("rss_end_ratio", "%.3f", 1.05)},
				{"goroutines back within 5 % of the start", absCheck("goroutines_end_ratio", "%.3f", 1.05)},
			},
		},
		{
			ID: "publish", Title: "publish: HTTP API requests/s to a channel with 10 subscribers (16 requests in flight)",
			Cmd: "publish", Args: []string{"--subs", "10", "--concurrency", "16", "--duration", d("10s", "3s")},
			Rows: []suiteRow{
				{"requests_per_s", "API requests/s", "%.0f"},
				{"publish_p50_ms", "request latency p50 (ms)", "%.2f"},
				{"publish_p99_ms", "request latency p99 (ms)", "%.2f"},
				{"server_cpu_us_per_request", "server CPU per request (µs)", "%.1f"},
				{"server_cpu_pct", "server CPU (% of a core)", "%.1f"},
				{"client_cpu_pct", "generator CPU (% of a core)", "%.1f"},
				{"missing", "missing deliveries", "%.0f"},
				{"publish_errors", "request errors", "%.0f"},
			},
			Targets: []suiteTarget{
				{"requests/s ≥ 0.9 × baseline", ratioCheck("requests_per_s", "%.0f/s", 0.9, false)},
			},
		},
	}
}

func runSuite(args []string) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	runs := fs.Int("runs", 3, "runs per server per scenario (alternating herald and baseline)")
	out := fs.String("out", "BENCHMARKS.md", "markdown file whose generated section is replaced (created if missing)")
	raw := fs.String("raw", "bench/results/last-suite.json", "every run's full result as JSON (\"\" for none)")
	only := fs.String("only", "", "comma-separated scenario ids to run (fanout-2k, fanout-10k, fanout-1000ch, idle-15k, churn-500, publish, micro)")
	quick := fs.Bool("quick", false, "short runs (a smoke test of the suite, not numbers to publish)")
	profile := fs.String("profile", "", "directory for the servers' CPU (and heap) profiles of every run")
	binDir := fs.String("bin-dir", "", "where to build the servers (default a temp directory)")
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
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	started := time.Now()
	specs := suiteSpecs(*quick)
	results := map[string]map[string]*summary{}
	var all []*result
	total := 0
	for _, sp := range specs {
		if len(want) == 0 || want[sp.ID] {
			total += 2 * *runs
		}
	}
	n := 0
	for _, sp := range specs {
		if len(want) > 0 && !want[sp.ID] {
			continue
		}
		results[sp.ID] = map[string]*summary{"herald": {}, "baseline": {}}
		for run := 0; run < *runs; run++ {
			order := []string{"herald", "baseline"}
			if run%2 == 1 {
				order = []string{"baseline", "herald"}
			}
			for _, kind := range order {
				n++
				args := append([]string{sp.Cmd, "--server", kind, "--bin", bins[kind], "--json", "--quiet"}, sp.Args...)
				if *profile != "" {
					args = append(args, "--profile", filepath.Join(*profile, fmt.Sprintf("%s-run%d", sp.ID, run+1)))
				}
				fmt.Fprintf(os.Stderr, "suite [%d/%d] %s %s run %d … ", n, total, sp.ID, kind, run+1)
				t0 := time.Now()
				res, err := runChild(exe, root, args)
				if err != nil {
					fmt.Fprintf(os.Stderr, "FAILED after %.0fs: %v\n", time.Since(t0).Seconds(), err)
					res = &result{Scenario: sp.Cmd, Server: kind, Metrics: map[string]float64{}, Errors: []string{err.Error()}}
				} else {
					fmt.Fprintf(os.Stderr, "%.0fs %s\n", time.Since(t0).Seconds(), headline(sp, res))
				}
				res.Command = commandLine(sp.Cmd, append([]string{"--server", kind}, sp.Args...))
				results[sp.ID][kind].Runs = append(results[sp.ID][kind].Runs, res)
				all = append(all, res)
			}
		}
	}
	var micro []microResult
	if len(want) == 0 || want["micro"] {
		fmt.Fprintf(os.Stderr, "suite: go test -bench (pusher, actors, transport) … ")
		t0 := time.Now()
		micro, err = runMicro(root, *quick)
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAILED: %v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "%.0fs\n", time.Since(t0).Seconds())
		}
	}
	md := suiteMarkdown(specs, results, micro, *runs, *quick, started, time.Since(started))
	if *raw != "" {
		if err := os.MkdirAll(filepath.Dir(*raw), 0o755); err == nil {
			b, _ := json.MarshalIndent(map[string]any{"started": started, "runs": all, "micro": micro}, "", "  ")
			_ = os.WriteFile(*raw, b, 0o644)
		}
	}
	if err := replaceSection(*out, md); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "suite: done in %s; wrote %s\n", time.Since(started).Round(time.Second), *out)
	fmt.Print(md)
	return nil
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
func runChild(exe, dir string, args []string) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
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
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, lastLines(string(outb), 10))
	}
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
	return res, nil
}

const (
	sectionBegin = "<!-- herald-bench suite: begin (generated by `go run ./cmd/herald-bench suite`; edits inside are overwritten) -->"
	sectionEnd   = "<!-- herald-bench suite: end -->"
)

func replaceSection(file, md string) error {
	block := sectionBegin + "\n" + md + sectionEnd + "\n"
	old, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, sectionBegin), strings.Index(s, sectionEnd)
	switch {
	case i >= 0 && j > i:
		s = s[:i] + block + strings.TrimPrefix(s[j+len(sectionEnd):], "\n")
	case len(s) == 0:
		s = "# Herald benchmarks\n\n" + block
	default:
		s = strings.TrimRight(s, "\n") + "\n\n" + block
	}
	return os.WriteFile(file, []byte(s), 0o644) //nolint:gosec // G703: the --out file the user asked for
}

func suiteMarkdown(specs []suiteSpec, results map[string]map[string]*summary, micro []microResult, runs int, quick bool, started time.Time, took time.Duration) string {
	var b strings.Builder
	m := describeMachine()
	gmp := m.GOMAXPROCS
	for _, sp := range specs {
		if s := results[sp.ID]; s != nil && len(s["herald"].Runs) > 0 && s["herald"].Runs[0].Machine.GOMAXPROCS != "" {
			gmp = s["herald"].Runs[0].Machine.GOMAXPROCS
			break
		}
	}
	fmt.Fprintf(&b, "Generated %s by `go run ./cmd/herald-bench suite` in %s", started.UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second))
	if quick {
		b.WriteString(" (**--quick: smoke-test durations, not numbers to quote**)")
	}
	fmt.Fprintf(&b, ".\n\nMachine: %s, %d cores, %d GiB, Linux %s, %s; GOMAXPROCS: %s; fd limit %d. "+
		"Server and load generator share the machine's cores. Each scenario ran %d times against each server, alternating "+
		"(herald, baseline / baseline, herald / …), each run on a freshly started server process; the tables give the **median** "+
		"of the runs and, in the last columns, every run.\n\n",
		m.CPU, m.Cores, m.MemGiB, m.Kernel, m.Go, gmp, m.FDLimit, runs)

	b.WriteString("### Targets\n\n| scenario | target | Herald | baseline | ratio | holds |\n|---|---|---|---|---|---|\n")
	for _, sp := range specs {
		s := results[sp.ID]
		if s == nil {
			continue
		}
		for _, t := range sp.Targets {
			h, bl, r, ok := t.Check(*s["herald"], *s["baseline"])
			mark := "**no**"
			if ok {
				mark = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", sp.ID, t.Text, h, bl, r, mark)
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
		fmt.Fprintf(&b, "| micro | the same through the gws socket (transport, `BenchmarkFanoutSocket`) | %s | see `FanoutBroadcaster` below | | %s |\n",
			strings.Join(tr, ", "), yesNo(constant(micro, "transport", "FanoutSocket/")))
	}
	b.WriteString("\n")

	for _, sp := range specs {
		s := results[sp.ID]
		if s == nil {
			continue
		}
		h, bl := *s["herald"], *s["baseline"]
		fmt.Fprintf(&b, "### %s\n\n", sp.Title)
		fmt.Fprintf(&b, "```\n%s\n%s\n```\n\n", commandLine(sp.Cmd, append([]string{"--server", "herald"}, sp.Args...)),
			commandLine(sp.Cmd, append([]string{"--server", "baseline"}, sp.Args...)))
		b.WriteString("| metric | Herald | baseline | Herald / baseline | Herald runs | baseline runs |\n|---|---|---|---|---|---|\n")
		for _, row := range sp.Rows {
			hv, bv := h.median(row.Key), bl.median(row.Key)
			if math.IsNaN(hv) && math.IsNaN(bv) {
				continue
			}
			ratio := ""
			if bv != 0 && !math.IsNaN(hv) && !math.IsNaN(bv) {
				ratio = fmt.Sprintf("%.2f", hv/bv)
			}
			fmt.Fprintf(&b, "| %s | "+row.Fmt+" | "+row.Fmt+" | %s | %s | %s |\n", row.Label, hv, bv, ratio,
				h.values(row.Key, row.Fmt), bl.values(row.Key, row.Fmt))
		}
		for _, e := range h.errors() {
			fmt.Fprintf(&b, "\nHerald %s\n", e)
		}
		for _, e := range bl.errors() {
			fmt.Fprintf(&b, "\nbaseline %s\n", e)
		}
		b.WriteString("\n")
	}

	if len(micro) > 0 {
		b.WriteString("### Go micro-benchmarks\n\n```\ngo test -run '^$' -bench . -benchmem ./pusher/ ./actors/ ./transport/\n```\n\n")
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
