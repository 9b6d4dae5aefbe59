package e2e

import (
	"crypto/rand"
	"os"
	"testing"

	"github.com/herald-push/herald/config"
)

// dashboardFile is the dashboard's browser test, run alone against a
// broker with dashboard.token set (its counts must not see other tests).
const dashboardFile = "dashboard/dashboard.test.mjs"

// TestDashboardBrowser runs dashboardFile: the dashboard page in headless
// Chromium (Debian's, through playwright-core) against a Herald with
// dashboard.token set, while pusher-js clients and the pusher SDK make the
// traffic it must show. Screenshots go to E2E_SCREENSHOTS when set (kept),
// else to the test's temporary folder.
func TestDashboardBrowser(t *testing.T) {
	node := requireNode(t)
	token := rand.Text()
	h := startHerald(t, func(c *config.Config) { c.Dashboard.Token = token })
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	runNodeAt(t, node, h.WebSocketAddr().String(), h.APIAddr().String(), []string{dashboardFile},
		"E2E_DASHBOARD_TOKEN="+token, "E2E_SCREENSHOTS="+shots)
}
