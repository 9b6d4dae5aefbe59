package web

import (
	"embed"
	"net/http"

	"github.com/herald-push/herald/pusher"
)

//go:embed dashboard/index.html dashboard/dashboard.js dashboard/dashboard.css
var dashboardFS embed.FS

// dashboardPolicy lets the page load only its own files and talk only to
// its own origin (the data endpoints and the event stream).
const dashboardPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// DashboardHandler serves the dashboard's page under /dashboard/: the
// page at /dashboard/ (and /dashboard/index.html), dashboard.js and
// dashboard.css, plain files with no build step. They hold no token and
// no data: the page asks for the token (or takes it from the URL
// fragment, #token=…) and fetches the data from /dashboard/api/, which
// the dashboard package serves. /dashboard redirects to /dashboard/;
// other paths are JSON 404s.
func DashboardHandler() http.Handler {
	page := func(name, ctype string) *asset {
		return newAsset(mustRead(dashboardFS, "dashboard/"+name), ctype, demoCache)
	}
	files := map[string]*asset{
		"/dashboard/":              page("index.html", htmlType),
		"/dashboard/index.html":    page("index.html", htmlType),
		"/dashboard/dashboard.js":  page("dashboard.js", jsType),
		"/dashboard/dashboard.css": page("dashboard.css", cssType),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dashboard" {
			http.Redirect(w, r, "/dashboard/", http.StatusMovedPermanently)
			return
		}
		f, ok := files[r.URL.Path]
		if !ok {
			pusher.WriteError(w, http.StatusNotFound, "not found: "+pusher.Truncate(r.URL.Path, 200))
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", dashboardPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		f.ServeHTTP(w, r)
	})
}
