package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/herald-push/herald/actors/clusterpb"
)

// nodeActor is a cluster member's entry point for the channel grains and
// the other nodes, spawned under the well-known name NodeActorName: it
// routes each Deliver to the app actor of its app, which hands it to the
// local channel, each StateRequest (a rebuilt grain asking for this
// node's state) likewise, and each UserDeliver (server-to-user events and
// terminate_connections, sent to every node) to the app's user index; it
// tells every app of topology changes, so that its channels re-send their
// state to their (possibly moved) grains.
type nodeActor struct {
	apps map[string]*actor.PID // by key; replaced whole by setRoutes (a reload)
	log  *slog.Logger
}

// deliver is a grain's Deliver on its way from the node actor to an app.
type deliver struct{ *clusterpb.Deliver }

// userDeliver is another node's UserDeliver on its way to an app.
type userDeliver struct{ *clusterpb.UserDeliver }

// stateRequest is a grain's StateRequest on its way to an app.
type stateRequest struct{ *clusterpb.StateRequest }

// topologyChanged tells an app that the cluster's members changed.
type topologyChanged struct{}

// resyncAgain repeats topologyChanged to the apps: placement follows the
// topology a little after the event, so a re-sync sent at once may reach
// a grain that is about to move, or find no owner.
type resyncAgain struct{}

// resyncDelays are when, after a topology change, the apps re-send their
// states again (states are idempotent: repeats cost one message each).
var resyncDelays = []time.Duration{time.Second, 3 * time.Second}

func newNodeProps(apps map[string]*actor.PID, log *slog.Logger, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &nodeActor{apps: apps, log: log} }, opts...)
}

// Receive handles the node actor's messages.
func (a *nodeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *clusterpb.Deliver:
		a.onDeliver(ctx, m)
	case *clusterpb.UserDeliver:
		a.onUserDeliver(ctx, m)
	case *clusterpb.StateRequest:
		a.onStateRequest(ctx, m)
	case *clusterpb.ChannelsQuery:
		if pid := a.apps[m.App]; pid != nil {
			ctx.Forward(pid) // the app answers the asking gatherer
		}
	case *cluster.ClusterTopology:
		a.onTopology(ctx)
		self, root := ctx.Self(), ctx.ActorSystem().Root
		for _, d := range resyncDelays {
			time.AfterFunc(d, func() { root.Send(self, &resyncAgain{}) })
		}
	case *resyncAgain:
		a.onTopology(ctx)
	case *setRoutes:
		a.apps = m.apps
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	default:
		a.log.Warn("node: unexpected message", "type", typeName(m))
	}
}

func (a *nodeActor) onDeliver(ctx actor.Context, m *clusterpb.Deliver) {
	if pid := a.apps[m.App]; pid != nil {
		ctx.Send(pid, &deliver{m})
	}
}

func (a *nodeActor) onUserDeliver(ctx actor.Context, m *clusterpb.UserDeliver) {
	if pid := a.apps[m.App]; pid != nil {
		ctx.Send(pid, &userDeliver{m})
	}
}

func (a *nodeActor) onStateRequest(ctx actor.Context, m *clusterpb.StateRequest) {
	if pid := a.apps[m.App]; pid != nil {
		ctx.Send(pid, &stateRequest{m})
	}
}

func (a *nodeActor) onTopology(ctx actor.Context) {
	for _, pid := range a.apps {
		ctx.Send(pid, &topologyChanged{})
	}
}
