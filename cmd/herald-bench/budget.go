package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// budget: where a held connection's memory goes. It runs the idle
// scenario against each server twice: once as the suite does, for RSS
// and the goroutine stacks (runtime.MemStats), and once with every
// allocation profiled (GODEBUG=memprofilerate=1, which itself costs RSS),
// for the live heap the connections added: the heap profile after them
// less the one before, both after a GC (go tool pprof -traces
// -diff_base), each allocation's stack sorted into the rows of
// budgetRules.

// budgetRule sorts an allocation into a row: the frame nearest the
// allocation that contains one of a rule's substrings decides, and of the
// rules matching that frame the first.
type budgetRule struct {
	Row   string
	Match []string
}

var budgetRules = []budgetRule{
	{"gws read buffer (bufio.Reader, websocket.read_buffer_size)", []string{"bufio.NewReaderSize"}},
	{"goroutine descriptor (g, allgs)", []string{"runtime.malg", "runtime.allgadd", "runtime.newproc1"}},
	{"timers (heartbeat, read deadline)", []string{"time.newTimer", "time.NewTimer", "time.AfterFunc", "runtime_pollSetDeadline"}},
	{"net: netFD, poll descriptor, addresses", []string{"net.newFD", "net.sockaddrToTCP", "internal/poll.", "net.(*netFD)", "net.(*TCPListener)"}},
	{"subscription entries, connection side", []string{"connectionActor).onSubscribe", "connectionActor).onJoined"}},
	{"subscription entries, channel side", []string{"channelActor).onJoin", "main.(*server).OnMessage"}},
	{"process registry, the app's child set", []string{"ProcessRegistryValue", "concurrent-map", "PIDSet", "addChild"}},
	{"connection actor: mailbox", []string{"internal/queue/", "Mailbox", "actor.init.Unbounded", "produceMailbox"}},
	{"connection actor: actor, context, process", []string{"protoactor-go/actor.", "herald/actors."}},
	{"Herald socket (transport)", []string{"herald/transport."}},
	{"gws.Conn, its session", []string{"lxzan/gws."}},
	{"baseline's per-socket state", []string{"main.(*server)", "main.newServer"}},
	{"net/http (upgrade)", []string{"net/http."}},
}

const budgetOther = "other"

