package herald

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// gatewayActor is Herald.PID: the embedding program's actors send it
// *Publish, *Subscribe, *Unsubscribe, *WatchFacts and *UnwatchFacts, and
// it applies each as the method of the same name does, without waiting:
// the answer (*Done) goes to the message's sender, if it has one, when it
// is known. A command refused without a sender to tell is logged at warn.
//
//	program actor ──*Publish──► gateway ──Broker.Post──► HTTP adapter ──► app ──► channels
//	program actor ──*Subscribe──► gateway ──Broker.Subscribe──► app ──► subscriber stand-in ──Join──► channel
//	channel ──*Subscribed, *ChannelEvent──► subscriber (the program's actor)
//
// It holds no state: Start spawns it once the broker runs, Shutdown stops
// it first.
type gatewayActor struct {
	h   *Herald
	log *slog.Logger
}

func newGatewayProps(h *Herald) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &gatewayActor{h: h, log: h.log.With("component", "embedding")}
	})
}

// Receive handles the embedding commands.
func (g *gatewayActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Publish:
		g.answer(ctx, m, g.h.publish(*m))
	case *Subscribe:
		g.onSubscribe(ctx, m)
	case *Unsubscribe:
		g.onUnsubscribe(ctx, m)
	case *WatchFacts:
		g.onWatchFacts(ctx, m)
	case *UnwatchFacts:
		g.onUnwatchFacts(ctx, m)
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	default:
		g.log.Warn("gateway: unexpected message", "type", typeName(m))
	}
}

func (g *gatewayActor) onSubscribe(ctx actor.Context, m *Subscribe) {
	s := *m
	if s.Subscriber == nil {
		s.Subscriber = ctx.Sender()
	}
	if err := g.h.subscribe(s, g.later(ctx)); err != nil {
		g.answer(ctx, m, err)
	}
}

func (g *gatewayActor) onUnsubscribe(ctx actor.Context, m *Unsubscribe) {
	u := *m
	if u.Subscriber == nil {
		u.Subscriber = ctx.Sender()
	}
	g.answer(ctx, m, g.h.Unsubscribe(u))
}

func (g *gatewayActor) onWatchFacts(ctx actor.Context, m *WatchFacts) {
	w := *m
	if w.Watcher == nil {
		w.Watcher = ctx.Sender()
	}
	if err := g.h.watchFacts(w, g.later(ctx)); err != nil {
		g.answer(ctx, m, err)
	}
}

func (g *gatewayActor) onUnwatchFacts(ctx actor.Context, m *UnwatchFacts) {
	u := *m
	if u.Watcher == nil {
		u.Watcher = ctx.Sender()
	}
	g.answer(ctx, m, g.h.UnwatchFacts(u))
}

// answer tells the sender of m, if any, how it went; a refusal nobody is
// told of is logged.
func (g *gatewayActor) answer(ctx actor.Context, m any, err error) {
	if s := ctx.Sender(); s != nil {
		ctx.Send(s, &Done{Err: err})
		return
	}
	if err != nil {
		g.log.Warn("gateway: command refused", "command", typeName(m), "err", err)
	}
}

// later is the reply of a command answered later, by the app: *Done to
// the sender, if any (nil: nobody to tell).
func (g *gatewayActor) later(ctx actor.Context) func(error) {
	sender := ctx.Sender()
	if sender == nil {
		return nil
	}
	root := ctx.ActorSystem().Root
	return func(err error) { root.Send(sender, &Done{Err: err}) }
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
