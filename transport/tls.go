package transport

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// TLSFiles are a listener's PEM certificate chain and private key. Zero
// serves plain ws:// or http://.
type TLSFiles struct {
	CertFile, KeyFile string
}

func (f TLSFiles) enabled() bool { return f != TLSFiles{} }

// certificate is a listener's certificate, swapped whole by reload while
// the listener runs: a TLS handshake reads it through GetCertificate, so a
// renewed certificate is served to new connections and open ones are left
// alone.
type certificate struct {
	cur atomic.Pointer[tls.Certificate]
}

// loadCertificate reads files; the error names them, never the key.
func loadCertificate(files TLSFiles) (*certificate, error) {
	c := &certificate{}
	if err := c.reload(files); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads files and serves them from the next handshake on; on error
// the certificate served so far stays.
func (c *certificate) reload(files TLSFiles) error {
	cert, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
	if err != nil {
		return fmt.Errorf("cannot load the certificate %s and key %s: %w", files.CertFile, files.KeyFile, err)
	}
	c.cur.Store(&cert)
	return nil
}

// config is the listener's tls.Config. It offers HTTP/1.1 only: a
// WebSocket upgrade needs it (RFC 6455 over HTTP/2 is another protocol),
// and the API gains nothing from HTTP/2.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}
