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

	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/pusher"
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
func (p *proc) output() string           { p.mu.Lock(); defer p.mu.Unlock(); return p.out.String() }

func startProc(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }() // owned by proc: ends with the process
	t.Cleanup(func() { // stops it by PID: SIGTERM, then SIGKILL after 10s
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
	p   *proc
	ws  string // ws://host:port
	api pushertest.API
}

func startNode(t *testing.T, bin, etcd string) *node {
	t.Helper()
	ws, apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProc(t, []string{
		"HERALD_CLUSTER_PROVIDER=etcd", "HERALD_CLUSTER_ETCD_ENDPOINTS=" + etcd, "HERALD_CLUSTER_NAME=e2e",
		"HERALD_WEBSOCKET_LISTEN=" + ws, "HERALD_API_LISTEN=" + apiAddr,
		"HERALD_APP_ID=" + app1.ID, "HERALD_APP_KEY=" + app1.Key, "HERALD_APP_SECRET=" + app1.Secret,
		"HERALD_APP_CLIENT_EVENTS=true",
	}, bin)
	waitHTTP(t, "http://"+apiAddr+"/readyz", p)
	return &node{p: p, ws: "ws://" + ws,
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

	a, b, c := startNode(t, bin, etcd), startNode(t, bin, etcd), startNode(t, bin, etcd)

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
	ann := a.connect(t)
	ann.SubscribePresence("presence-room", "ann", nil)
	bob := b.connect(t)
	bob.SubscribePresence("presence-room", "bob", nil)
	ann.Expect(pusher.EventMemberAdded)
	cy := c.connect(t)
	if ids := presenceIDs(t, cy, cy.SubscribePresence("presence-room", "cy", nil)); len(ids) != 3 {
		t.Fatalf("cy sees %v", ids)
	}
	ann.Expect(pusher.EventMemberAdded)
	bob.Expect(pusher.EventMemberAdded)
	annOnC := c.connect(t)
	annOnC.SubscribePresence("presence-room", "ann", nil)
	code, res := b.api.Call("GET", "/apps/"+app1.ID+"/channels/presence-room", url.Values{"info": {"user_count"}}, nil)
	if code != 200 || res["user_count"] != float64(3) {
		t.Fatalf("from B: %d %v", code, res)
	}

	// Node loss: SIGKILL C. cy was only there: one member_removed; ann
	// is still on A: none for her.
	killed := time.Now()
	if err := c.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var removed []string
	for deadline := killed.Add(15 * time.Second); len(removed) == 0; {
		select {
		case f := <-bob.Frames():
			if f["event"] == pusher.EventMemberRemoved {
				var m struct {
					UserID string `json:"user_id"`
				}
				bob.DataJSON(f, &m)
				removed = append(removed, m.UserID)
			}
		case <-time.After(time.Until(deadline)):
			t.Fatalf("no member_removed within 15s of the kill:\nA:\n%s", a.p.output())
		}
	}
	converged := time.Since(killed)
	if removed[0] != "cy" {
		t.Fatalf("removed %v, want cy", removed)
	}
	bob.Quiet(2 * time.Second)
	code, res = a.api.Call("GET", "/apps/"+app1.ID+"/channels/presence-room", url.Values{"info": {"user_count"}}, nil)
	if code != 200 || res["user_count"] != float64(2) {
		t.Fatalf("after the kill, from A: %d %v", code, res)
	}
	b.api.Trigger("news", "after", "1", nil)
	ca.Expect("after")
	cb.Expect("after")
	t.Logf("node loss: presence converged %s after SIGKILL", converged.Round(time.Millisecond))
}
