package herald

import (
	"crypto/rand"
	"net"
	"strings"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
)

// dashboardToken returns the dashboard's token: dashboard.token when set;
// in dev mode without one, a random token (made true), whose URL Start
// logs so that the dashboard works out of the box on a developer's
// machine; otherwise "" (the dashboard is off).
func dashboardToken(cfg config.Config) (token string, made bool) {
	if cfg.Dashboard.Token != "" {
		return cfg.Dashboard.Token, false
	}
	if cfg.DevMode {
		return rand.Text(), true
	}
	return "", false
}

// logDashboard says where the dashboard is. A generated token is in the
// URL's fragment (the browser keeps it, no server log ever sees it); a
// configured token is never logged.
func (h *Herald) logDashboard() {
	if h.dash == nil {
		return
	}
	url := "/dashboard/" // Options.NoListeners: on the program's own server (APIHandler)
	if h.listen {
		url = browsable(h.server.APIURL()) + url
	}
	if h.dashMade {
		h.log.Info("dashboard (dev mode, token made for this run)", "url", url+"#token="+h.dashToken)
		return
	}
	h.log.Info("dashboard enabled (dashboard.token)", "url", url)
}

// browsable is base (scheme://host:port) as a browser on this machine
// reaches it: an unspecified host (0.0.0.0, ::) becomes the loopback
// address.
func browsable(base string) string {
	scheme, addr, ok := strings.Cut(base, "://")
	if !ok {
		return base
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return base
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// startedBroker is the broker the dashboard asks, once Start has started
// it. The listeners serve the dashboard only after Start set h.broker and
// then called Serve, which publishes it to them (transport's ready flag),
// so reading it here needs no lock.
type startedBroker struct{ h *Herald }

func (s startedBroker) Apps() []*actors.App { return s.h.broker.Apps() }
func (s startedBroker) Channels(req *actors.ChannelsRequest) (*actors.ChannelsResponse, error) {
	return s.h.broker.Channels(req)
}
