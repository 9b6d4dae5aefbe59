package herald_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
)

// startEmbedded runs a Herald for the examples: one app, no listeners, no logs.
func startEmbedded(system *actor.ActorSystem) *herald.Herald {
	cfg := config.Default()
	cfg.Apps = []config.App{{Key: "app-key", Secret: "app-secret", ClientEvents: true}}
	h, err := herald.New(cfg, herald.Options{System: system, NoListeners: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	if err := h.Start(); err != nil {
		panic(err)
	}
	return h
}

// A server-side subscriber is an actor of the program: it receives each
// event of its channel as a *herald.ChannelEvent.
func ExampleHerald_Subscribe() {
	system := actor.NewActorSystem()
	h := startEmbedded(system)
	defer h.Shutdown(context.Background()) //nolint:errcheck // an example

	got := make(chan string, 1)
	listener := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if e, ok := ctx.Message().(*herald.ChannelEvent); ok {
			got <- e.Channel + " " + e.Event + " " + e.Data
		}
	}))
	ctx := context.Background()
	if err := h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "news", Subscriber: listener}); err != nil {
		panic(err)
	}
	if err := h.Publish(ctx, herald.Publish{App: "app-key", Channels: []string{"news"}, Event: "headline", Data: `{"title":"Hi"}`}); err != nil {
		panic(err)
	}
	fmt.Println(<-got)
	// Output: news headline {"title":"Hi"}
}

// An actor publishes by sending *herald.Publish to Herald's PID; with a
// sender (Request) it is answered *herald.Done.
func ExampleHerald_PID() {
	system := actor.NewActorSystem()
	h := startEmbedded(system)
	defer h.Shutdown(context.Background()) //nolint:errcheck // an example

	got := make(chan any, 4)
	bot := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Request(h.PID(), &herald.Subscribe{App: "app-key", Channel: "ticks"}) // the subscriber: this actor
		case *herald.Subscribed:
			ctx.Request(h.PID(), &herald.Publish{App: "app-key", Channels: []string{"ticks"}, Event: "tick", Data: "1"})
		case *herald.Done, *herald.ChannelEvent:
			got <- m
		}
	}))
	defer system.Root.Stop(bot)
	for range 3 {
		switch m := (<-got).(type) {
		case *herald.Done:
			fmt.Println("done, err:", m.Err)
		case *herald.ChannelEvent:
			fmt.Println("event:", m.Event, m.Data)
		}
	}
	// Unordered output:
	// done, err: <nil>
	// done, err: <nil>
	// event: tick 1
}

// Facts — occupancy, members, client events — arrive as typed messages, the
// same facts the webhooks carry.
func ExampleHerald_WatchFacts() {
	system := actor.NewActorSystem()
	h := startEmbedded(system)
	defer h.Shutdown(context.Background()) //nolint:errcheck // an example

	facts := make(chan string, 8)
	watcher := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch f := ctx.Message().(type) {
		case *herald.ChannelOccupied:
			facts <- "occupied " + f.Channel
		case *herald.MemberAdded:
			facts <- "member added " + f.UserID
		case *herald.MemberRemoved:
			facts <- "member removed " + f.UserID
		case *herald.ChannelVacated:
			facts <- "vacated " + f.Channel
		}
	}))
	ctx := context.Background()
	if err := h.WatchFacts(ctx, herald.WatchFacts{App: "app-key", Watcher: watcher}); err != nil {
		panic(err)
	}
	// A server-side subscriber joins a presence channel as a member.
	bot := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	if err := h.Subscribe(ctx, herald.Subscribe{App: "app-key", Channel: "presence-lobby", Subscriber: bot, UserID: "bot"}); err != nil {
		panic(err)
	}
	system.Root.Stop(bot) // a subscriber that stops is removed
	for range 4 {
		select {
		case f := <-facts:
			fmt.Println(f)
		case <-time.After(5 * time.Second):
			fmt.Println("timeout")
		}
	}
	// Output:
	// occupied presence-lobby
	// member added bot
	// member removed bot
	// vacated presence-lobby
}
