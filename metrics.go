package herald

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is what GET /metrics serves (metrics.enabled), in the Prometheus
// text format, from a registry of its own (no global state: two brokers in
// one process do not share it).
//
// Counters and histograms are fed by observations: metrics is an
// actors.Observer, told once per connection, subscription, API request,
// publish, client event and webhook request, never per delivered frame.
// What changes per frame or per subscriber is read at scrape time instead
// (live): the apps' Gauges (subscriptions and channels by class, kept by
// the channel actors with atomics) and the transport's Traffic (frames and
// bytes, counted per socket). The webhook actors set the queue depth gauge.
//
// Every series is labelled by app (its id, or its key when it has none),
// never by channel or socket, so the number of series stays bounded.
type metrics struct {
	reg  *prometheus.Registry
	live *liveCollector

	connOpen, hookDepth *prometheus.GaugeVec
	connTotal, connClosed, subRefused, apiRequests, published, deliveries,
	clientEvents, clientRefused, hookSent, hookRetries, hookDropped, quota, errs *prometheus.CounterVec
	apiDuration, fanout, hookDuration *prometheus.HistogramVec

	// The series of the observations that come with every publish, API
	// request and connection, looked up once per app (and route): a
	// publish then costs a map read, not the hashing and matching of its
	// labels (WithLabelValues was 0.32 s of the metrics' 0.51 s over the
	// publish runs of issue #12's second pass). Apps and routes are the
	// configured ones, so both stay small.
	apps   sync.Map // app name → *appSeries
	routes sync.Map // apiRoute → *routeSeries
}

// appSeries are one app's series of the frequent observations.
type appSeries struct {
	connOpen                                       prometheus.Gauge
	connTotal, published, deliveries, clientEvents prometheus.Counter
	fanout                                         prometheus.Observer
}

// apiRoute names an API request's series: app, endpoint and status.
type apiRoute struct {
	app, endpoint string
	code          int
}

type routeSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// app returns app's series, made on its first observation.
func (m *metrics) app(app string) *appSeries {
	if v, ok := m.apps.Load(app); ok {
		return v.(*appSeries)
	}
	v, _ := m.apps.LoadOrStore(app, &appSeries{
		connOpen: m.connOpen.WithLabelValues(app), connTotal: m.connTotal.WithLabelValues(app),
		published: m.published.WithLabelValues(app), deliveries: m.deliveries.WithLabelValues(app),
		clientEvents: m.clientEvents.WithLabelValues(app), fanout: m.fanout.WithLabelValues(app),
	})
	return v.(*appSeries)
}

// route returns the series of an API request of app to path (a route
// pattern) answered with code.
func (m *metrics) route(app, path string, code int) *routeSeries {
	k := apiRoute{app: app, endpoint: path, code: code}
	if v, ok := m.routes.Load(k); ok {
		return v.(*routeSeries)
	}
	endpoint := endpointOf(path)
	v, _ := m.routes.LoadOrStore(k, &routeSeries{
		requests: m.apiRequests.WithLabelValues(app, endpoint, strconv.Itoa(code)),
		duration: m.apiDuration.WithLabelValues(app, endpoint),
	})
	return v.(*routeSeries)
}

// quotas are the limits a refusal is counted under (the Detail of an
// ObservedError that a limit refused).
var quotas = map[string]bool{
	actors.QuotaAppConnections: true, actors.QuotaBackendEvents: true, actors.QuotaReadRequests: true,
	actors.QuotaWriteQueue: true, actors.QuotaConnections: true, actors.QuotaConnectionsPerIP: true,
}

