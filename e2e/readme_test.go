package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/pushertest"
)

// The README's snippets, run as a newcomer pastes them (e2e/js/readme).

const nginxBin = "/usr/sbin/nginx" // Debian's nginx, installed by scripts/test

// startDevHerald runs a broker on the dev defaults (no app configured, so
// config.Load's dev app) but on ephemeral loopback ports, one for the
// WebSocket and one for the API as by default.
func startDevHerald(t *testing.T) *herald.Herald {
	t.Helper()
	return startHerald(t, func(c *config.Config) {
		c.API.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		c.Apps = []config.App{config.DevApp()}
		c.DevMode = true
	})
}

// TestReadmeSnippets runs readme/snippets.test.mjs: the README's pusher-js
// and Node SDK snippets, as pasted but for the ports.
func TestReadmeSnippets(t *testing.T) {
	node := requireNode(t)
	runNode(t, node, startDevHerald(t), []string{"readme/snippets.test.mjs"})
}

// TestReadmeNginx runs the README's nginx server block in Debian's nginx,
// on a loopback port with a certificate made here, in front of a broker on
// the dev defaults, then readme/nginx.test.mjs through it with the
// README's TLS client settings.
func TestReadmeNginx(t *testing.T) {
	node := requireNode(t)
	if _, err := os.Stat(nginxBin); err != nil {
		t.Fatalf("%s is missing: install Debian's nginx (scripts/test does)", nginxBin)
	}
	h := startDevHerald(t)
	dir := t.TempDir()
	ca, caPEM := writeTestCerts(t, dir)
	port := freePort(t)
	conf := nginxConfig(t, dir, port, h.WebSocketAddr().String(), h.APIAddr().String())
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, nil, nginxBin, "-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	waitHTTPS(t, fmt.Sprintf("https://127.0.0.1:%d/healthz", port), ca, p, dir)

	runNodeAt(t, node, h.WebSocketAddr().String(), h.APIAddr().String(), []string{"readme/nginx.test.mjs"},
		fmt.Sprintf("HERALD_NGINX_PORT=%d", port), "NODE_EXTRA_CA_CERTS="+caPEM)

	// The traffic went through nginx: the upgrade, the signed API calls
	// and the client files are in its access log.
	access, err := os.ReadFile(filepath.Join(dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"GET /app/app-key?`, `" 101 `, `"POST /apps/app-id/events?`, `"GET /push.js `, `"GET /plugin/webman/push/push.js `} {
		if !strings.Contains(string(access), want) {
			t.Errorf("nginx's access log lacks %q:\n%s", want, access)
		}
	}
}

// nginxConfig is the README's nginx block with a loopback port, the test
// certificate and h's ports, in an nginx.conf that keeps every file in dir.
func nginxConfig(t *testing.T, dir string, port int, ws, api string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^```nginx\n(.*?)^```$").FindAllSubmatch(readme, -1)
	if len(blocks) != 1 {
		t.Fatalf("README.md has %d ```nginx blocks, want 1", len(blocks))
	}
	block := string(blocks[0][1])
	for _, r := range []struct{ from, to string }{
		{"listen 443 ssl;", fmt.Sprintf("listen 127.0.0.1:%d ssl;", port)},
		{"/etc/letsencrypt/live/push.example.com/fullchain.pem", filepath.Join(dir, "fullchain.pem")},
		{"/etc/letsencrypt/live/push.example.com/privkey.pem", filepath.Join(dir, "privkey.pem")},
	} {
		if n := strings.Count(block, r.from); n != 1 {
			t.Fatalf("README's nginx block has %q %d times, want once:\n%s", r.from, n, block)
		}
		block = strings.Replace(block, r.from, r.to, 1)
	}
	for _, r := range []struct{ from, to string }{{"http://127.0.0.1:3131;", "http://" + ws + ";"}, {"http://127.0.0.1:3232;", "http://" + api + ";"}} {
		if !strings.Contains(block, r.from) {
			t.Fatalf("README's nginx block does not proxy to %s:\n%s", r.from, block)
		}
		block = strings.ReplaceAll(block, r.from, r.to)
	}
	// As root nginx would run its workers as nobody, who cannot use dir.
	userLine := ""
	if os.Geteuid() == 0 {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		userLine = "user " + u.Username + ";"
	}
	return fmt.Sprintf(`%[2]s
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 128; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[3]s}
`, dir, userLine, block)
}

// writeTestCerts makes a CA and a certificate it signs for 127.0.0.1 and
// localhost, writes fullchain.pem and privkey.pem for nginx and ca.pem for
// NODE_EXTRA_CA_CERTS into dir, and returns the CA pool and ca.pem's path.
func writeTestCerts(t *testing.T, dir string) (*x509.CertPool, string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Herald test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey := newKey()
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	files := map[string][]byte{
		"fullchain.pem": append(pemOf("CERTIFICATE", leafDER), pemOf("CERTIFICATE", caDER)...),
		"privkey.pem":   pemOf("PRIVATE KEY", keyDER),
		"ca.pem":        pemOf("CERTIFICATE", caDER),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, filepath.Join(dir, "ca.pem")
}

// waitHTTPS waits until url answers 200 over TLS trusting ca, or fails
// with nginx's output and error log.
func waitHTTPS(t *testing.T, url string, ca *x509.CertPool, p *proc, dir string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := client.Get(url)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case exit := <-p.done:
			p.done <- exit // for startProc's cleanup
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited (%v) before %s answered:\n%s\n%s", exit, url, p.output(), errLog)
		default:
		}
		if time.Now().After(deadline) {
			errLog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("%s did not answer 200 within 20s (last error %v):\n%s\n%s", url, err, p.output(), errLog)
		}
	}
}

