package web_test

import (
	"os"
	"strings"
	"testing"

	"github.com/herald-push/herald/web"
)

// The page and its two files are served as they are in the repository,
// with a policy that lets them load only themselves; they hold no data.
func TestDashboardHandler(t *testing.T) {
	h := web.DashboardHandler()
	for path, file := range map[string]string{
		"/dashboard/":              "dashboard/index.html",
		"/dashboard/index.html":    "dashboard/index.html",
		"/dashboard/dashboard.js":  "dashboard/dashboard.js",
		"/dashboard/dashboard.css": "dashboard/dashboard.css",
	} {
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		w := do(t, h, "GET", path, nil, nil)
		if w.Code != 200 || w.Body.String() != string(want) {
			t.Errorf("%s: %d, body differs from %s", path, w.Code, file)
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if w.Header().Get("Referrer-Policy") != "no-referrer" || w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%s: headers %v", path, w.Header())
		}
	}
	if w := do(t, h, "GET", "/dashboard/", nil, nil); !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("page Content-Type %q", w.Header().Get("Content-Type"))
	}
	if w := do(t, h, "GET", "/dashboard", nil, nil); w.Code != 301 || w.Header().Get("Location") != "/dashboard/" {
		t.Errorf("/dashboard: %d %q, want a redirect to /dashboard/", w.Code, w.Header().Get("Location"))
	}
	if w := do(t, h, "GET", "/dashboard/secret.txt", nil, nil); w.Code != 404 || !strings.Contains(w.Body.String(), `"code":404`) {
		t.Errorf("unknown file: %d %s", w.Code, w.Body)
	}
	if w := do(t, h, "POST", "/dashboard/", nil, nil); w.Code != 405 {
		t.Errorf("POST: %d, want 405", w.Code)
	}
}
