package transport_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/internal/pushertest"
	"github.com/herald-push/herald/transport"
)

const (
	testKey    = "app-key"
	testSecret = "app-secret"
	testID     = "app-id"
)

// broker is a real broker on 127.0.0.1:0: actors plus both listeners.
type broker struct {
	t   *testing.T
	b   *actors.Broker
	srv *transport.Server
	ws  string // ws://host:port
	api pushertest.API
}

type brokerOpt func(*actors.Config, *transport.Config)

func startBroker(t *testing.T, opts ...brokerOpt) *broker {
	t.Helper()
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	ac, tc := defaultConfigs()
	for _, o := range opts {
		o(&ac, &tc)
	}
	b, err := actors.Start(system, ac)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := transport.New(tc)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = b.Stop(ctx)
		if !system.IsStopped() { // a cluster member's Broker.Stop shuts it down
			system.Shutdown()
		}
	})
	return &broker{t: t, b: b, srv: srv, ws: "ws://" + srv.WebSocketAddr().String(),
		api: pushertest.API{T: t, Base: "http://" + srv.APIAddr().String(), ID: testID, Key: testKey, Secret: testSecret}}
}

// defaultConfigs are the actors' and listeners' settings of the test
// broker: two apps, ephemeral loopback ports and, for everything else,
// the defaults of config, the one place they are written down.
func defaultConfigs() (actors.Config, transport.Config) {
	d := config.Default()
	ac := actors.Config{
		Apps: []actors.AppConfig{
			testApp(config.App{ID: testID, Key: testKey, Secret: testSecret, ClientEvents: true}),
			testApp(config.App{Key: "quiet-key", Secret: "quiet-secret"}),
		},
		Timing:         actors.Timing{ActivityTimeout: d.WebSocket.ActivityTimeout, PongTimeout: d.WebSocket.PongTimeout},
		RequestTimeout: d.API.RequestTimeout,
		Fanout:         transport.Broadcaster{},
	}
	ws, api := d.WebSocket, d.API
	tc := transport.Config{
		WebSocketListen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		MaxMessageSize: ws.MaxMessageSize, ReadBufferSize: ws.ReadBufferSize,
		ActivityTimeout: ws.ActivityTimeout, PongTimeout: ws.PongTimeout,
		ReadHeaderTimeout: api.ReadHeaderTimeout, ReadTimeout: api.ReadTimeout,
		WriteTimeout: api.WriteTimeout, IdleTimeout: api.IdleTimeout,
		Limits: transport.Limits{WriteQueue: ws.WriteQueue, WriteQueueBytes: ws.WriteQueueBytes,
			MaxConnections: ws.MaxConnections, MaxConnectionsPerIP: ws.MaxConnectionsPerIP, MaxBodySize: api.MaxBodySize},
	}
	return ac, tc
}

// testApp is a as the actors take it, with config's per-app defaults.
func testApp(a config.App) actors.AppConfig {
	a = a.WithDefaults()
	return actors.AppConfig{ID: a.ID, Key: a.Key, Secret: a.Secret, ClientEvents: a.ClientEvents,
		ClientEventRate: a.ClientEventRate, MaxPresenceMembers: a.MaxPresenceMembers,
		MaxChannelsPerConnection: a.MaxChannelsPerConnection, CacheTTL: a.CacheTTL}
}

// dial connects to path ("/app/app-key?protocol=7") without waiting for the handshake.
func (b *broker) dial(path string) *pushertest.Client { return pushertest.Dial(b.t, b.ws+path) }

// connect dials the test app and reads connection_established.
func (b *broker) connect() *pushertest.Client {
	return pushertest.Connect(b.t, b.ws, testKey, testSecret)
}

func sign(secret, s string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}