// TestReadmeGoSnippet builds the README's "Embedding in a Go program"
// program as pasted (in a directory of this module, so that it imports
// this checkout), runs it on a free port, and checks what it promises: its
// actor logs the event it publishes, the WebSocket endpoint serves a
// subscriber, the Go authorizer grants with X-User and refuses without,
// and Ctrl-C (SIGINT) stops it in order.
func TestReadmeGoSnippet(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)[strings.Index(string(readme), "## Embedding in a Go program"):]
	block := regexp.MustCompile("(?ms)^```go\n(.*?)^```$").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("README.md has no ```go block under \"Embedding in a Go program\"")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	src := block[1]
	if n := strings.Count(src, `"127.0.0.1:8080"`); n != 1 {
		t.Fatalf("the snippet names 127.0.0.1:8080 %d times, want once", n)
	}
	src = strings.Replace(src, `"127.0.0.1:8080"`, `"`+addr+`"`, 1)
	dir, err := os.MkdirTemp(".", "_readme-go-") // _: never part of ./...
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600); err != nil { //nolint:gosec // G703: dir is this test's MkdirTemp
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "snippet")
	if out, err := exec.Command("go", "build", "-o", bin, "./"+dir).CombinedOutput(); err != nil {
		t.Fatalf("the README's Go snippet does not build: %v\n%s", err, out)
	}
	p := startProc(t, nil, bin)

	auth := func(user string) int {
		form := url.Values{"socket_id": {"1.2"}, "channel_name": {"private-orders"}}
		req, _ := http.NewRequest("POST", "http://"+addr+"/auth", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.Header.Set("X-User", user)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	for deadline := time.Now().Add(20 * time.Second); auth("") != http.StatusForbidden; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the snippet's /auth did not refuse an anonymous call within 20s:\n%s", p.output())
		}
	}
	if code := auth("ann"); code != http.StatusOK {
		t.Fatalf("/auth with X-User: %d", code)
	}
	c := pushertest.Connect(t, "ws://"+addr, "app-key", "app-secret")
	c.Subscribe("orders")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.output(), `created on orders: {"id":1}`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the snippet's actor did not log its event:\n%s", p.output())
		}
	}

	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for startProc's cleanup
		if err != nil {
			t.Fatalf("the snippet exited with %v:\n%s", err, p.output())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the snippet did not stop within 15s of SIGINT:\n%s", p.output())
	}
	if c.WaitClose().Code != 4200 {
		t.Fatal("the socket was not closed with 4200")
	}
	if !strings.Contains(p.output(), "shutdown: done") {
		t.Fatalf("no orderly shutdown:\n%s", p.output())
	}
}