func newMetrics(apps []config.App) *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &metrics{
		reg:         prometheus.NewRegistry(),
		live:        &liveCollector{},
		connOpen:    gauge("herald_connections_open", "Open WebSocket connections.", "app"),
		connTotal:   counter("herald_connections_total", "WebSocket connections opened.", "app"),
		connClosed:  counter("herald_connections_closed_total", "WebSocket connections closed, by close code (the server's, else the client's; 1006: none).", "app", "code"),
		subRefused:  counter("herald_subscriptions_refused_total", "Subscriptions refused, by the status of pusher:subscription_error.", "app", "code"),
		apiRequests: counter("herald_api_requests_total", "HTTP API requests answered, by endpoint and HTTP status.", "app", "endpoint", "code"),
		apiDuration: histogram("herald_api_request_duration_seconds", "Time to answer an HTTP API request.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}, "app", "endpoint"),
		published:  counter("herald_events_published_total", "Events published through the HTTP API, one per channel.", "app"),
		deliveries: counter("herald_event_deliveries_total", "Subscribers (sockets and server-side subscribers) the published events were written to (single node; a cluster's fan-out is not counted).", "app"),
		fanout: histogram("herald_event_fanout_size", "Subscribers one published event was written to (single node).",
			[]float64{0, 1, 4, 16, 64, 256, 1024, 4096, 16384, 65536}, "app"),
		clientEvents:  counter("herald_client_events_total", "Client events relayed.", "app"),
		clientRefused: counter("herald_client_events_refused_total", "Client events refused, by reason.", "app", "reason"),
		hookSent:      counter("herald_webhook_events_sent_total", "Webhook events delivered (accepted with 2xx).", "app"),
		hookRetries:   counter("herald_webhook_retries_total", "Webhook requests that failed and were retried.", "app"),
		hookDropped:   counter("herald_webhook_events_dropped_total", "Webhook events dropped, by reason.", "app", "reason"),
		hookDepth:     gauge("herald_webhook_queue_depth", "Webhook events queued or in flight.", "app"),
		hookDuration: histogram("herald_webhook_delivery_duration_seconds", "Time a receiver took to accept a webhook request.",
			prometheus.DefBuckets, "app"),
		quota: counter("herald_quota_refusals_total", "Refusals by a configured limit, by its key.", "app", "cause"),
		errs:  counter("herald_errors_total", "Errors sent to clients (pusher:error codes) and refusals (close codes, HTTP statuses), by code.", "app", "code"),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), m.live,
		m.connOpen, m.connTotal, m.connClosed, m.subRefused, m.apiRequests, m.apiDuration, m.published, m.deliveries,
		m.fanout, m.clientEvents, m.clientRefused, m.hookSent, m.hookRetries, m.hookDropped, m.hookDepth, m.hookDuration,
		m.quota, m.errs)
	m.declare(apps)
	return m
}

// declare makes each app's main series exist, at 0: at start, and for the
// apps a reload adds.
func (m *metrics) declare(apps []config.App) {
	for _, a := range apps {
		name := appName(a)
		m.connOpen.WithLabelValues(name)
		m.connTotal.WithLabelValues(name)
		m.published.WithLabelValues(name)
		m.deliveries.WithLabelValues(name)
		m.clientEvents.WithLabelValues(name)
		if len(a.Webhooks) > 0 {
			m.hookSent.WithLabelValues(name)
			m.hookDepth.WithLabelValues(name)
		}
	}
}

// appName names an app as the actors do (actors.App.Name).
func appName(a config.App) string {
	if a.ID != "" {
		return a.ID
	}
	return a.Key
}

// attachServer gives the scrape-time collector the server (New, before
// any listener opens); attachBroker the broker once it runs (Start, while
// the listeners may already serve a scrape: until then the live series
// are left out).
func (m *metrics) attachServer(s *transport.Server) { m.live.server = s }

func (m *metrics) attachBroker(b *actors.Broker) { m.live.broker.Store(b) }

// handler serves the registry; at most a few scrapes run at once (each
// walks the open sockets).
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
}

// queueDepth is the QueueDepth of one webhook actor of app. Each actor
// adds the change of its own depth (it calls this from its turns, one at a
// time), so while a reload's new actor runs and the one it replaced
// flushes, the gauge is the sum of both.
func (m *metrics) queueDepth(app string) func(int) {
	g := m.hookDepth.WithLabelValues(app)
	last := 0
	return func(n int) {
		g.Add(float64(n - last))
		last = n
	}
}

