package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A run measures a fleet: one server (--nodes 1, the default), or, with
// --nodes N > 1 and --server herald, a Herald cluster this tool starts on
// loopback: Debian's etcd on free ports with a temporary data directory,
// and N bench/heraldsrv processes joined through it
// (HERALD_CLUSTER_PROVIDER=etcd). Every process is stopped by its PID at
// the end, and dies with this one (Pdeathsig).

// etcdBin is Debian's etcd-server (apt-get install etcd-server).
const etcdBin = "/usr/bin/etcd"

// clusterName is HERALD_CLUSTER_NAME of the nodes; the etcd is this run's
// own, so nothing else registers there.
const clusterName = "herald-bench"

// clusterWait bounds the start of one cluster node (its etcd check, its
// membership and its listeners).
const clusterWait = 30 * time.Second

// fleet is the servers of a run.
type fleet struct {
	nodes []*server // nodes[0] is the run's r.srv
	etcd  *etcdProc // nil for a single server
}

// startFleet starts one server as startServer does, or, for nodes > 1,
// etcd and nodes Herald servers, in parallel, each waited for on /readyz,
// then waits until etcd lists every node.
func startFleet(ctx context.Context, o serverOpts, nodes int) (*fleet, error) {
	if nodes <= 1 {
		s, err := startServer(ctx, o)
		if err != nil {
			return nil, err
		}
		return &fleet{nodes: []*server{s}}, nil
	}
	if o.Kind != "herald" {
		return nil, fmt.Errorf("--nodes %d needs --server herald (a cluster this tool starts)", nodes)
	}
	bin := o.Bin
	if bin == "" {
		var err error
		if bin, err = buildServer(o.Kind, ""); err != nil {
			return nil, err
		}
	}
	e, err := startEtcd(ctx)
	if err != nil {
		return nil, err
	}
	f := &fleet{etcd: e, nodes: make([]*server, nodes)}
	no := o
	no.Env = append([]string{
		"HERALD_CLUSTER_PROVIDER=etcd", "HERALD_CLUSTER_ETCD_ENDPOINTS=" + e.Client,
		"HERALD_CLUSTER_NAME=" + clusterName, "HERALD_CLUSTER_LISTEN=127.0.0.1:0",
	}, o.Env...) // --server-env comes last: it may override these
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range f.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A node binds its listeners only after joining (≈ 1 s), while
			// the others open connections: ports from listen(":0") are in
			// the ephemeral range those connections use, so a node's ports
			// come from below it (stablePorts), and a clash is retried.
			for try := 1; ; try++ {
				ports, err := stablePorts(3)
				if err != nil {
					errs[i] = fmt.Errorf("node %d: %w", i+1, err)
					return
				}
				f.nodes[i], err = launchServer(ctx, bin, no, ports, "/readyz", clusterWait)
				if err == nil {
					return
				}
				if try < 3 && strings.Contains(err.Error(), "address already in use") {
					continue
				}
				errs[i] = fmt.Errorf("node %d: %w", i+1, err)
				return
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.Stop()
		return nil, err
	}
	for _, s := range f.nodes {
		for _, a := range []string{s.WS, s.API, s.Debug} {
			if err := checkLoopback(a); err != nil {
				f.Stop()
				return nil, err
			}
		}
	}
	// /readyz is 200 once a node has registered; the others learn of it
	// through their etcd watch. Wait until etcd lists all of them, then a
	// moment for the watches, so that subscribers meet one topology.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := e.countKeys("/herald/" + clusterName + "/")
		if err == nil && n == nodes {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			f.Stop()
			if err != nil {
				return nil, fmt.Errorf("cannot count the nodes in etcd after 10s: %w", err)
			}
			return nil, fmt.Errorf("etcd lists %d of %d nodes after 10s", n, nodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	return f, nil
}

// Stop stops every node (in parallel: a cluster node's graceful leave
// takes a moment), then etcd.
func (f *fleet) Stop() {
	var wg sync.WaitGroup
	for _, s := range f.nodes {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Stop()
		}()
	}
	wg.Wait()
	if f.etcd != nil {
		f.etcd.Stop()
	}
}

// Sample reads every node: CPU, RSS and threads summed.
func (f *fleet) Sample() procSample { return sumSamples(f.Samples()) }

// Samples reads every node separately.
func (f *fleet) Samples() []procSample {
	out := make([]procSample, len(f.nodes))
	for i, s := range f.nodes {
		out[i] = s.Sample()
	}
	return out
}

// Dead names the processes of the fleet that are no longer running.
func (f *fleet) Dead() []string {
	var out []string
	for i, s := range f.nodes {
		if !s.Alive() {
			if len(f.nodes) == 1 {
				out = append(out, "the server")
			} else {
				out = append(out, fmt.Sprintf("node %d (pid %d)", i+1, s.PID))
			}
		}
	}
	if f.etcd != nil && !f.etcd.Alive() {
		out = append(out, fmt.Sprintf("etcd (pid %d)", f.etcd.PID))
	}
	return out
}

// stablePorts returns n distinct free loopback ports below the ephemeral
// range (net.ipv4.ip_local_port_range), which outgoing connections and
// listen(":0") never take; freePorts' ports when that range leaves no room.
func stablePorts(n int) ([]string, error) {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	const base = 10000
	if lo-base < 1000 {
		return freePorts(n)
	}
	portMu.Lock()
	defer portMu.Unlock()
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			_ = l.Close() // held only to pick distinct free ports
		}
	}()
	if nextPort < base { // first use: a random start, so two runs at once rarely meet
		nextPort = base + rand.IntN(lo-base) //nolint:gosec // G404: spreads test ports, nothing secret
	}
	for tries := 0; len(out) < n && tries < 1000; tries++ {
		nextPort = base + (nextPort-base+1+rand.IntN(97))%(lo-base) //nolint:gosec // G404: spreads test ports, nothing secret
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(nextPort))
		if err != nil {
			continue
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	if len(out) < n {
		return nil, fmt.Errorf("no %d free loopback ports between %d and %d", n, base, lo)
	}
	return out, nil
}

