// Command embedded is a Go program that embeds Herald in its own
// ActorSystem and serves it on its own http.ServeMux: an actor publishes
// the time every second on "ticks", a chat bot sits in "presence-lobby"
// and answers every client-message, and a Go function authorizes the
// private and presence channels (here: whoever sends X-User).
//
//	go run ./examples/embedded        # http://127.0.0.1:8080 (ADDR to change it)
//
// pusher-js connects with wsHost 127.0.0.1, wsPort 8080 and
// channelAuthorization {endpoint: 'http://127.0.0.1:8080/auth'}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	if err := run(ctx, addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	system := actor.NewActorSystem()
	defer system.Shutdown()

	cfg := config.Default()
	cfg.Apps = []config.App{{Key: "app-key", Secret: "app-secret", ClientEvents: true}}
	h, err := herald.New(cfg, herald.Options{System: system, NoListeners: true, Authorizer: authorize})
	if err != nil {
		return err
	}
	if err := h.Start(); err != nil {
		return err
	}
	defer h.Shutdown(context.Background()) //nolint:errcheck // on the way out: Shutdown logs what failed

	system.Root.Spawn(actor.PropsFromFunc(ticker(h.PID())))
	// The bot keeps at most 1000 unread messages: a slow bot drops the oldest.
	system.Root.Spawn(actor.PropsFromFunc(chatBot(h.PID()), actor.WithMailbox(actor.BoundedDropping(1000))))

	mux := http.NewServeMux()
	mux.Handle("/app/", h.Handler())              // WebSocket: ws://ADDR/app/app-key
	mux.Handle("/auth", h.AuthHandler("app-key")) // calls authorize
	mux.Handle("/", h.APIHandler())               // the HTTP API, /healthz, /push.js
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // ends with srv.Shutdown
	log.Printf("listening on http://%s", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		return srv.Shutdown(context.Background()) // then h.Shutdown closes the sockets with 4200
	}
}

// authorize lets anyone who says who they are into the lobby (your
// session check goes here).
func authorize(r *herald.AuthRequest) (herald.Grant, error) {
	user := r.HTTP.Header.Get("X-User")
	if user == "" {
		return herald.Grant{}, errors.New("sign in first")
	}
	return herald.Grant{UserID: user, UserInfo: map[string]string{"name": user}}, nil
}

// ticker publishes the time on "ticks" every second, through Herald's PID.
func ticker(gateway *actor.PID) actor.ReceiveFunc {
	return func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			ctx.SetReceiveTimeout(time.Second)
		case *actor.ReceiveTimeout:
			ctx.Send(gateway, &herald.Publish{App: "app-key", Channels: []string{"ticks"}, Event: "tick",
				Data: `{"time":"` + time.Now().UTC().Format(time.RFC3339) + `"}`})
		}
	}
}

// chatBot joins presence-lobby as "bot" and answers each client-message.
func chatBot(gateway *actor.PID) actor.ReceiveFunc {
	return func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Send(gateway, &herald.Subscribe{App: "app-key", Channel: "presence-lobby", Subscriber: ctx.Self(),
				UserID: "bot", UserInfo: map[string]string{"name": "Bot"}})
		case *herald.ChannelEvent:
			if m.Event == "client-message" {
				reply, _ := json.Marshal(map[string]string{"from": "bot", "text": "hello " + m.UserID})
				ctx.Send(gateway, &herald.Publish{App: "app-key", Channels: []string{m.Channel}, Event: "message", Data: string(reply)})
			}
		case *herald.SubscriptionError:
			log.Printf("bot: %v", m)
		}
	}
}
