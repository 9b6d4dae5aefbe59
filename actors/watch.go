package actors

import (
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors/clusterpb"
	"github.com/herald-push/herald/pusher"
)

// The watchlist in a cluster (docs/cluster.md): whether a user is online is
// counted once for the cluster by a channel grain of its own, identity
// "{app key}/#watch-{user id}", run with presence semantics. Each node
// sends it one state per watched or signed-in user: the user as the only
// member (with this node's connections of theirs) and, as subscriptions,
// this node's connections watching them. The grain's member_added and
// member_removed (held for the grace window, like any departure) reach
// the nodes with watchers, which tell their watchers online and offline.
// A node that starts watching a user asks the grain (JoinCheck) whether
// they are online, for the snapshot its watchers get after signin.
//
// No client can name such a channel: channel names cannot hold '#'.
const watchPrefix = "#watch-"

// watchState is an app's view of the watch grains, in cluster mode. Owned
// by the app actor.
type watchState struct {
	version map[string]uint64 // per user: of the NodeState last sent
	online  map[string]bool   // per watched user: last known, from the grain
	asked   map[string]bool   // per watched user: a JoinCheck is on its way
}

func (a *appActor) watchView() *watchState {
	if a.watch == nil {
		a.watch = &watchState{version: map[string]uint64{}, online: map[string]bool{}, asked: map[string]bool{}}
	}
	return a.watch
}

// watchSignedIn handles a signin: the user's own grain hears of one more
// connection, each watched user's of one more watcher; the watcher gets
// the snapshot of those known online, and the others when the grains
// answer.
func (a *appActor) watchSignedIn(ctx actor.Context, c *userConn) {
	w := a.watchView()
	a.sendWatchState(ctx, c.userID, false)
	var online []string
	for _, id := range c.watchlist {
		a.sendWatchState(ctx, id, false)
		switch {
		case w.online[id]:
			online = append(online, id)
		case !w.asked[id]:
			a.askWatch(ctx, id)
		}
	}
	if len(online) > 0 {
		c.out.Send(watchlistFrame("online", online))
	}
}

// watchChanged handles a signout: the same grains hear of one connection
// less.
func (a *appActor) watchChanged(ctx actor.Context, userID string, watchlist []string) {
	a.sendWatchState(ctx, userID, false)
	for _, id := range watchlist {
		a.sendWatchState(ctx, id, false)
	}
}

// sendWatchState sends this node's state of userID to its watch grain:
// its connections here as the member, its watchers here as subscriptions.
func (a *appActor) sendWatchState(ctx actor.Context, userID string, resync bool) {
	w := a.watchView()
	conns, watchers := len(a.users.conns(userID)), len(a.users.watchersOf(userID))
	pid := a.grain(watchPrefix + userID)
	if pid == nil {
		return
	}
	w.version[userID] = a.app.node.nextState()
	st := &clusterpb.NodeState{Node: a.app.node.address(), Subscriptions: int32(watchers), //nolint:gosec // G115: connections of one user
		Version: w.version[userID], Resync: resync}
	if conns > 0 {
		st.Members = []*clusterpb.Member{{UserId: userID, Conns: int32(conns)}} //nolint:gosec // G115: connections of one user
	}
	if resync && w.online[userID] {
		st.Known = []string{userID}
	}
	ctx.Send(pid, st)
	if conns == 0 && watchers == 0 { // nothing of this user here any more
		delete(a.grains, watchPrefix+userID)
		delete(w.version, userID)
		delete(w.online, userID)
	}
}

// askWatch asks a watch grain whether its user is online; the answer
// tells this node's watchers of them if so.
func (a *appActor) askWatch(ctx actor.Context, userID string) {
	pid := a.grain(watchPrefix + userID)
	if pid == nil {
		return
	}
	w := a.watchView()
	w.asked[userID] = true
	f := ctx.RequestFuture(pid, &clusterpb.JoinCheck{Node: a.app.node.address()}, grainTimeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		delete(w.asked, userID)
		ans, ok := res.(*clusterpb.JoinAnswer)
		if err != nil || !ok {
			return
		}
		for _, m := range ans.Members {
			if m.UserId == userID && !w.online[userID] {
				w.online[userID] = true
				a.notifyWatchers(userID, "online")
			}
		}
	})
}

// onWatchEvent turns a watch grain's member event into watchlist events
// for this node's watchers.
func (a *appActor) onWatchEvent(m *deliver) {
	w := a.watchView()
	switch {
	case m.MemberAdded != "" && !w.online[m.MemberAdded]:
		w.online[m.MemberAdded] = true
		a.notifyWatchers(m.MemberAdded, "online")
	case m.MemberRemoved != "" && w.online[m.MemberRemoved]:
		delete(w.online, m.MemberRemoved)
		a.notifyWatchers(m.MemberRemoved, "offline")
	}
}

// watchResync re-sends this node's state of every user it knows of to
// their (possibly moved) watch grains.
func (a *appActor) watchResync(ctx actor.Context) {
	if a.watch == nil {
		return
	}
	for id := range a.watch.version {
		a.sendWatchState(ctx, id, true)
	}
}

// watchPresence reports whether name is a watch grain's: it counts its
// member (the user) as a presence channel counts members.
func watchPresence(name string) bool {
	return strings.HasPrefix(name, watchPrefix) || pusher.Kind(name) == pusher.Presence
}