// portMu and nextPort make stablePorts' callers in one process walk the
// range without handing out a port twice.
var (
	portMu   sync.Mutex
	nextPort int
)

// etcdProc is the etcd this tool started.
type etcdProc struct {
	Client string // host:port of its client URL
	PID    int
	cmd    *exec.Cmd
	dir    string // data directory, removed at Stop
	log    *os.File
	done   chan error
}

// startEtcd runs a one-member etcd on free loopback ports with a
// temporary data directory and waits (20s at most) for its /health.
func startEtcd(ctx context.Context) (*etcdProc, error) {
	if _, err := os.Stat(etcdBin); err != nil {
		return nil, fmt.Errorf("a cluster needs Debian's etcd at %s (apt-get install etcd-server): %w", etcdBin, err)
	}
	ports, err := stablePorts(2)
	if err != nil {
		return nil, err
	}
	for _, a := range ports {
		if err := checkLoopback(a); err != nil {
			return nil, err
		}
	}
	client, peer := ports[0], ports[1]
	e := &etcdProc{Client: client, done: make(chan error, 1)}
	if e.dir, err = os.MkdirTemp("", "herald-bench-etcd-*"); err != nil {
		return nil, err
	}
	if e.log, err = os.CreateTemp("", "herald-bench-etcd-*.log"); err != nil {
		_ = os.RemoveAll(e.dir)
		return nil, err
	}
	e.cmd = exec.Command(etcdBin, "--name", clusterName, "--data-dir", e.dir,
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", clusterName+"=http://"+peer, "--initial-cluster-state", "new")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") { // etcd reads its flags from ETCD_*: ours only
			e.cmd.Env = append(e.cmd.Env, kv)
		}
	}
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		e.cleanup()
		return nil, err
	}
	e.PID = e.cmd.Process.Pid
	go func() { e.done <- e.cmd.Wait() }()
	c := http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := c.Get("http://" + client + "/health"); err == nil {
			_ = res.Body.Close() // only the status matters
			if res.StatusCode == http.StatusOK {
				return e, nil
			}
		}
		select {
		case err := <-e.done:
			e.done <- err
			if err == nil {
				err = errors.New("exit status 0")
			}
			msg := fmt.Errorf("etcd exited at start: %w; log:\n%s", err, tail(e.log.Name()))
			e.Stop()
			return nil, msg
		default:
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			msg := fmt.Errorf("etcd did not answer /health within 20s; log:\n%s", tail(e.log.Name()))
			e.Stop()
			return nil, msg
		}
	}
}

// countKeys counts etcd's keys under prefix, through its v3 JSON gateway.
func (e *etcdProc) countKeys(prefix string) (int, error) {
	end := []byte(prefix)
	end[len(end)-1]++ // the prefix's range end: its last byte + 1 (prefix ends in '/')
	body, _ := json.Marshal(map[string]any{
		"key":        base64.StdEncoding.EncodeToString([]byte(prefix)),
		"range_end":  base64.StdEncoding.EncodeToString(end),
		"count_only": true,
	})
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Post("http://"+e.Client+"/v3/kv/range", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("etcd range: %s", res.Status)
	}
	var out struct {
		Count json.RawMessage `json:"count"` // an int64: a JSON string, absent when 0
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return 0, err
	}
	if len(out.Count) == 0 {
		return 0, nil
	}
	return strconv.Atoi(strings.Trim(string(out.Count), `"`))
}

// Stop ends etcd by its PID: SIGTERM, then SIGKILL after 5s; then
// removes its data directory and log.
func (e *etcdProc) Stop() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		var exit error
		select {
		case exit = <-e.done:
		case <-time.After(5 * time.Second):
			_ = e.cmd.Process.Kill()
			exit = <-e.done
		}
		_ = exit // the status our signal caused: nothing to report
		e.cmd = nil
	}
	e.cleanup()
}

func (e *etcdProc) cleanup() {
	if e.log != nil {
		_ = e.log.Close() // a temporary file, read only when etcd fails to start
		_ = os.Remove(e.log.Name())
		e.log = nil
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
		e.dir = ""
	}
}

// Alive reports whether etcd still runs.
func (e *etcdProc) Alive() bool {
	select {
	case err := <-e.done:
		e.done <- err
		return false
	default:
	}
	return syscall.Kill(e.PID, 0) == nil
}
