package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// apiActor is the HTTP adapter: every API request reaches the app actors
// through it. It routes each query to its app by key and forwards it with
// the caller's future as sender, so the app answers the HTTP handler
// directly. Keeping this hop an actor means a cluster can later route to
// apps and channels on other nodes without touching the transport.
type apiActor struct {
	apps map[string]*actor.PID // by app key; replaced whole by setRoutes (a reload)
	log  *slog.Logger
}

func newAPIProps(apps map[string]*actor.PID, log *slog.Logger, opts ...actor.PropsOption) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &apiActor{apps: apps, log: log} }, opts...)
}

// Receive routes API queries.
func (a *apiActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *TriggerRequest:
		a.route(ctx, m.App)
	case *ChannelsRequest:
		a.route(ctx, m.App)
	case *ChannelRequest:
		a.route(ctx, m.App)
	case *UsersRequest:
		a.route(ctx, m.App)
	case *TerminateUserRequest:
		a.route(ctx, m.App)
	case *setRoutes:
		a.apps = m.apps
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	default:
		a.log.Warn("api: unexpected message", "type", typeName(m))
	}
}

func (a *apiActor) route(ctx actor.Context, app string) {
	pid, ok := a.apps[app]
	if !ok {
		ctx.Respond(ErrUnknownApp)
		return
	}
	ctx.Forward(pid)
}
