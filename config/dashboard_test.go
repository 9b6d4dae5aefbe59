package config

import (
	"strings"
	"testing"
)

const testToken = "dash-token-0123456789abcdef"

// dashboard.token comes from the file, HERALD_DASHBOARD_TOKEN and
// --dashboard.token, each over the one before; it is off by default.
func TestLoadDashboardToken(t *testing.T) {
	if got := Default().Dashboard.Token; got != "" {
		t.Fatalf("default dashboard.token = %q, want empty (off)", got)
	}
	file := writeConfig(t, "c.yaml", "dashboard:\n  token: file-"+testToken+"\n")
	tests := []struct {
		name      string
		args, env []string
		want      string
	}{
		{"none", nil, nil, ""},
		{"file", []string{"--config", file}, nil, "file-" + testToken},
		{"env over file", []string{"--config", file}, []string{"HERALD_DASHBOARD_TOKEN=env-" + testToken}, "env-" + testToken},
		{"flag over env", []string{"--config", file, "--dashboard.token=flag-" + testToken}, []string{"HERALD_DASHBOARD_TOKEN=env-" + testToken}, "flag-" + testToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Dashboard.Token != tt.want {
				t.Errorf("dashboard.token = %q, want %q", c.Dashboard.Token, tt.want)
			}
		})
	}
	if !strings.Contains(Usage(), "--dashboard.token") {
		t.Error("Usage() does not list --dashboard.token")
	}
}

// A token too short to resist guessing, or one that does not fit a header
// unchanged, is refused, and the error never quotes it.
func TestValidateDashboardToken(t *testing.T) {
	for _, bad := range []string{"short", "has a space 0123456789", "tab\t0123456789abcdef", "non-ascii-é-0123456789"} {
		c := validConfig()
		c.Dashboard.Token = bad
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "dashboard.token") {
			t.Errorf("token %q: Validate() = %v, want an error naming dashboard.token", bad, err)
			continue
		}
		if strings.Contains(err.Error(), bad) {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
	c := validConfig()
	c.Dashboard.Token = testToken
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() with a good token = %v", err)
	}
}

// A token of the wrong type in a file is reported without its value.
func TestLoadDashboardTokenErrorHidesIt(t *testing.T) {
	for _, content := range []string{
		"dashboard:\n  token: [" + testToken + "]\n",
		"dashboard:\n  token: {" + testToken + ": 1}\n",
		"dashboard:\n  token: " + testToken + "\n  tokn: " + testToken + "\n",
	} {
		_, err := Load([]string{"--config", writeConfig(t, "c.yaml", content)}, nil)
		if err == nil {
			t.Errorf("Load(%q) succeeded, want an error", content)
			continue
		}
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

// check-config prints the configuration with dashboard.token masked.
func TestDashboardTokenMaskedInYAML(t *testing.T) {
	c := validConfig()
	c.Dashboard.Token = testToken
	out := string(c.YAML())
	if strings.Contains(out, testToken) || !strings.Contains(out, "dashboard:\n  token: ") {
		t.Errorf("YAML() shows the token or no dashboard section:\n%s", out)
	}
	back, err := Load([]string{"--config", writeConfig(t, "c.yaml", out)}, nil)
	if err != nil || back.Dashboard.Token != masked {
		t.Errorf("the printed YAML loads back (%v) with token %q, want the mask", err, back.Dashboard.Token)
	}
}
