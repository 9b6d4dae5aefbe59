package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/webhooks"
)

// The cluster as an operator runs it: Debian's etcd and separate herald
// processes on loopback, driven by raw Pusher clients and the signed API.

const etcdBin = "/usr/bin/etcd" // Debian's etcd-server, installed by scripts/test

// freePort returns a free loopback port.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a process this test started; Cleanup stops it by PID.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func (p *proc) Write(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.out.Write(b) }
func (p *proc) output() string              { p.mu.Lock(); defer p.mu.Unlock(); return p.out.String() }

func startProc(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }() // owned by proc: ends with the process
	t.Cleanup(func() {                     // stops it by PID: SIGTERM, then SIGKILL after 10s
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		kill := time.AfterFunc(10*time.Second, func() { _ = p.cmd.Process.Kill() })
		defer kill.Stop()
		if err := <-p.done; err != nil {
			t.Logf("%s stopped: %v", filepath.Base(p.cmd.Path), err)
		}
	})
	return p
}

// startEtcd runs Debian's etcd on free loopback ports with a temp data dir
// and returns its client endpoint (host:port).
func startEtcd(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(etcdBin); err != nil {
		t.Fatalf("%s is missing: install Debian's etcd-server (scripts/test does)", etcdBin)
	}
	client, peer := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProc(t, nil, etcdBin, "--name", "herald-test", "--data-dir", t.TempDir(),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "herald-test=http://"+peer)
	waitHTTP(t, "http://"+client+"/health", p)
	return client
}

// waitHTTP waits until url answers 200, or fails with p's output.
func waitHTTP(t *testing.T, url string, p *proc) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(url); err == nil { //nolint:gosec // G107: a loopback URL this test made
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			p.done <- err // for the cleanup, which waits for it
			t.Fatalf("%s exited (%v) before %s answered:\n%s", p.cmd.Path, err, url, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 20s:\n%s", url, p.output())
		}
	}
}

func buildHerald(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "herald")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/herald").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// node is one herald process of the cluster.
type node struct {
	p       *proc
	ws      string // ws://host:port
	cluster string // its inter-node address
	api     pushertest.API
}

// grainOwner is the cluster address that owns the channel grain of
// channel among addrs: Proto.Actor's rendezvous hashing over the members'
// addresses, as disthash computes it.
func grainOwner(channel string, addrs []string) string {
	var members cluster.Members
	for _, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		var p int32
		_, _ = fmt.Sscan(port, &p)
		members = append(members, &cluster.Member{Host: host, Port: p, Kinds: []string{actors.GrainKind}})
	}
	rdv := cluster.NewRendezvous()
	rdv.UpdateMembers(members)
	return rdv.GetByIdentity(actors.GrainKind + "/" + app1.Key + "/" + channel)
}

func startNode(t *testing.T, bin, etcd string) *node {
	t.Helper()
	ws, apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	clusterAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProc(t, []string{
		"HERALD_CLUSTER_PROVIDER=etcd", "HERALD_CLUSTER_ETCD_ENDPOINTS=" + etcd, "HERALD_CLUSTER_NAME=e2e",
		"HERALD_CLUSTER_LISTEN=" + clusterAddr,
		"HERALD_WEBSOCKET_LISTEN=" + ws, "HERALD_API_LISTEN=" + apiAddr,
		"HERALD_APP_ID=" + app1.ID, "HERALD_APP_KEY=" + app1.Key, "HERALD_APP_SECRET=" + app1.Secret,
		"HERALD_APP_CLIENT_EVENTS=true",
	}, bin)
	waitHTTP(t, "http://"+apiAddr+"/readyz", p)
	return &node{p: p, ws: "ws://" + ws, cluster: clusterAddr,
		api: pushertest.API{T: t, Base: "http://" + apiAddr, ID: app1.ID, Key: app1.Key, Secret: app1.Secret}}
}

func (n *node) connect(t *testing.T) *pushertest.Client {
	return pushertest.Connect(t, n.ws, app1.Key, app1.Secret)
}

func presenceIDs(t *testing.T, c *pushertest.Client, f map[string]any) []string {
	var d struct {
		Presence struct {
			IDs []string `json:"ids"`
		} `json:"presence"`
	}
	c.DataJSON(f, &d)
	return d.Presence.IDs
}

