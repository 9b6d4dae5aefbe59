package actors

import (
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors/clusterpb"
)

// channelsGatherer answers one GET /channels in a cluster, where every
// node knows only its own channels: it asks every member's node actor for
// the app's occupied channels (summing their subscription counts, which is
// the cluster's count), then, on presence channels, each channel's grain
// for its user count (users are counted once across nodes), answers the
// HTTP adapter's future and stops. Members that do not answer within
// grainTimeout are left out.
type channelsGatherer struct {
	app     *appInfo
	replyTo *actor.PID
	prefix  string
	waiting int
	subs    map[string]int
	users   map[string]int
	timer   *time.Timer
	done    bool
}

// gatherTimeout ends a gatherer that still waits.
type gatherTimeout struct{}

func newGathererProps(app *appInfo, replyTo *actor.PID, prefix string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &channelsGatherer{app: app, replyTo: replyTo, prefix: prefix,
			subs: make(map[string]int), users: make(map[string]int)}
	}, app.dispatch)
}

// Receive handles the gatherer's messages.
func (g *channelsGatherer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.onStarted(ctx)
	case *clusterpb.ChannelsList:
		g.onList(ctx, m)
	case *clusterpb.Info:
		g.onInfo(ctx, m)
	case *gatherTimeout:
		g.finish(ctx)
	case *actor.Stopped:
		g.timer.Stop()
	case *actor.Stopping, *actor.Restarting:
	default:
		g.app.log.Warn("gatherer: unexpected message", "type", typeName(m))
	}
}

func (g *channelsGatherer) onStarted(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	g.timer = time.AfterFunc(grainTimeout, func() { root.Send(self, &gatherTimeout{}) })
	for _, pid := range g.app.node.nodeActors() {
		ctx.Request(pid, &clusterpb.ChannelsQuery{App: g.app.key, Prefix: g.prefix})
		g.waiting++
	}
	if g.waiting == 0 {
		g.finish(ctx)
	}
}

func (g *channelsGatherer) onList(ctx actor.Context, m *clusterpb.ChannelsList) {
	for i, name := range m.Names {
		if i < len(m.Subscriptions) {
			g.subs[name] += int(m.Subscriptions[i])
		}
	}
	if g.waiting--; g.waiting > 0 {
		return
	}
	// Presence channels: their users, from their grains.
	for name := range g.subs {
		if !strings.HasPrefix(name, "presence-") {
			continue
		}
		if pid := g.app.node.grainPID(g.app.key, name); pid != nil {
			ctx.Request(pid, &clusterpb.InfoRequest{})
			g.waiting++
		}
	}
	if g.waiting == 0 {
		g.finish(ctx)
	}
}

func (g *channelsGatherer) onInfo(ctx actor.Context, m *clusterpb.Info) {
	if _, asked := g.subs[m.Channel]; asked {
		g.users[m.Channel] = int(m.Users)
	}
	if g.waiting--; g.waiting <= 0 {
		g.finish(ctx)
	}
}

// finish answers with what has been gathered and stops.
func (g *channelsGatherer) finish(ctx actor.Context) {
	if g.done {
		return
	}
	g.done = true
	out := make(map[string]ChannelInfo, len(g.subs))
	for name, n := range g.subs {
		out[name] = ChannelInfo{Occupied: n > 0, Subscriptions: n, Users: g.users[name]}
	}
	ctx.Send(g.replyTo, &ChannelsResponse{Channels: out})
	ctx.Stop(ctx.Self())
}