func runBudget(args []string) error {
	fs := flag.NewFlagSet("budget", flag.ContinueOnError)
	conns := fs.Int("conns", 15000, "connections the idle runs hold")
	dir := fs.String("dir", filepath.Join(os.TempDir(), "herald-bench-budget"), "where the runs' heap profiles go")
	before := fs.String("before-bin", "", "also a Herald binary built from an earlier commit (column \"before\")")
	binDir := fs.String("bin-dir", "", "where to build the servers (default a temp directory)")
	verbose := fs.Bool("v", false, "list the stacks left in \"other\"")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	type column struct{ name, kind, bin string }
	var cols []column
	for _, k := range []string{"herald", "baseline"} {
		b, err := buildServer(k, *binDir)
		if err != nil {
			return err
		}
		cols = append(cols, column{k, k, b})
	}
	if *before != "" {
		cols = append(cols, column{"before", "herald", *before})
	}
	rows := map[string]map[string]float64{} // row → column → bytes per connection
	res := map[string]*result{}
	others := map[string][]string{}
	for _, c := range cols {
		fmt.Fprintf(os.Stderr, "budget: idle --server %s (%s), %d connections … ", c.kind, c.name, *conns)
		plain, err := runChild(exe, root, []string{"idle", "--server", c.kind, "--bin", c.bin, "--conns", strconv.Itoa(*conns),
			"--procs", "2", "--json", "--quiet"})
		if err == nil && len(plain.Errors) > 0 {
			err = fmt.Errorf("%v", plain.Errors)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Fprintf(os.Stderr, "%.2f KiB per connection; again, every allocation profiled … ", plain.Metrics["rss_per_conn_kib"])
		res[c.name] = plain
		pd := filepath.Join(*dir, c.name)
		_ = os.RemoveAll(pd) // the previous run's profiles
		r, err := runChild(exe, root, []string{"idle", "--server", c.kind, "--bin", c.bin, "--conns", strconv.Itoa(*conns),
			"--procs", "2", "--json", "--quiet", "--profile", pd, "--server-env", "GODEBUG=memprofilerate=1"})
		if err == nil && len(r.Errors) > 0 {
			err = fmt.Errorf("%v", r.Errors)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Fprintf(os.Stderr, "done\n")
		var after, base string
		for _, p := range r.Profiles {
			switch {
			case strings.HasSuffix(p, "-heap-before.pprof"):
				base = p
			case strings.HasSuffix(p, "-heap.pprof"):
				after = p
			}
		}
		if after == "" || base == "" {
			return fmt.Errorf("%s: the idle run wrote no heap profiles (%v)", c.name, r.Profiles)
		}
		byRow, other, err := classifyHeap(after, base)
		if err != nil {
			return err
		}
		n := r.Metrics["subscribed"]
		for row, v := range byRow {
			if rows[row] == nil {
				rows[row] = map[string]float64{}
			}
			rows[row][c.name] = v / n
		}
		others[c.name] = other
	}
	var names []string
	for _, c := range cols {
		names = append(names, c.name)
	}
	fmt.Print(budgetMarkdown(names, rows, res))
	if *verbose {
		for _, c := range cols {
			fmt.Printf("\n%s, largest stacks in \"%s\":\n", c.name, budgetOther)
			for _, o := range others[c.name] {
				fmt.Println("  " + o)
			}
		}
	}
	return nil
}

// classifyHeap sums the live bytes of heap profile after, less base, per
// row; other lists the largest stacks no rule matched.
func classifyHeap(after, base string) (map[string]float64, []string, error) {
	cmd := exec.Command("go", "tool", "pprof", "-sample_index=inuse_space", "-traces", "-diff_base", base, after)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go tool pprof %s: %w: %s", after, err, lastLines(stderr.String(), 5))
	}
	rows := map[string]float64{}
	type stack struct {
		v     float64
		frame string
	}
	otherBy := map[string]float64{} // the base's samples come negated: summed per stack they cancel
	var frames []string
	var value float64
	flush := func() {
		if len(frames) == 0 {
			return
		}
		row := budgetOther
	frames:
		for _, f := range frames { // from the allocation outwards: the nearest frame a rule knows decides
			for _, r := range budgetRules {
				for _, m := range r.Match {
					if strings.Contains(f, m) {
						row = r.Row
						break frames
					}
				}
			}
		}
		rows[row] += value
		if row == budgetOther {
			otherBy[strings.Join(frames[:min(4, len(frames))], " ← ")] += value
		}
		frames, value = nil, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	inBlock := false // the header (File:, Type:, …) comes before the first separator
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "-----------+"):
			flush()
			inBlock = true
		case !inBlock || t == "" || strings.HasPrefix(t, "bytes:"):
		case len(frames) == 0: // "  669.43kB   internal/poll.runtime_pollSetDeadline"
			f := strings.Fields(t)
			if len(f) < 2 {
				continue
			}
			if v, ok := parseBytes(f[0]); ok {
				value = v
				frames = append(frames, strings.Join(f[1:], " "))
			}
		default:
			frames = append(frames, t)
		}
	}
	flush()
	var other []stack
	for f, v := range otherBy {
		if v != 0 {
			other = append(other, stack{v, f})
		}
	}
	sort.Slice(other, func(i, j int) bool { return other[i].v > other[j].v })
	var top []string
	for _, o := range other[:min(12, len(other))] {
		top = append(top, fmt.Sprintf("%8.0f B  %s", o.v, o.frame))
	}
	return rows, top, nil
}

// parseBytes reads pprof's byte figures: 0, 96B, 1.12kB, -15.5MB (units
// of 1024).
func parseBytes(s string) (float64, bool) {
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	return v * mult, err == nil
}

func budgetMarkdown(cols []string, rows map[string]map[string]float64, res map[string]*result) string {
	var b strings.Builder
	b.WriteString("| per connection (bytes) |")
	for _, c := range cols {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	line := func(label string, v func(c string) (float64, bool)) {
		b.WriteString("| " + label + " |")
		for _, c := range cols {
			if x, ok := v(c); ok {
				fmt.Fprintf(&b, " %.0f |", x)
			} else {
				b.WriteString(" – |")
			}
		}
		b.WriteString("\n")
	}
	metric := func(k string) func(c string) (float64, bool) {
		return func(c string) (float64, bool) {
			x, ok := res[c].Metrics[k]
			return x * 1024, ok
		}
	}
	line("read goroutine stack (runtime: StackInuse)", metric("stack_per_conn_kib"))
	names := append([]string(nil), func() []string {
		var o []string
		for _, r := range budgetRules {
			o = append(o, r.Row)
		}
		return o
	}()...)
	names = append(names, budgetOther)
	sum := map[string]float64{}
	for _, row := range names {
		if rows[row] == nil {
			continue
		}
		line(row, func(c string) (float64, bool) {
			x, ok := rows[row][c]
			sum[c] += x
			return x, ok
		})
	}
	line("**live heap**: the heap rows above (heap profile, after a GC)", func(c string) (float64, bool) { return sum[c], true })
	line("live heap per the runtime (HeapAlloc after a GC)", metric("live_heap_per_conn_kib"))
	line("GC headroom, fragmentation, free pages (RSS − live heap − stack)", func(c string) (float64, bool) {
		m := res[c].Metrics
		return 1024 * (m["rss_per_conn_kib"] - m["live_heap_per_conn_kib"] - m["stack_per_conn_kib"]), true
	})
	line("**marginal RSS**", metric("rss_per_conn_kib"))
	line("marginal RSS after GC + FreeOSMemory", metric("rss_floor_per_conn_kib"))
	return b.String()
}