func TestClusterOfThreeProcesses(t *testing.T) {
	etcd := startEtcd(t)
	bin := buildHerald(t)

	// A node that cannot reach etcd says so and exits, after a bounded wait.
	func() {
		dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = append(os.Environ(), "HERALD_CLUSTER_PROVIDER=etcd", "HERALD_CLUSTER_ETCD_ENDPOINTS="+dead,
			fmt.Sprintf("HERALD_WEBSOCKET_LISTEN=127.0.0.1:%d", freePort(t)), fmt.Sprintf("HERALD_API_LISTEN=127.0.0.1:%d", freePort(t)))
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err == nil || ctx.Err() != nil || !strings.Contains(string(out), dead) {
			t.Fatalf("unreachable etcd: err %v after %s, output:\n%s", err, time.Since(start), out)
		}
		t.Logf("unreachable etcd: exit after %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
	}()

	started := []*node{startNode(t, bin, etcd), startNode(t, bin, etcd), startNode(t, bin, etcd)}
	// C, the node this test kills, owns presence-room's grain (which the
	// survivors rebuild from their re-syncs); presence-hall's grain is on
	// another node (which only drops C's contribution).
	addrs := []string{started[0].cluster, started[1].cluster, started[2].cluster}
	owner := grainOwner("presence-room", addrs)
	for started[2].cluster != owner {
		started = append(started[1:], started[0])
	}
	a, b, c := started[0], started[1], started[2]
	hall := "presence-hall"
	for i := 0; grainOwner(hall, addrs) == c.cluster; i++ {
		hall = fmt.Sprintf("presence-hall-%d", i)
	}

	// A trigger on any node reaches every subscriber on every node once,
	// in order.
	ca, cb := a.connect(t), b.connect(t)
	ca.Subscribe("news")
	cb.Subscribe("news")
	for i := 0; i < 10; i++ {
		c.api.Trigger("news", "item", fmt.Sprint(i), nil)
	}
	for _, cl := range []*pushertest.Client{ca, cb} {
		for i := 0; i < 10; i++ {
			if f := cl.Expect("item"); f["data"] != fmt.Sprint(i) {
				t.Fatalf("event %d: %v", i, f)
			}
		}
	}

	// Presence across the three: ann on A, bob on B, cy only on C.
	channels := []string{"presence-room", hall}
	var bobs []*pushertest.Client
	for _, ch := range channels {
		ann := a.connect(t)
		ann.SubscribePresence(ch, "ann", nil)
		bob := b.connect(t)
		bob.SubscribePresence(ch, "bob", nil)
		ann.Expect(pusher.EventMemberAdded)
		cy := c.connect(t)
		if ids := presenceIDs(t, cy, cy.SubscribePresence(ch, "cy", nil)); len(ids) != 3 {
			t.Fatalf("cy sees %v on %s", ids, ch)
		}
		ann.Expect(pusher.EventMemberAdded)
		bob.Expect(pusher.EventMemberAdded)
		annOnC := c.connect(t)
		annOnC.SubscribePresence(ch, "ann", nil)
		code, res := b.api.Call("GET", "/apps/"+app1.ID+"/channels/"+ch, url.Values{"info": {"user_count"}}, nil)
		if code != 200 || res["user_count"] != float64(3) {
			t.Fatalf("%s from B: %d %v", ch, code, res)
		}
		bobs = append(bobs, bob)
	}

	// Node loss: SIGKILL C. cy was only there: one member_removed per
	// channel, from the grain rebuilt elsewhere (presence-room) and from
	// the grain that stayed (hall); ann is still on A: none for her.
	killed := time.Now()
	if err := c.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i, ch := range channels {
		bob := bobs[i]
		for deadline := time.After(time.Until(killed.Add(30 * time.Second))); ; {
			var f map[string]any
			select {
			case f = <-bob.Frames():
			case <-deadline:
				t.Fatalf("no member_removed on %s within 30s of the kill:\nA:\n%s", ch, a.p.output())
			}
			if f["event"] != pusher.EventMemberRemoved {
				continue
			}
			var m struct {
				UserID string `json:"user_id"`
			}
			bob.DataJSON(f, &m)
			if f["channel"] != ch || m.UserID != "cy" {
				t.Fatalf("member_removed %s on %v, want cy on %s", m.UserID, f["channel"], ch)
			}
			converged := time.Since(killed)
			t.Logf("node loss: %s (grain owner lost: %v) converged %s after SIGKILL", ch, ch == "presence-room", converged.Round(time.Millisecond))
			if converged > 10*time.Second { // the bound: the etcd lease (≤ 4 s) plus the window counted from the loss
				t.Errorf("%s converged %s after the kill, more than 10s", ch, converged)
			}
			break
		}
	}
	for i, ch := range channels {
		bobs[i].Quiet(2 * time.Second)
		code, res := a.api.Call("GET", "/apps/"+app1.ID+"/channels/"+ch, url.Values{"info": {"user_count"}}, nil)
		if code != 200 || res["user_count"] != float64(2) {
			t.Fatalf("after the kill, %s from A: %d %v", ch, code, res)
		}
	}
	b.api.Trigger("news", "after", "1", nil)
	ca.Expect("after")
	cb.Expect("after")
}

const haproxyBin = "/usr/sbin/haproxy" // Debian's haproxy, installed by scripts/test

// hookReceiver is a webhook receiver: it verifies each request and keeps
// every event.
type hookReceiver struct {
	mu     sync.Mutex
	events []webhooks.Event
	bad    int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := webhooks.Verify(r, app1.Key, app1.Secret)
	p, perr := webhooks.Parse(body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil || perr != nil {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.events = append(h.events, p.Events...)
}

// count returns how many events named name arrived about channel.
func (h *hookReceiver) count(name, channel string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if e.Name == name && e.Channel == channel {
			n++
		}
	}
	return n
}

// lbNode is a node behind the load balancer, restartable on its ports.
type lbNode struct {
	bin, cfg         string
	ws, api, cluster string
	p                *proc
}

func (n *lbNode) start(t *testing.T) {
	t.Helper()
	if err := n.tryStart(t); err != nil {
		t.Fatal(err)
	}
}

// tryStart starts the node and waits for /readyz (usable off the test's
// goroutine: it reports instead of failing the test).
func (n *lbNode) tryStart(t *testing.T) error {
	n.p = startProc(t, nil, n.bin, "--config", n.cfg)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get("http://" + n.api + "/readyz"); err == nil { //nolint:gosec // G107: a loopback URL this test made
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-n.p.done:
			n.p.done <- err
			return fmt.Errorf("node %s exited (%w) before it was ready:\n%s", n.api, err, n.p.output())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s not ready within 20s:\n%s", n.api, n.p.output())
		}
	}
}

// stop sends SIGTERM and waits for the process to exit.
func (n *lbNode) stop(t *testing.T) {
	t.Helper()
	if err := n.tryStop(); err != nil {
		t.Fatal(err)
	}
}

func (n *lbNode) tryStop() error {
	_ = n.p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.p.done:
		n.p.done <- err // for the cleanup registered at start
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("node %s did not stop within 20s:\n%s", n.api, n.p.output())
	}
}

