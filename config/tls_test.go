package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-push/herald/internal/testcert"
)

func TestValidateTLS(t *testing.T) {
	dir := t.TempDir()
	cert := testcert.Write(t, dir, "server")
	other := testcert.Write(t, dir, "other")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	good := TLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}

	tests := []struct {
		name   string
		change func(*Config)
		want   []string // empty: valid
	}{
		{"both listeners", func(c *Config) { c.WebSocket.TLS, c.API.TLS = good, good }, nil},
		{"websocket only", func(c *Config) { c.WebSocket.TLS = good }, nil},
		{"one listener, same files", func(c *Config) {
			c.API.Listen = c.WebSocket.Listen
			c.WebSocket.TLS, c.API.TLS = good, good
		}, nil},
		{"cert without key", func(c *Config) { c.WebSocket.TLS = TLS{CertFile: cert.CertFile} }, []string{"websocket.tls.key_file"}},
		{"key without cert", func(c *Config) { c.API.TLS = TLS{KeyFile: cert.KeyFile} }, []string{"api.tls.cert_file"}},
		{"missing file", func(c *Config) { c.WebSocket.TLS = TLS{CertFile: missing, KeyFile: cert.KeyFile} }, []string{"websocket.tls", missing, "no such file"}},
		{"not PEM", func(c *Config) { c.API.TLS = TLS{CertFile: garbage, KeyFile: cert.KeyFile} }, []string{"api.tls", garbage}},
		{"key of another certificate", func(c *Config) { c.API.TLS = TLS{CertFile: cert.CertFile, KeyFile: other.KeyFile} }, []string{"api.tls", "private key does not match"}},
		{"one listener, TLS on one side", func(c *Config) {
			c.API.Listen = c.WebSocket.Listen
			c.WebSocket.TLS = good
		}, []string{"api.tls", "one listener"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			key, _ := os.ReadFile(cert.KeyFile)
			if strings.Contains(err.Error(), strings.TrimSpace(string(key))[40:80]) {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}

func TestLoadTLSFromEnv(t *testing.T) {
	cert := testcert.Write(t, t.TempDir(), "server")
	got, err := Load(nil, []string{
		"HERALD_WEBSOCKET_TLS_CERT_FILE=" + cert.CertFile, "HERALD_WEBSOCKET_TLS_KEY_FILE=" + cert.KeyFile,
		"HERALD_API_TLS_CERT_FILE=" + cert.CertFile, "HERALD_API_TLS_KEY_FILE=" + cert.KeyFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := TLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	if got.WebSocket.TLS != want || got.API.TLS != want {
		t.Errorf("tls = %+v, %+v; want %+v for both", got.WebSocket.TLS, got.API.TLS, want)
	}
	got, err = Load([]string{"--api.tls.cert_file", cert.CertFile}, nil)
	if err == nil || !strings.Contains(err.Error(), "api.tls.key_file") {
		t.Errorf("cert without key: %v, want an error naming api.tls.key_file", err)
	}
}
