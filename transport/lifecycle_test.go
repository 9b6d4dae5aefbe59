package transport_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/internal/testcert"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
)

// get answers GET url through client (nil: http.DefaultClient) with its
// status and JSON body; a refused connection is status 0.
func get(t *testing.T, client *http.Client, url string, header http.Header) (int, map[string]any) {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: %d, body %q is not JSON", url, res.StatusCode, body)
	}
	return res.StatusCode, out
}

// upgradeHeader is the header of a WebSocket handshake.
var upgradeHeader = http.Header{
	"Connection":            {"Upgrade"},
	"Upgrade":               {"websocket"},
	"Sec-Websocket-Version": {"13"},
	"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
}

// freeAddr is a loopback address with a port free a moment ago: an API
// listener apart from the WebSocket one ("127.0.0.1:0" for both is one
// listener).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startUnserved starts the actors and a listening server, with a
// WebSocket and an API listener, that has not been handed them yet.
func startUnserved(t *testing.T, edit func(*transport.Config)) (*transport.Server, *actors.Broker) {
	t.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	ac, tc := defaultConfigs()
	tc.APIListen = freeAddr(t)
	if edit != nil {
		edit(&tc)
	}
	b, err := actors.Start(system, ac)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.New(tc)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = b.Stop(ctx)
		system.Shutdown()
	})
	return srv, b
}

// /readyz is 503 while the broker starts (the listeners are up, the
// broker not handed over: WebSocket upgrades and the API answer 503 with
// a JSON body), 200 while it serves, and 503 again from the start of a
// drain, while /healthz stays 200 until the listeners close.
func TestReadinessThroughStartServeAndDrain(t *testing.T) {
	srv, b := startUnserved(t, nil)
	api, ws := "http://"+srv.APIAddr().String(), "http://"+srv.WebSocketAddr().String()

	if code, body := get(t, nil, api+"/readyz", nil); code != http.StatusServiceUnavailable || body["ready"] != false {
		t.Fatalf("starting: /readyz %d %v", code, body)
	}
	if code, _ := get(t, nil, api+"/healthz", nil); code != http.StatusOK {
		t.Fatalf("starting: /healthz %d", code)
	}
	if code, body := get(t, nil, ws+"/app/"+testKey+"?protocol=7", upgradeHeader); code != http.StatusServiceUnavailable || body["error"] == nil {
		t.Fatalf("starting: upgrade %d %v, want 503 with a JSON error", code, body)
	}
	if code, _ := get(t, nil, api+"/apps/"+testID+"/channels", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("starting: API %d", code)
	}

	srv.Serve(b)
	if code, body := get(t, nil, api+"/readyz", nil); code != http.StatusOK || body["ready"] != true {
		t.Fatalf("serving: /readyz %d %v", code, body)
	}
	c := pushertest.Connect(t, "ws://"+srv.WebSocketAddr().String(), testKey, testSecret)
	c.Subscribe("news")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := srv.Drain(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Drain = %d, %v; want the 1 socket", n, err)
	}
	if e := c.WaitClose(); e.Code != uint16(pusher.CloseReconnect) {
		t.Fatalf("closed with %d, want 4200", e.Code)
	}
	if code, _ := get(t, nil, api+"/readyz", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("draining: /readyz %d", code)
	}
	if code, _ := get(t, nil, api+"/healthz", nil); code != http.StatusOK {
		t.Fatalf("draining: /healthz %d", code)
	}
	if code, _ := get(t, nil, ws+"/app/"+testKey, upgradeHeader); code != 0 {
		t.Fatalf("draining: the WebSocket listener still answers (%d)", code)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, nil, api+"/healthz", nil); code != 0 {
		t.Fatalf("stopped: /healthz still answers (%d)", code)
	}
}

