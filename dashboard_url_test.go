package herald

import "testing"

// The logged dashboard URL is one a browser on this machine can open.
func TestBrowsable(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:3232":  "http://127.0.0.1:3232",
		"https://0.0.0.0:443":    "https://127.0.0.1:443",
		"http://[::]:3232":       "http://127.0.0.1:3232",
		"https://[::1]:8443":     "https://[::1]:8443",
		"http://10.1.2.3:3232":   "http://10.1.2.3:3232",
		"http://push.local:3232": "http://push.local:3232",
	} {
		if got := browsable(base); got != want {
			t.Errorf("browsable(%q) = %q, want %q", base, got, want)
		}
	}
}