// roamer is a presence member that reconnects through the load balancer
// whenever its socket is closed, as pusher-js does after 4200.
type roamer struct {
	user   string
	c      *pushertest.Client
	seen   []string // member_added / member_removed seen, as "event user"
	closes []uint16 // close codes received
}

func TestClusterBehindLoadBalancer(t *testing.T) {
	if _, err := os.Stat(haproxyBin); err != nil {
		t.Fatalf("%s is missing: install Debian's haproxy (scripts/test does)", haproxyBin)
	}
	etcd := startEtcd(t)
	bin := buildHerald(t)
	hooks := &hookReceiver{}
	hookSrv := &http.Server{Handler: hooks, ReadHeaderTimeout: 5 * time.Second}
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hookSrv.Serve(hookLn) }() // ends at Close below
	t.Cleanup(func() { _ = hookSrv.Close() })

	dir := t.TempDir()
	var nodes []*lbNode
	for i := 0; i < 3; i++ {
		n := &lbNode{bin: bin, cfg: filepath.Join(dir, fmt.Sprintf("node%d.yaml", i)),
			ws: fmt.Sprintf("127.0.0.1:%d", freePort(t)), api: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			cluster: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
		cfg := fmt.Sprintf(`websocket: {listen: "%s"}
api: {listen: "%s"}
cluster: {provider: etcd, name: lb, etcd_endpoints: ["%s"], listen: "%s"}
webhooks: {debounce: 0s, batch_window: 50ms}
apps:
  - {id: "%s", key: "%s", secret: "%s", client_events: true,
     webhooks: [{url: "http://%s/hooks", events: [channel_occupied, channel_vacated, member_added, member_removed]}]}
`, n.ws, n.api, etcd, n.cluster, app1.ID, app1.Key, app1.Secret, hookLn.Addr())
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		n.start(t)
		nodes = append(nodes, n)
	}

	lbWS, lbAPI := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var wsServers, apiServers strings.Builder
	for i, n := range nodes {
		fmt.Fprintf(&wsServers, "  server n%d %s check inter 300ms fall 1 rise 1\n", i, n.ws)
		fmt.Fprintf(&apiServers, "  server n%d %s check inter 300ms fall 1 rise 1\n", i, n.api)
	}
	hcfg := fmt.Sprintf(`global
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  retries 3
  option redispatch
frontend ws
  bind %s
  default_backend nodes_ws
backend nodes_ws
  balance roundrobin
%sfrontend api
  bind %s
  default_backend nodes_api
backend nodes_api
  balance roundrobin
  option httpchk GET /readyz
%s`, lbWS, wsServers.String(), lbAPI, apiServers.String())
	hcfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(hcfgPath, []byte(hcfg), 0o600); err != nil {
		t.Fatal(err)
	}
	lb := startProc(t, nil, haproxyBin, "-db", "-f", hcfgPath)
	waitHTTP(t, "http://"+lbAPI+"/readyz", lb)
	api := pushertest.API{T: t, Base: "http://" + lbAPI, ID: app1.ID, Key: app1.Key, Secret: app1.Secret}

	// Real pusher-js clients and the official SDK, through haproxy; the
	// rolling-restart file restarts the nodes through a control endpoint.
	var ctlMu sync.Mutex
	ctl := http.NewServeMux()
	ctl.HandleFunc("POST /restart/{i}", func(w http.ResponseWriter, r *http.Request) {
		ctlMu.Lock()
		defer ctlMu.Unlock()
		var i int
		if _, err := fmt.Sscan(r.PathValue("i"), &i); err != nil || i < 0 || i >= len(nodes) {
			http.Error(w, "no such node", http.StatusNotFound)
			return
		}
		if err := nodes[i].tryStop(); err != nil {
			t.Error(err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := nodes[i].tryStart(t); err != nil {
			t.Error(err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		time.Sleep(500 * time.Millisecond) // haproxy's health check sees it back
	})
	ctlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctlSrv := &http.Server{Handler: ctl, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: time.Minute}
	go func() { _ = ctlSrv.Serve(ctlLn) }() // ends at Close below
	t.Cleanup(func() { _ = ctlSrv.Close() })
	runNodeAt(t, requireNode(t), lbWS, lbAPI, []string{"cluster/lb.test.mjs", "cluster/restart.test.mjs"},
		"HERALD_CONTROL_URL=http://"+ctlLn.Addr().String())
	for _, name := range []string{"member_removed", "channel_vacated"} {
		for _, e := range hooks.events {
			if e.Name == name && strings.HasPrefix(e.Channel, "presence-rolling") {
				t.Errorf("%s webhook for %s during pusher-js's rolling restart", name, e.Channel)
			}
		}
	}

	// Six members join through the load balancer, so they spread over the
	// nodes; each sees the others join.
	var rs []*roamer
	joinWait := pushertest.Wait
	join := func(r *roamer) {
		r.c = pushertest.Connect(t, "ws://"+lbWS, app1.Key, app1.Secret)
		r.c.Wait = joinWait
		r.c.SubscribePresence("presence-lb", r.user, nil)
	}
	for i := 0; i < 6; i++ {
		r := &roamer{user: fmt.Sprintf("u%d", i)}
		join(r)
		rs = append(rs, r)
	}
	waitFor(t, 10*time.Second, func() bool { return hooks.count("member_added", "presence-lb") == 6 })
	if n := hooks.count("channel_occupied", "presence-lb"); n != 1 {
		t.Fatalf("channel_occupied %d times, want once", n)
	}
	drain := func(r *roamer) (closed bool) {
		for {
			select {
			case f := <-r.c.Frames():
				if ev, _ := f["event"].(string); ev == pusher.EventMemberAdded || ev == pusher.EventMemberRemoved {
					var m struct {
						UserID string `json:"user_id"`
					}
					r.c.DataJSON(f, &m)
					r.seen = append(r.seen, ev+" "+m.UserID)
				}
			case ce := <-r.c.Closed():
				r.closes = append(r.closes, ce.Code)
				return true
			default:
				return false
			}
		}
	}
	for _, r := range rs {
		drain(r)
		r.seen = nil
	}

	// Rolling restart: each node in turn gets SIGTERM (its clients get 4200
	// and come back through the load balancer) and starts again. Nobody
	// sees anyone leave or join, and the webhooks hear nothing.
	reconnects := 0
	for _, n := range nodes {
		n.stop(t)
		for _, r := range rs {
			if drain(r) {
				join(r)
				reconnects++
			}
		}
		n.start(t)
		time.Sleep(500 * time.Millisecond) // the load balancer's health check brings it back
	}
	time.Sleep(6 * time.Second) // longer than the grace window
	for _, r := range rs {
		if drain(r) {
			t.Fatalf("%s was closed after the restarts", r.user)
		}
		if len(r.seen) > 0 {
			t.Errorf("%s saw %v during the rolling restart", r.user, r.seen)
		}
	}
	for _, name := range []string{"member_removed", "channel_vacated"} {
		if n := hooks.count(name, "presence-lb"); n != 0 {
			t.Errorf("%d %s webhooks during the rolling restart", n, name)
		}
	}
	if n := hooks.count("member_added", "presence-lb"); n != 6 {
		t.Errorf("member_added %d times, want 6 (once per user)", n)
	}
	code, res := api.Call("GET", "/apps/"+app1.ID+"/channels/presence-lb", url.Values{"info": {"user_count"}}, nil)
	if code != 200 || res["user_count"] != float64(6) {
		t.Fatalf("after the restarts: %d %v", code, res)
	}
	api.Trigger("presence-lb", "after", "1", nil)
	for _, r := range rs {
		r.c.Expect("after")
	}
	if hooks.bad > 0 {
		t.Fatalf("%d webhook requests failed verification", hooks.bad)
	}
	for _, r := range rs {
		for _, code := range r.closes {
			if code != uint16(pusher.CloseReconnect) {
				t.Errorf("%s was closed with %d, want 4200", r.user, code)
			}
		}
	}
	if reconnects < len(rs) {
		t.Fatalf("only %d reconnects for %d members over three restarts", reconnects, len(rs))
	}
	t.Logf("rolling restart of 3 nodes: %d reconnects through haproxy, no member or vacancy event seen, member_added once per user", reconnects)

	// Node loss: a member connected only to the third node (not through the
	// load balancer) goes with it, once, for clients and webhooks; the
	// roamers on it come back elsewhere and nobody sees them leave; the
	// channel never looks vacated.
	// The node lost owns the channel's grain: the webhooks come from the
	// grain the survivors rebuild.
	owner := grainOwner("presence-lb", []string{nodes[0].cluster, nodes[1].cluster, nodes[2].cluster})
	lost := nodes[0]
	for _, n := range nodes {
		if n.cluster == owner {
			lost = n
		}
	}
	solo := pushertest.Connect(t, "ws://"+lost.ws, app1.Key, app1.Secret)
	solo.SubscribePresence("presence-lb", "solo", nil)
	waitFor(t, 10*time.Second, func() bool { return hooks.count("member_added", "presence-lb") == 7 })
	for _, r := range rs {
		drain(r)
		r.seen, r.closes = nil, nil
	}
	// A roamer that reconnects before the others learn of the loss waits
	// for them to: its join asks the grain, which was on the lost node.
	joinWait = 20 * time.Second
	killed := time.Now()
	if err := lost.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := killed.Add(30 * time.Second); hooks.count("member_removed", "presence-lb") == 0; time.Sleep(50 * time.Millisecond) {
		for _, r := range rs {
			if drain(r) {
				join(r)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no member_removed webhook within 30s of the kill")
		}
	}
	converged := time.Since(killed)
	time.Sleep(6 * time.Second) // anything else would show within the grace window
	for _, r := range rs {
		if drain(r) {
			join(r)
		}
	}
	for _, r := range rs {
		for _, ev := range r.seen {
			if ev != pusher.EventMemberRemoved+" solo" {
				t.Errorf("%s saw %s after the kill", r.user, ev)
			}
		}
	}
	if n := hooks.count("member_removed", "presence-lb"); n != 1 {
		t.Errorf("member_removed %d times after the kill, want once (solo)", n)
	}
	if n := hooks.count("channel_vacated", "presence-lb") + hooks.count("channel_occupied", "presence-lb"); n != 1 {
		t.Errorf("occupancy webhooks %d, want only the first channel_occupied", n)
	}
	code, res = api.Call("GET", "/apps/"+app1.ID+"/channels/presence-lb", url.Values{"info": {"user_count"}}, nil)
	if code != 200 || res["user_count"] != float64(6) {
		t.Fatalf("after the kill: %d %v", code, res)
	}
	api.Trigger("presence-lb", "after-kill", "1", nil)
	for _, r := range rs {
		r.c.Expect("after-kill")
	}
	t.Logf("node loss behind haproxy: member_removed (webhook) %s after SIGKILL, once, for the member only on that node", converged.Round(time.Millisecond))
}

func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
	}
}
