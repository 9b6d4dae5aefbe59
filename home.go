package herald

import (
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/web"
)

// homePage is the page GET / answers on the API listener: name, version
// and links, never a key, a secret or the dashboard's token.
func homePage(cfg config.Config, dashboard bool) http.Handler {
	return web.HomeHandler(web.Home{
		Version:   buildVersion(),
		Demo:      cfg.DevMode,
		Dashboard: dashboard,
	})
}

// buildVersion is the module version the binary was built from ("(devel)"
// for a build from a checkout), its VCS revision when the build recorded
// one, and the Go version.
func buildVersion() string {
	v := "(devel)"
	info, ok := debug.ReadBuildInfo()
	if ok && info.Main.Version != "" {
		v = info.Main.Version
	}
	if ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v + " (" + runtime.Version() + ")"
}
