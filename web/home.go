package web

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/herald-push/herald/pusher"
)

// DocsURL is where Herald's documentation (its README) lives.
const DocsURL = "https://github.com/herald-push/herald"

// Home configures HomeHandler. Nothing in it is secret: the page is public.
type Home struct {
	// Version is the version line shown under the name, e.g. "v1.2.0
	// (go1.26.8)"; empty shows none.
	Version string
	// Demo links the demo chat at /demo/ (mounted only in dev mode).
	Demo bool
	// Dashboard links the dashboard at /dashboard/; when false the page
	// says how to turn it on instead (dashboard.token).
	Dashboard bool
}

// HomeHandler answers GET / with a short HTML page: Herald's name and
// version, and links to the demo (when Home.Demo), the dashboard, the
// JavaScript client and the documentation. Mount it at "/": it serves the
// exact path / only and answers every other path that reaches it (no more
// specific pattern matched) with 404 and Pusher's JSON error body, so it
// never shadows a route.
func HomeHandler(h Home) http.Handler {
	var b strings.Builder
	if err := homePage.Execute(&b, h); err != nil {
		panic("web: home page template: " + err.Error())
	}
	page := newAsset([]byte(b.String()), htmlType, demoCache)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			pusher.WriteError(w, http.StatusNotFound, "not found: "+pusher.Truncate(r.URL.Path, 200))
			return
		}
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		page.ServeHTTP(w, r)
	})
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald</title>
<style>
body { margin: 0 auto; max-width: 40em; padding: 16px; font: 16px/1.5 system-ui, sans-serif; color: #1d2330; }
h1 { margin: 0; font-size: 24px; }
.version { margin: 0 0 16px; color: #5b6270; font-size: 14px; overflow-wrap: anywhere; }
li { margin-bottom: 6px; }
code { font-size: 14px; }
</style>
</head>
<body>
<h1>Herald</h1>
<p class="version" id="version">A Pusher-protocol push broker{{with .Version}} · {{.}}{{end}}</p>
<ul>
{{- if .Demo}}
<li><a id="demo" href="/demo/">Demo chat</a> (dev mode only)</li>
{{- end}}
{{- if .Dashboard}}
<li><a id="dashboard" href="/dashboard/">Dashboard</a></li>
{{- else}}
<li id="dashboard">Dashboard: enabled with <code>dashboard.token</code></li>
{{- end}}
<li><a id="client" href="/push.js">JavaScript client</a> (<code>/push.js</code>; also at <code>/plugin/webman/push/push.js</code>)</li>
<li><a id="docs" href="` + DocsURL + `">Documentation</a></li>
</ul>
</body>
</html>
`))
