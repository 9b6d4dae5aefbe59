package herald_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/pusher"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs url (a /metrics) and parses the Prometheus text it answers.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %q", url, res.StatusCode, res.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("GET %s: not the Prometheus text format: %v", url, err)
	}
	return fams
}

// series names one series: a metric and some of its labels ("name" alone
// for the whole family's sum). For a histogram, "_count" and "_sum" after
// the name select those.
type series struct {
	name   string
	labels map[string]string
}

func (s series) String() string {
	var ls []string
	for k, v := range s.labels {
		ls = append(ls, k+"="+v)
	}
	sort.Strings(ls)
	return s.name + "{" + strings.Join(ls, ",") + "}"
}

// value is the sum of the series of fams that carry s's labels, and
// whether any does.
func (s series) value(fams map[string]*dto.MetricFamily) (float64, bool) {
	name, part := s.name, ""
	for _, suffix := range []string{"_count", "_sum"} {
		if base, ok := strings.CutSuffix(s.name, suffix); ok && fams[base] != nil && fams[base].GetType() == dto.MetricType_HISTOGRAM {
			name, part = base, suffix
		}
	}
	f := fams[name]
	if f == nil {
		return 0, false
	}
	sum, found := 0.0, false
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range s.labels {
			if have[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil && part == "_count":
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Histogram != nil && part == "_sum":
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return sum, found
}

// want is the value a series must have.
type want struct {
	s series
	v float64
}

// expectMetrics scrapes url until every series has its value, or fails
// after a generous bound with every one that has not.
func expectMetrics(t *testing.T, url string, wants []want) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		fams := scrape(t, url)
		var wrong []string
		for _, w := range wants {
			got, ok := w.s.value(fams)
			if !ok || got != w.v {
				wrong = append(wrong, fmt.Sprintf("%s = %v (present %v), want %v", w.s, got, ok, w.v))
			}
		}
		if len(wrong) == 0 {
			return fams
		}
		if time.Now().After(deadline) {
			sort.Strings(wrong)
			t.Fatalf("metrics at %s:\n%s", url, strings.Join(wrong, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func app(name string, labels ...string) series {
	s := series{name: name, labels: map[string]string{"app": "app-id"}}
	for i := 0; i+1 < len(labels); i += 2 {
		s.labels[labels[i]] = labels[i+1]
	}
	return s
}

// A scripted session with real clients, a real webhook receiver and
// signed API calls, then GET /metrics over HTTP: every value is what was
// done.
func TestMetricsCountTheSession(t *testing.T) {
	rec := newReceiver(t, 1) // the first webhook request fails once: one retry
	r := start(t, func(c *config.Config) {
		c.Apps[0].ID = "app-id" // the label is the id
		c.Apps[0].MaxReadRequestsPerSecond = 1
		c.Apps[0].Webhooks = []config.Webhook{{URL: rec.srv.URL, Format: "pusher"}}
		c.Webhooks.BatchWindow = 20 * time.Millisecond
	})
	url := "http://" + r.h.APIAddr().String() + "/metrics"
	if r.h.MetricsAddr().String() != r.h.APIAddr().String() {
		t.Fatalf("metrics at %s, want the API listener %s", r.h.MetricsAddr(), r.h.APIAddr())
	}

	// 3 connections: 2 public subscriptions, 1 presence.
	a, b, c := r.connect(t), r.connect(t), r.connect(t)
	a.Subscribe("room-a")
	b.Subscribe("room-b")
	c.SubscribePresence("presence-lobby", "u1", map[string]string{"name": "Ann"})
	expectMetrics(t, url, []want{
		{app("herald_connections_open"), 3},
		{app("herald_connections_total"), 3},
		{app("herald_subscriptions", "kind", "public"), 2},
		{app("herald_subscriptions", "kind", "presence"), 1},
		{app("herald_subscriptions", "kind", "private"), 0},
		{app("herald_channels", "kind", "public"), 2},
		{app("herald_channels", "kind", "presence"), 1},
		{app("herald_channels", "kind", "cache"), 0},
		{app("herald_websocket_messages_received_total"), 3},
		{app("herald_webhook_queue_depth"), 0},
		{app("herald_events_published_total"), 0},
		{app("herald_client_events_total"), 0},
		{series{name: "herald_connections_open"}, 3}, // no other app label
	})
	fams := scrape(t, url)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s: the Go and process collectors are missing", name)
		}
	}

	// 5 API triggers: 3 on room-a, 2 on room-b, each to one subscriber.
	for i := range 5 {
		ch, to := "room-a", a
		if i >= 3 {
			ch, to = "room-b", b
		}
		r.api.Trigger(ch, "tick", fmt.Sprint(i), nil)
		to.Expect("tick")
	}
	// 2 client events relayed, 1 refused (a public channel).
	for range 2 {
		c.Send(map[string]any{"event": "client-typing", "channel": "presence-lobby", "data": map[string]int{"n": 1}})
	}
	a.Send(map[string]any{"event": "client-typing", "channel": "room-a", "data": map[string]int{"n": 1}})
	if f := a.Expect(pusher.EventError); !strings.Contains(fmt.Sprint(f["data"]), "4301") {
		t.Fatalf("refused client event: %v", f)
	}
	// Channel queries at 1 a second: the second one within the second is 429.
	ok, refused := 0, 0
	for i := 0; refused == 0 && i < 20; i++ {
		switch code, res := r.api.Call("GET", "/apps/app-id/channels", nil, nil); code {
		case 200:
			ok++
		case 429:
			refused++
		default:
			t.Fatalf("GET channels: %d %v", code, res)
		}
	}
	if refused != 1 {
		t.Fatalf("no 429 in %d channel queries", ok)
	}
	// The webhooks: 3 channel_occupied, 1 member_added, 2 client_event.
	events := rec.waitEvents(6)
	if len(events) != 6 {
		t.Fatalf("webhook events %+v", events)
	}

	// What the clients received, frame by frame and byte by byte.
	frames, bytes := 0, 0
	for _, cl := range []interface{ Received() (int, int) }{a, b, c} {
		f, n := cl.Received()
		frames, bytes = frames+f, bytes+n
	}
	if frames != 12 { // 3 connection_established, 3 subscription_succeeded, 5 events, 1 error
		t.Fatalf("clients received %d frames, want 12", frames)
	}
	rec.mu.Lock()
	posts := rec.posts
	rec.mu.Unlock()

	fams = expectMetrics(t, url, []want{
		{app("herald_connections_open"), 3},
		{app("herald_connections_total"), 3},
		{app("herald_events_published_total"), 5},
		{app("herald_event_deliveries_total"), 5},
		{app("herald_event_fanout_size_count"), 5},
		{app("herald_event_fanout_size_sum"), 5},
		{app("herald_client_events_total"), 2},
		{app("herald_client_events_refused_total", "reason", "channel_kind"), 1},
		{app("herald_client_events_refused_total"), 1},
		{app("herald_api_requests_total", "endpoint", "events", "code", "200"), 5},
		{app("herald_api_requests_total", "endpoint", "channels", "code", "200"), float64(ok)},
		{app("herald_api_requests_total", "endpoint", "channels", "code", "429"), 1},
		{app("herald_api_requests_total"), float64(5 + ok + 1)},
		{app("herald_api_request_duration_seconds_count", "endpoint", "events"), 5},
		{app("herald_api_request_duration_seconds_count"), float64(5 + ok + 1)},
		{app("herald_quota_refusals_total", "cause", "apps.max_read_requests_per_second"), 1},
		{app("herald_quota_refusals_total"), 1},
		{app("herald_errors_total", "code", "429"), 1},
		{app("herald_webhook_events_sent_total"), 6},
		{app("herald_webhook_retries_total"), 1},
		{app("herald_webhook_queue_depth"), 0},
		{app("herald_webhook_delivery_duration_seconds_count"), float64(posts - 1)},
		{app("herald_websocket_messages_received_total"), 6}, // 3 subscribes, 3 client events
		{app("herald_websocket_messages_sent_total"), 12},
		{app("herald_websocket_sent_bytes_total"), float64(bytes)},
	})

	if v, ok := app("herald_webhook_events_dropped_total").value(fams); ok && v != 0 {
		t.Errorf("herald_webhook_events_dropped_total = %v, want none", v)
	}

	// b closes (1000): its subscription and channel go, the close is counted.
	_ = b.Conn.WriteClose(1000, nil)
	expectMetrics(t, url, []want{
		{app("herald_connections_open"), 2},
		{app("herald_connections_total"), 3},
		{app("herald_connections_closed_total", "code", "1000"), 1},
		{app("herald_connections_closed_total"), 1},
		{app("herald_subscriptions", "kind", "public"), 1},
		{app("herald_channels", "kind", "public"), 1},
		{app("herald_subscriptions", "kind", "presence"), 1},
		{app("herald_websocket_messages_sent_total"), 12}, // b's traffic stays counted
		{app("herald_websocket_sent_bytes_total"), float64(bytes)},
	})
	// A code of the client's own choosing is counted, not named: clients
	// cannot add series.
	_ = c.Conn.WriteClose(4321, nil)
	expectMetrics(t, url, []want{
		{app("herald_connections_open"), 1},
		{app("herald_connections_closed_total", "code", "other"), 1},
		{app("herald_connections_closed_total"), 2},
		{app("herald_subscriptions", "kind", "presence"), 0},
		{app("herald_channels", "kind", "presence"), 0},
	})
}

// metrics.listen moves /metrics to a listener of its own; the API
// listener then answers it as any unknown path. metrics.enabled false
// serves it nowhere.
func TestMetricsListen(t *testing.T) {
	r := start(t, func(c *config.Config) { c.Metrics.Listen = "127.0.0.1:0" })
	if r.h.MetricsAddr().String() == r.h.APIAddr().String() {
		t.Fatalf("metrics on the API listener %s", r.h.APIAddr())
	}
	c := r.connect(t)
	c.Subscribe("on-its-own")
	expectMetrics(t, "http://"+r.h.MetricsAddr().String()+"/metrics", []want{
		{series{name: "herald_connections_open", labels: map[string]string{"app": "app-key"}}, 1},
		{series{name: "herald_subscriptions", labels: map[string]string{"app": "app-key", "kind": "public"}}, 1},
	})
	notFoundJSON(t, "GET /metrics on the API listener", get(t, "GET", "http://"+r.h.APIAddr().String()+"/metrics"))
	if p := get(t, "GET", "http://"+r.h.MetricsAddr().String()+"/apps/app-id/channels"); p.status != 404 {
		t.Errorf("the metrics listener serves the API: %d %s", p.status, p.body)
	}

	off := start(t, func(c *config.Config) { c.Metrics.Enabled = false })
	if off.h.MetricsAddr() != nil {
		t.Errorf("MetricsAddr = %v with metrics off", off.h.MetricsAddr())
	}
	notFoundJSON(t, "GET /metrics with metrics off", get(t, "GET", "http://"+off.h.APIAddr().String()+"/metrics"))
}

// A reload keeps the app's series (its gauges go on counting the
// connections and subscriptions it keeps), declares an added app's at 0,
// and a webhook actor it rebuilds reports to the metrics as the first
// one did: its deliveries are counted and its queue depth tracked.
func TestMetricsAcrossReload(t *testing.T) {
	first, second := newReceiver(t, 0), newReceiver(t, 0)
	var cfg config.Config
	r := start(t, func(c *config.Config) {
		c.Apps[0].ID = "app-id" // the label is the id
		c.Apps[0].Webhooks = []config.Webhook{{URL: first.srv.URL, Format: "pusher"}}
		c.Webhooks.BatchWindow, c.Webhooks.Debounce = 20*time.Millisecond, 0
		cfg = *c
	})
	url := "http://" + r.h.MetricsAddr().String() + "/metrics"
	a := r.connect(t)
	a.Subscribe("room-a")
	first.waitEvents(1) // channel_occupied room-a
	expectMetrics(t, url, []want{
		{app("herald_subscriptions", "kind", "public"), 1},
		{app("herald_webhook_events_sent_total"), 1},
	})

	next := cfg
	next.Apps = []config.App{cfg.Apps[0], config.App{ID: "added-id", Key: "added-key", Secret: "added-secret"}.WithDefaults()}
	next.Apps[0].Webhooks = []config.Webhook{{URL: second.srv.URL, Format: "pusher"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.h.Reload(ctx, next); err != nil {
		t.Fatal(err)
	}
	b := r.connect(t)
	b.Subscribe("room-b")
	if ev := second.waitEvents(1); len(ev) != 1 || ev[0].Channel != "room-b" {
		t.Fatalf("the rebuilt webhook actor sent %+v", ev)
	}
	expectMetrics(t, url, []want{
		{app("herald_subscriptions", "kind", "public"), 2}, // room-a was kept through the reload
		{app("herald_channels", "kind", "public"), 2},
		{app("herald_connections_open"), 2},
		{app("herald_webhook_events_sent_total"), 2}, // 1 by the first actor, 1 by the rebuilt one
		{app("herald_webhook_queue_depth"), 0},
		{series{name: "herald_connections_open", labels: map[string]string{"app": "added-id"}}, 0},
		{series{name: "herald_subscriptions", labels: map[string]string{"app": "added-id", "kind": "public"}}, 0},
	})
}

// observations records what an Observer is told, for a test.
type observations struct {
	mu   sync.Mutex
	seen []actors.Observation
}

func (o *observations) Observe(ob *actors.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, *ob)
}

// wait returns the first observation match accepts, waiting for it.
func (o *observations) wait(t *testing.T, what string, match func(actors.Observation) bool) actors.Observation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		for _, ob := range o.seen {
			if match(ob) {
				o.mu.Unlock()
				return ob
			}
		}
		o.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no observation: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A server-side subscriber is observed as a socket's subscriptions are
// (its SocketID is its stand-in's pseudo id), counts in the gauges, and
// is one of the subscribers a publish reports it was written to.
func TestServerSubscriberObserved(t *testing.T) {
	obs := &observations{}
	e := startIn(t, newSystem(t), herald.Options{Observers: []actors.Observer{obs}}, nil)
	sub := newInbox(e.system)
	ctx := context.Background()
	if err := e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "news", Subscriber: sub.pid}); err != nil {
		t.Fatal(err)
	}
	next[*herald.Subscribed](t, sub)
	s := obs.wait(t, "subscribe news", func(o actors.Observation) bool {
		return o.Kind == actors.ObservedSubscribe && o.Channel == "news"
	})
	if s.App != "app-id" || !strings.HasPrefix(s.SocketID, "server-") {
		t.Errorf("subscribe observed as %+v", s)
	}
	c := e.connect(t)
	c.Subscribe("news")
	e.api.Trigger("news", "headline", `{"n":1}`, nil)
	c.Expect("headline")
	next[*herald.ChannelEvent](t, sub)
	obs.wait(t, "publish headline to 2", func(o actors.Observation) bool {
		return o.Kind == actors.ObservedPublish && o.Event == "headline" && o.Count == 2
	})
	expectMetrics(t, "http://"+e.h.MetricsAddr().String()+"/metrics", []want{
		{app("herald_subscriptions", "kind", "public"), 2},
		{app("herald_event_deliveries_total"), 2},
	})

	if err := e.h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "#server-to-user-x", Subscriber: sub.pid}); err == nil {
		t.Fatal("a server-to-user channel was accepted")
	}
	obs.wait(t, "subscribe_refused", func(o actors.Observation) bool {
		return o.Kind == actors.ObservedSubscribeRefused && o.Channel == "#server-to-user-x" && o.Detail != ""
	})
	if err := e.h.Unsubscribe(herald.Unsubscribe{App: "app-key", Channel: "news", Subscriber: sub.pid}); err != nil {
		t.Fatal(err)
	}
	obs.wait(t, "unsubscribe news", func(o actors.Observation) bool {
		return o.Kind == actors.ObservedUnsubscribe && o.Channel == "news" && o.SocketID == s.SocketID
	})
	expectMetrics(t, "http://"+e.h.MetricsAddr().String()+"/metrics", []want{
		{app("herald_subscriptions", "kind", "public"), 1},
	})
}
