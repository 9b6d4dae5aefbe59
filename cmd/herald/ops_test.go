package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/internal/testcert"
	"github.com/herald-push/herald/pusher"
)

// proc is a herald process this test started; it is killed by PID when
// the test ends if it still runs.
type proc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

func startHerald(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(buildHerald(t), args...), logs: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }() // owned by proc: ends when the process exits
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // os.ErrProcessDone after a clean exit
		select {
		case err := <-p.done:
			_ = err // killed or exited: either way it has ended
		case <-time.After(30 * time.Second):
			t.Errorf("herald (pid %d) did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	})
	return p
}

func (p *proc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the log holds text n times.
func (p *proc) waitLog(t *testing.T, text string, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); strings.Count(p.logs.String(), text) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (%d times) in the log:\n%s", text, n, p.logs.String())
		}
	}
}

// exit waits for the process to exit and returns its exit code.
func (p *proc) exit(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatalf("herald did not exit:\n%s", p.logs.String())
	}
	return -1
}

// statusOf is the status of GET url (0: no answer).
func statusOf(client *http.Client, url string) int {
	res, err := client.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// waitReady waits for /readyz to answer 200.
func (p *proc) waitReady(t *testing.T, client *http.Client, base string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); statusOf(client, base+"/readyz") != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 within 20s:\n%s", base, p.logs.String())
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

const reloadConfig = `websocket:
  listen: %q
api:
  listen: %q
apps:
%s`

// SIGHUP reloads the configuration file: an added app connects, a changed
// secret is the one the API checks (the old signature gets 401), a removed
// app's connected client is closed with 4001 while the others stay; a
// changed listener address is warned about and ignored; a broken file is
// refused with start-up's message and the running configuration stays.
func TestSIGHUPReloadsTheConfigFile(t *testing.T) {
	ws, api := freeAddr(t), freeAddr(t)
	path := filepath.Join(t.TempDir(), "herald.yaml")
	writeFile(t, path, fmt.Sprintf(reloadConfig, ws, api, `  - {id: "1", key: one-key, secret: one-secret}
  - {id: "3", key: gone-key, secret: gone-secret}
`))
	p := startHerald(t, nil, "--config", path)
	p.waitReady(t, http.DefaultClient, "http://"+api)
	one := pushertest.API{T: t, Base: "http://" + api, ID: "1", Key: "one-key", Secret: "one-secret"}
	stays := pushertest.Connect(t, "ws://"+ws, "one-key", "one-secret")
	stays.Subscribe("private-stays")
	gone := pushertest.Connect(t, "ws://"+ws, "gone-key", "gone-secret")
	gone.Subscribe("news")

	moved := freeAddr(t)
	writeFile(t, path, fmt.Sprintf(reloadConfig, moved, api, `  - {id: "1", key: one-key, secret: one-secret-2}
  - {id: "2", key: two-key, secret: two-secret}
`))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, `msg="reload: done"`, 1)

	if e := gone.WaitClose(); e.Code != uint16(pusher.CloseAppNotFound) {
		t.Fatalf("the removed app's client closed with %d, want 4001", e.Code)
	}
	pushertest.Connect(t, "ws://"+ws, "two-key", "two-secret").Subscribe("private-added")
	if code, _ := one.Call(http.MethodGet, "/apps/1/channels", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("the old secret: %d, want 401", code)
	}
	one.Secret = "one-secret-2"
	one.Trigger("private-stays", "after-reload", "1", nil)
	stays.Expect("after-reload") // the changed app's connection stayed
	if !strings.Contains(p.logs.String(), `msg="reload: setting not reloadable, ignored until restart" key=websocket.listen`) {
		t.Fatalf("no warning naming websocket.listen:\n%s", p.logs.String())
	}
	if statusOf(http.DefaultClient, "http://"+moved+"/") != 0 {
		t.Fatal("the WebSocket listener moved")
	}

	writeFile(t, path, fmt.Sprintf(reloadConfig, ws, api, `  - {id: "1", key: one-key}
`))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, `msg="reload: refused, the running configuration stays"`, 1)
	if !strings.Contains(p.logs.String(), "apps[0].secret: is required") {
		t.Fatalf("the refusal does not name the key:\n%s", p.logs.String())
	}
	one.Trigger("private-stays", "still-serving", "2", nil) // the running configuration stays
	stays.Expect("still-serving")
	pushertest.Connect(t, "ws://"+ws, "two-key", "two-secret")

	for _, secret := range []string{"one-secret", "two-secret", "gone-secret"} {
		if strings.Contains(p.logs.String(), secret) {
			t.Fatalf("the log shows the secret %q:\n%s", secret, p.logs.String())
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.exit(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.logs.String())
	}
}

