package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/testcert"
)

// jsDir is the Node project of the pusher-js / pusher SDK tests.
const jsDir = "js"

// setupCommand installs the pinned npm packages, from the repository root.
const setupCommand = "npm ci --prefix e2e/js"

// nodeTimeout bounds one Node run; every Node test also has its own bound
// (--test-timeout).
const nodeTimeout = 4 * time.Minute

// heartbeatFile needs a broker with a short activity_timeout, so it runs
// alone, in TestPusherJSHeartbeat; tlsFile needs one serving TLS, in
// TestPusherJSOverTLS.
const (
	heartbeatFile = "heartbeat.test.mjs"
	tlsFile       = "tls.test.mjs"
)

// The apps the Node tests use. app2 has client events off. app3 turns on
// the opt-in features (watchlist events, subscription_count), which would
// add frames to app1's channels.
var (
	app1 = config.App{ID: "app-id", Key: "app-key", Secret: "app-secret", ClientEvents: true}.WithDefaults()
	app2 = config.App{ID: "app2-id", Key: "app2-key", Secret: "app2-secret", ClientEvents: false}.WithDefaults()
	app3 = config.App{ID: "app3-id", Key: "app3-key", Secret: "app3-secret", ClientEvents: true,
		Watchlist: true, SubscriptionCount: true}.WithDefaults()
)

// TestPusherJS runs e2e/js/*.test.mjs (node --test), but heartbeatFile and
// tlsFile, against a Herald with the default settings but for an
// allowed_origins list, and fails if any Node test fails.
func TestPusherJS(t *testing.T) {
	node := requireNode(t)
	files := slices.DeleteFunc(testFiles(t), func(f string) bool { return f == heartbeatFile || f == tlsFile })
	// A browser origin list must not lock out pusher-js under Node, which
	// sends no Origin (nor do server SDKs and mobile clients).
	h := startHerald(t, func(c *config.Config) { c.WebSocket.AllowedOrigins = []string{"https://app.example"} })
	runNode(t, node, h, files)
}

// TestPusherJSHeartbeat runs heartbeatFile against a Herald whose
// activity_timeout is 1 s, so that both sides ping an idle connection
// within the test.
func TestPusherJSHeartbeat(t *testing.T) {
	node := requireNode(t)
	if !slices.Contains(testFiles(t), heartbeatFile) {
		t.Fatalf("%s/%s is missing", jsDir, heartbeatFile)
	}
	h := startHerald(t, func(c *config.Config) {
		c.WebSocket.ActivityTimeout = time.Second
		c.WebSocket.PongTimeout = 2 * time.Second
	})
	runNode(t, node, h, []string{heartbeatFile})
}

// TestPusherJSOverTLS runs tlsFile against a Herald serving wss:// and
// https:// (two listeners) with a self-signed certificate that Node trusts
// through NODE_EXTRA_CA_CERTS: pusher-js with forceTLS and the pusher SDK
// with useTLS.
func TestPusherJSOverTLS(t *testing.T) {
	node := requireNode(t)
	cert := testcert.Write(t, t.TempDir(), "herald")
	h := startHerald(t, func(c *config.Config) {
		c.API.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		c.WebSocket.TLS = config.TLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
		c.API.TLS = c.WebSocket.TLS
	})
	runNodeAt(t, node, h.WebSocketAddr().String(), h.APIAddr().String(), []string{tlsFile},
		"HERALD_TLS=1", "NODE_EXTRA_CA_CERTS="+cert.CertFile)
}

// runNode runs node --test on files (relative to jsDir) against h, logging
// its output line by line, and fails t if node fails.
func runNode(t *testing.T, node string, h *herald.Herald, files []string) {
	t.Helper()
	runNodeAt(t, node, h.WebSocketAddr().String(), h.APIAddr().String(), files)
}

