package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-push/herald/web"
)

func getPage(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(url) //nolint:gosec // G107: an httptest URL
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// Each option shows on the page; the version is escaped, not markup.
func TestHomeHandler(t *testing.T) {
	cases := []struct {
		name      string
		home      web.Home
		want, not []string
	}{
		{"production", web.Home{Version: "v1.2.0 (go1.26)"},
			[]string{"<h1>Herald</h1>", "v1.2.0 (go1.26)", "Dashboard: enabled with <code>dashboard.token</code>", `href="/push.js"`, `href="` + web.DocsURL + `"`},
			[]string{"/demo/", `href="/dashboard/"`}},
		{"dev with dashboard", web.Home{Version: "<b>x</b>", Demo: true, Dashboard: true},
			[]string{`href="/demo/"`, `href="/dashboard/"`, "&lt;b&gt;x&lt;/b&gt;"},
			[]string{"dashboard.token", "<b>x</b>"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(web.HomeHandler(c.home))
			defer srv.Close()
			code, h, body := getPage(t, srv.URL+"/")
			if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Fatalf("GET /: %d %v", code, h)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
			for _, n := range c.not {
				if strings.Contains(body, n) {
					t.Errorf("page has %q:\n%s", n, body)
				}
			}
			code, h, body = getPage(t, srv.URL+"/anything/else")
			if code != 404 || h.Get("Content-Type") != "application/json" || !strings.Contains(body, `"error":"not found: /anything/else"`) {
				t.Errorf("GET /anything/else: %d %q %s, want a JSON 404", code, h.Get("Content-Type"), body)
			}
		})
	}
}