// Observe counts an observation. It is called on the reporter's goroutine;
// the client's vectors are safe for concurrent use and never block.
func (m *metrics) Observe(o *actors.Observation) {
	switch o.Kind {
	case actors.ObservedConnect:
		s := m.app(o.App)
		s.connOpen.Inc()
		s.connTotal.Inc()
	case actors.ObservedDisconnect:
		m.app(o.App).connOpen.Dec()
		m.connClosed.WithLabelValues(o.App, closeLabel(o.Code)).Inc()
	case actors.ObservedSubscribeRefused:
		m.subRefused.WithLabelValues(o.App, strconv.Itoa(o.Code)).Inc()
	case actors.ObservedAPI:
		r := m.route(o.App, o.Path, o.Code)
		r.requests.Inc()
		r.duration.Observe(o.Duration.Seconds())
	case actors.ObservedPublish:
		s := m.app(o.App)
		s.published.Inc()
		if o.Count >= 0 {
			s.deliveries.Add(float64(o.Count))
			s.fanout.Observe(float64(o.Count))
		}
	case actors.ObservedClientEvent:
		m.app(o.App).clientEvents.Inc()
	case actors.ObservedClientRefused:
		m.clientRefused.WithLabelValues(o.App, o.Detail).Inc()
		if o.Detail == actors.ClientEventRefusedRate {
			m.quota.WithLabelValues(o.App, actors.QuotaClientEventRate).Inc()
		}
	case actors.ObservedWebhook:
		m.hookSent.WithLabelValues(o.App).Add(float64(o.Count))
		m.hookDuration.WithLabelValues(o.App).Observe(o.Duration.Seconds())
	case actors.ObservedWebhookRetry:
		m.hookRetries.WithLabelValues(o.App).Inc()
	case actors.ObservedWebhookFailed:
		m.hookDropped.WithLabelValues(o.App, o.Detail).Add(float64(o.Count))
	case actors.ObservedError:
		m.errs.WithLabelValues(o.App, strconv.Itoa(o.Code)).Inc()
		if quotas[o.Detail] {
			m.quota.WithLabelValues(o.App, o.Detail).Inc()
		}
	}
}

// closeLabel is a close code as a label value. A client may close with
// any code from 3000 to 4999: those that are not RFC 6455's or the
// server's own are counted as "other", so a client cannot add series.
func closeLabel(code int) string {
	switch {
	case code >= 1000 && code <= 1015, serverCloseCodes[code]:
		return strconv.Itoa(code)
	}
	return "other"
}

// serverCloseCodes are the codes Herald closes sockets with.
var serverCloseCodes = map[int]bool{
	int(pusher.CloseAppNotFound): true, int(pusher.CloseOverQuota): true, int(pusher.CloseUnsupportedProtocol): true,
	int(pusher.CloseUnauthorized): true, int(pusher.CloseOverCapacity): true, int(pusher.CloseReconnect): true,
	int(pusher.ClosePongTimeout): true,
}

// endpointOf names an API route by its pattern after /apps/{app_id}/
// ("events", "channels/{channel_name}"); "unknown" for a path that
// matched none.
func endpointOf(path string) string {
	if e, ok := strings.CutPrefix(path, "/apps/{app_id}/"); ok {
		return e
	}
	return "unknown"
}

// liveCollector reads, at scrape time, what is counted too often to be
// observed: subscriptions and channels by class, and WebSocket traffic.
type liveCollector struct {
	broker atomic.Pointer[actors.Broker] // nil until Start has started it
	server *transport.Server             // set by New, before any scrape
}

var (
	subscriptionsDesc = prometheus.NewDesc("herald_subscriptions", "Subscriptions on this node, by channel kind (public, private, presence, encrypted, cache).", []string{"app", "kind"}, nil)
	channelsDesc      = prometheus.NewDesc("herald_channels", "Channels with a subscriber on this node, by kind (public, private, presence, encrypted, cache).", []string{"app", "kind"}, nil)
	receivedDesc      = prometheus.NewDesc("herald_websocket_messages_received_total", "WebSocket frames received from clients.", []string{"app"}, nil)
	sentDesc          = prometheus.NewDesc("herald_websocket_messages_sent_total", "WebSocket frames written to clients (events, errors, pongs; close frames not included).", []string{"app"}, nil)
	sentBytesDesc     = prometheus.NewDesc("herald_websocket_sent_bytes_total", "Bytes of the WebSocket frames written to clients, framing included.", []string{"app"}, nil)
)

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{subscriptionsDesc, channelsDesc, receivedDesc, sentDesc, sentBytesDesc} {
		ch <- d
	}
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.broker.Load()
	if b == nil {
		return
	}
	traffic := c.server.Traffic()
	for _, a := range b.Apps() {
		name, g := a.Name(), a.Gauges()
		for class := range actors.NumClasses {
			kind := class.String()
			ch <- prometheus.MustNewConstMetric(subscriptionsDesc, prometheus.GaugeValue, float64(g.Subscriptions(class)), name, kind)
			ch <- prometheus.MustNewConstMetric(channelsDesc, prometheus.GaugeValue, float64(g.Channels(class)), name, kind)
		}
		t := traffic[name]
		ch <- prometheus.MustNewConstMetric(receivedDesc, prometheus.CounterValue, float64(t.MessagesIn), name)
		ch <- prometheus.MustNewConstMetric(sentDesc, prometheus.CounterValue, float64(t.MessagesOut), name)
		ch <- prometheus.MustNewConstMetric(sentBytesDesc, prometheus.CounterValue, float64(t.BytesOut), name)
	}
}