// Both listeners serve TLS (a wss:// client, https:// API calls); after
// the certificate files are replaced and reloaded, the open connection
// goes on and a new handshake gets the new certificate. A reload that
// cannot read the files keeps the certificate served.
func TestTLSListenersAndCertificateReload(t *testing.T) {
	dir := t.TempDir()
	first := testcert.Write(t, dir, "server")
	files := transport.TLSFiles{CertFile: first.CertFile, KeyFile: first.KeyFile}
	srv, b := startUnserved(t, func(tc *transport.Config) { tc.WebSocketTLS, tc.APITLS = files, files })
	srv.Serve(b)
	if !strings.HasPrefix(srv.WebSocketURL(), "wss://") || !strings.HasPrefix(srv.APIURL(), "https://") {
		t.Fatalf("URLs %s %s", srv.WebSocketURL(), srv.APIURL())
	}

	c := pushertest.ConnectTLS(t, srv.WebSocketURL(), testKey, testSecret, first.ClientConfig())
	c.Subscribe("news")
	trusted := x509.NewCertPool()
	trusted.AddCert(first.Leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: trusted, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	api := pushertest.API{T: t, Base: srv.APIURL(), ID: testID, Key: testKey, Secret: testSecret, Client: client}
	api.Trigger("news", "before", "1", nil)
	c.Expect("before")
	if res, err := http.Get("http://" + srv.APIAddr().String() + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS listener: %d, want crypto/tls's 400", res.StatusCode)
		}
	}

	second := testcert.Write(t, dir, "server") // replaces the files
	if err := srv.ReloadCertificates(files, files); err != nil {
		t.Fatal(err)
	}
	trusted.AddCert(second.Leaf)
	api.Trigger("news", "after", "2", nil) // the open connection still gets events
	c.Expect("after")
	if got := peerSerial(t, srv.WebSocketAddr().String(), trusted); got != second.Leaf.SerialNumber.String() {
		t.Fatalf("a new handshake got serial %s, want the new certificate's %s", got, second.Leaf.SerialNumber)
	}
	c2 := pushertest.ConnectTLS(t, srv.WebSocketURL(), testKey, testSecret, second.ClientConfig())
	c2.Subscribe("news")

	if err := os.WriteFile(filepath.Join(dir, "server-key.pem"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadCertificates(files, files); err == nil || !strings.Contains(err.Error(), files.KeyFile) {
		t.Fatalf("reload of a broken key: %v, want an error naming it", err)
	}
	if got := peerSerial(t, srv.APIAddr().String(), trusted); got != second.Leaf.SerialNumber.String() {
		t.Fatalf("after a failed reload the API serves serial %s, want %s", got, second.Leaf.SerialNumber)
	}
}

// peerSerial is the serial number of the certificate a TLS handshake with
// addr gets.
func peerSerial(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// A certificate that cannot be loaded stops New with the files named.
func TestTLSBadCertificateIsAStartError(t *testing.T) {
	_, tc := defaultConfigs()
	tc.APIListen = freeAddr(t)
	tc.WebSocketTLS = transport.TLSFiles{CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"}
	if _, err := transport.New(tc); err == nil || !strings.Contains(err.Error(), "/nonexistent/cert.pem") {
		t.Fatalf("New: %v", err)
	}
}

// Update changes the connection caps while the server runs: a socket past
// the new cap is refused with 503, the open ones stay.
func TestUpdateLimitsLive(t *testing.T) {
	b := startBroker(t)
	_, tc := defaultConfigs()
	first := b.connect()
	l := tc.Limits
	l.MaxConnections = 1
	if err := b.srv.Update(l); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, nil, "http://"+b.srv.WebSocketAddr().String()+"/app/"+testKey, upgradeHeader); code != http.StatusServiceUnavailable {
		t.Fatalf("upgrade past the new cap: %d, want 503", code)
	}
	first.Subscribe("still-open")
	l.MaxConnections = 0
	if err := b.srv.Update(l); err != nil {
		t.Fatal(err)
	}
	b.connect()
	if err := b.srv.Update(transport.Limits{}); err == nil {
		t.Fatal("Update took limits without a write queue or body size")
	}
}
