package herald

import (
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
)

// What one observation costs the metrics, on the goroutine that reports
// it (BENCHMARKS.md, Metrics cost):
//
//	go test -run '^$' -bench MetricsObserve -benchmem .
func BenchmarkMetricsObserve(b *testing.B) {
	m := newMetrics([]config.App{{ID: "app-id", Key: "app-key"}})
	for _, c := range []struct {
		name string
		o    actors.Observation
	}{
		{"publish", actors.Observation{Kind: actors.ObservedPublish, App: "app-id", Channel: "room", Event: "tick", Count: 200}},
		{"api", actors.Observation{Kind: actors.ObservedAPI, App: "app-id", Method: "POST", Path: "/apps/{app_id}/events", Code: 200, Duration: time.Millisecond}},
		{"client_event", actors.Observation{Kind: actors.ObservedClientEvent, App: "app-id", Channel: "private-room", Event: "client-typing"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				actors.Tell(m, c.o)
			}
		})
	}
}
