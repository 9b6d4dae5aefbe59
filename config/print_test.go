package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testcert"
)

// The printed configuration is YAML that loads back into the same
// configuration, secrets masked.
func TestYAMLLoadsBackMasked(t *testing.T) {
	cert := testcert.Write(t, t.TempDir(), "server")
	c := validConfig()
	c.WebSocket.TLS = TLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	c.WebSocket.AllowedOrigins = []string{"https://a.example", `https://quote"d.example`}
	c.Webhooks.Debounce = 0
	c.Apps[0].Webhooks[0].URL = "https://user:" + testSecret + "@hooks.example.com/x?a=1"
	c.Apps[0].Webhooks[0].Events = []string{"channel_occupied"}
	c.Apps = append(c.Apps, App{Key: "key-2", Secret: "second-" + testSecret, UserAuthenticationTimeout: 30 * time.Second}.WithDefaults())

	out := string(c.YAML())
	for _, leak := range []string{testSecret, "Bearer"} {
		if strings.Contains(out, leak) {
			t.Errorf("YAML shows %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{`secret: "********"`, cert.KeyFile, `"Authorization": "********"`, "hooks.example.com/x?a=1", "debounce: \"0s\""} {
		if !strings.Contains(out, want) {
			t.Errorf("YAML lacks %q:\n%s", want, out)
		}
	}

	got, err := Load([]string{"--config", writeConfig(t, "printed.yaml", out)}, nil)
	if err != nil {
		t.Fatalf("the printed YAML does not load: %v\n%s", err, out)
	}
	want := c
	for i := range want.Apps {
		want.Apps[i].Secret = masked
	}
	want.Apps[0].Webhooks = []Webhook{{URL: "https://user:xxxxx@hooks.example.com/x?a=1", Format: WebhookFormatPusher,
		Events: []string{"channel_occupied"}, Headers: map[string]string{"Authorization": masked}}}
	want.Apps[1].Webhooks = []Webhook{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded back\n%+v\nwant\n%+v\nfrom\n%s", got, want, out)
	}
}

func TestSecretKeys(t *testing.T) {
	for key, want := range map[string]bool{
		"secret": true, "token": true, "dashboard_token": true, "admin_password": true,
		"key": false, "key_file": false, "tokens_per_second": false, "cert_file": false,
	} {
		if isSecretKey(key) != want {
			t.Errorf("isSecretKey(%q) = %v, want %v", key, !want, want)
		}
	}
}