// runNodeAt runs node --test on files against the broker (or load
// balancer) at ws and api (host:port each), with extraEnv added to its
// environment.
func runNodeAt(t *testing.T, node, ws, api string, files []string, extraEnv ...string) {
	t.Helper()
	wsHost, wsPort, err := net.SplitHostPort(ws)
	if err != nil {
		t.Fatal(err)
	}
	apiHost, apiPort, err := net.SplitHostPort(api)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	if d, ok := t.Deadline(); ok && time.Until(d) < nodeTimeout+30*time.Second {
		cancel()
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-30*time.Second))
	}
	defer cancel()

	args := append([]string{"--test", "--test-reporter=spec", "--test-timeout=60000"}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(),
		"HERALD_WS_HOST="+wsHost,
		"HERALD_WS_PORT="+wsPort,
		"HERALD_API_HOST="+apiHost,
		"HERALD_API_PORT="+apiPort,
		"HERALD_APP_ID="+app1.ID,
		"HERALD_APP_KEY="+app1.Key,
		"HERALD_APP_SECRET="+app1.Secret,
		"HERALD_APP2_ID="+app2.ID,
		"HERALD_APP2_KEY="+app2.Key,
		"HERALD_APP2_SECRET="+app2.Secret,
		"HERALD_APP3_ID="+app3.ID,
		"HERALD_APP3_KEY="+app3.Key,
		"HERALD_APP3_SECRET="+app3.Secret,
		"NO_COLOR=1",
		"FORCE_COLOR=0",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	killGroupOnCancel(cmd)
	cmd.WaitDelay = 10 * time.Second

	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	logged := make(chan struct{})
	go func() { // owned by runNode: ends when pw is closed below
		defer close(logged)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()

	start := time.Now()
	err = cmd.Run()
	_ = pw.Close()
	<-logged
	switch {
	case ctx.Err() != nil:
		t.Fatalf("node --test did not finish within %s (killed): %v", time.Since(start).Round(time.Second), err)
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("node --test failed (exit code %d): see the output above", ee.ExitCode())
		}
		t.Fatalf("cannot run node: %v", err)
	}
}

// startHerald runs a broker on ephemeral ports with app1, app2 and app3, changed
// by edit when not nil, and shuts it down when the test ends.
func startHerald(t *testing.T, edit func(*config.Config)) *herald.Herald {
	t.Helper()
	cfg := config.Default()
	cfg.WebSocket.Listen = "127.0.0.1:0"
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Apps = []config.App{app1, app2, app3}
	if edit != nil {
		edit(&cfg)
	}
	h, err := herald.New(cfg, herald.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("herald.New: %v", err)
	}
	if err := h.Start(); err != nil {
		t.Fatalf("herald.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("herald.Shutdown: %v", err)
		}
	})
	return h
}

// requireNode returns the path of node, failing the test with the setup
// command when node (20 or later) or the pinned npm packages are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (need Node.js 20 or later on PATH), then run `%s` from the repository root: %v", setupCommand, err)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", node, err)
	}
	version := strings.TrimSpace(string(out))
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[0])
	if major < 20 {
		t.Fatalf("node %s is too old: the tests need Node.js 20 or later (node --test)", version)
	}

	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	readJSON(t, filepath.Join(jsDir, "package.json"), &pkg)
	if len(pkg.Dependencies) == 0 {
		t.Fatalf("%s/package.json lists no dependencies", jsDir)
	}
	for name, want := range pkg.Dependencies {
		path := filepath.Join(jsDir, "node_modules", name, "package.json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("npm package %s is not installed in e2e/%s/node_modules: run `%s` from the repository root", name, jsDir, setupCommand)
		}
		var got struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v: run `%s` from the repository root", path, err, setupCommand)
		}
		if got.Version != want {
			t.Fatalf("npm package %s is %s, package.json pins %s: run `%s` from the repository root", name, got.Version, want, setupCommand)
		}
	}
	return node
}

// testFiles lists the Node test files, relative to jsDir.
func testFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(jsDir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s/*.test.mjs files (glob error: %v)", jsDir, err)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}