// TLS on both listeners of a real process: a wss:// client and https://
// API calls work; after the certificate files are replaced and SIGHUP,
// the client stays connected and a new connection gets the new
// certificate.
func TestTLSCertificateSwapOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	first := testcert.Write(t, dir, "server")
	ws, api := freeAddr(t), freeAddr(t)
	env := []string{"HERALD_WEBSOCKET_LISTEN=" + ws, "HERALD_API_LISTEN=" + api,
		"HERALD_WEBSOCKET_TLS_CERT_FILE=" + first.CertFile, "HERALD_WEBSOCKET_TLS_KEY_FILE=" + first.KeyFile,
		"HERALD_API_TLS_CERT_FILE=" + first.CertFile, "HERALD_API_TLS_KEY_FILE=" + first.KeyFile,
		"HERALD_APP_ID=1", "HERALD_APP_KEY=tls-key", "HERALD_APP_SECRET=tls-secret"}
	p := startHerald(t, env)
	roots := x509.NewCertPool()
	roots.AddCert(first.Leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	p.waitReady(t, client, "https://"+api)
	p.waitLog(t, "url=wss://"+ws+"/app/{key}", 1)
	p.waitLog(t, "url=https://"+api+"/", 1)

	c := pushertest.ConnectTLS(t, "wss://"+ws, "tls-key", "tls-secret", first.ClientConfig())
	c.Subscribe("private-secure")
	rest := pushertest.API{T: t, Base: "https://" + api, ID: "1", Key: "tls-key", Secret: "tls-secret", Client: client}
	rest.Trigger("private-secure", "before", "1", nil)
	c.Expect("before")

	second := testcert.Write(t, dir, "server")
	roots.AddCert(second.Leaf)
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, `msg="reload: done"`, 1)
	rest.Trigger("private-secure", "after", "2", nil)
	c.Expect("after") // the connection made with the old certificate stays
	for _, addr := range []string{ws, api} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		serial := conn.ConnectionState().PeerCertificates[0].SerialNumber
		conn.Close()
		if serial.Cmp(second.Leaf.SerialNumber) != 0 {
			t.Fatalf("%s: a new connection got serial %s, want the new certificate's %s", addr, serial, second.Leaf.SerialNumber)
		}
	}
	pushertest.ConnectTLS(t, "wss://"+ws, "tls-key", "tls-secret", second.ClientConfig()).Subscribe("private-secure")
	p.signal(t, syscall.SIGTERM)
	if code := p.exit(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.logs.String())
	}
}

// An unreadable certificate stops start-up with the file named (exit 2,
// a configuration error).
func TestBadCertificateStopsStartup(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	out, code := run(t, []string{"HERALD_API_TLS_CERT_FILE=" + missing, "HERALD_API_TLS_KEY_FILE=" + missing})
	if code != 2 || !strings.Contains(out, "api.tls") || !strings.Contains(out, missing) {
		t.Fatalf("exit %d, output %s", code, out)
	}
}

// While a cluster node is still joining (here: waiting for an etcd that
// does not answer), /readyz answers 503 and /healthz 200; then start-up
// fails with the endpoint named.
func TestReadyzIs503WhileJoiningTheCluster(t *testing.T) {
	dead, api := freeAddr(t), freeAddr(t)
	p := startHerald(t, []string{"HERALD_CLUSTER_PROVIDER=etcd", "HERALD_CLUSTER_ETCD_ENDPOINTS=" + dead,
		"HERALD_WEBSOCKET_LISTEN=" + freeAddr(t), "HERALD_API_LISTEN=" + api})
	seen := false
	for deadline := time.Now().Add(20 * time.Second); !seen && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		seen = statusOf(http.DefaultClient, "http://"+api+"/readyz") == http.StatusServiceUnavailable &&
			statusOf(http.DefaultClient, "http://"+api+"/healthz") == http.StatusOK
	}
	if !seen {
		t.Fatalf("never saw /readyz 503 with /healthz 200 while joining:\n%s", p.logs.String())
	}
	if code := p.exit(t); code != 1 || !strings.Contains(p.logs.String(), dead) {
		t.Fatalf("exit %d, want 1 with the endpoint named:\n%s", code, p.logs.String())
	}
}

// run runs herald with args and env to its end and returns its output
// and exit code.
func run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildHerald(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return string(out), 0
}

func TestVersion(t *testing.T) {
	out, code := run(t, nil, "--version")
	re := regexp.MustCompile(`^herald \S+, commit \S+( \(modified\))?, (go\S+)\n$`)
	m := re.FindStringSubmatch(out)
	if code != 0 || m == nil || m[2] != runtime.Version() {
		t.Fatalf("--version: exit %d, output %q; want %s", code, out, re)
	}
}

// check-config prints the effective configuration with every secret
// masked and exits 0, or names the bad key and exits 2.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, `apps:
  - key: app-key
    secret: file-secret-1f2e
    webhooks:
      - url: https://user:url-pass-9a8b@hooks.example.com/h
        headers: {Authorization: "Bearer header-token-3c4d"}
`)
	cert := testcert.Write(t, dir, "server")
	out, code := run(t, []string{"HERALD_API_TLS_CERT_FILE=" + cert.CertFile, "HERALD_API_TLS_KEY_FILE=" + cert.KeyFile},
		"check-config", "--config", good, "--log.level", "debug")
	if code != 0 {
		t.Fatalf("valid: exit %d\n%s", code, out)
	}
	key, err := os.ReadFile(cert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"file-secret-1f2e", "url-pass-9a8b", "header-token-3c4d", string(key[30:70])} {
		if strings.Contains(out, leak) {
			t.Errorf("check-config shows %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{`level: "debug"`, `secret: "********"`, "hooks.example.com/h", cert.KeyFile, "configuration is valid"} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config lacks %q:\n%s", want, out)
		}
	}

	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "webhooks:\n  batch_max: 500\napps:\n  - key: k\n")
	out, code = run(t, nil, "check-config", "--config", bad)
	if code != 2 || !strings.Contains(out, "webhooks.batch_max") || !strings.Contains(out, "apps[0].secret") {
		t.Fatalf("invalid: exit %d, output %s", code, out)
	}
	out, code = run(t, []string{"HERALD_WEBSOCKET_LISTN=x"}, "check-config")
	if code != 2 || !strings.Contains(out, "HERALD_WEBSOCKET_LISTN") {
		t.Fatalf("unknown variable: exit %d, output %s", code, out)
	}
}
