package actors

import (
	"encoding/json"
	"slices"

	"github.com/herald-push/herald/pusher"
)

// channelAuthority is what must be counted once per (app, channel),
// whatever node holds the sockets: the subscriptions of each node,
// presence members ref-counted per (user, node), and so occupancy and the
// member changes that clients and webhooks hear of. It is a plain value,
// owned by one actor: the channel actor in single-node mode (node ""), the
// channel's grain in a cluster (docs/cluster.md). It knows nothing of
// sockets, frames or time; its callers turn what it reports into frames
// and facts.
type channelAuthority struct {
	presence bool
	nodes    map[string]int // node → subscriptions there
	subs     int            // over every node

	// Presence only.
	members map[string]*member // user id → member
	order   []string           // user ids in join order, for subscription_succeeded
	conns   map[memberKey]int  // (user, node) → connections
}

type member struct {
	info  json.RawMessage // the first connection's user_info is kept
	conns int             // over every node
}

type memberKey struct{ user, node string }

// localNode is the node of a single-node broker's authority.
const localNode = ""

func newChannelAuthority(presence bool) *channelAuthority {
	a := &channelAuthority{presence: presence, nodes: make(map[string]int, 1)}
	if presence {
		a.members = make(map[string]*member)
		a.conns = make(map[memberKey]int)
	}
	return a
}

// subscribe counts one more subscription on node and reports whether the
// channel just became occupied.
func (a *channelAuthority) subscribe(node string) (occupied bool) {
	a.nodes[node]++
	a.subs++
	return a.subs == 1
}

// unsubscribe counts one subscription less on node and reports whether
// the channel just became vacant. An unknown node changes nothing.
func (a *channelAuthority) unsubscribe(node string) (vacated bool) {
	n, ok := a.nodes[node]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(a.nodes, node)
	} else {
		a.nodes[node] = n - 1
	}
	a.subs--
	return a.subs == 0
}

// canJoin reports whether userID may join a presence channel capped at
// max members: a member's further connections always may.
func (a *channelAuthority) canJoin(userID string, max int) bool {
	_, ok := a.members[userID]
	return ok || len(a.order) < max
}

// join counts one more connection of m.UserID on node and reports whether
// the user just became a member (so member_added is due).
func (a *channelAuthority) join(node string, m pusher.Member) (added bool) {
	a.conns[memberKey{m.UserID, node}]++
	return a.addConns(m.UserID, m.Info, 1) > 0
}

// leave counts one connection of userID on node less and reports whether
// it was the user's last anywhere (so member_removed is due).
func (a *channelAuthority) leave(node, userID string) (removed bool) {
	k := memberKey{userID, node}
	n, ok := a.conns[k]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(a.conns, k)
	} else {
		a.conns[k] = n - 1
	}
	return a.addConns(userID, nil, -1) < 0
}

// dropNode forgets everything node contributed (a node that left the
// cluster) and reports the members that are gone with it and whether the
// channel became vacant.
func (a *channelAuthority) dropNode(node string) (removed []string, vacated bool) {
	_, removed, _, vacated = a.setNode(node, 0, nil)
	return removed, vacated
}

// subscriptions is the cluster-wide subscription count.
func (a *channelAuthority) subscriptions() int { return a.subs }

// users is the number of presence members.
func (a *channelAuthority) users() int { return len(a.order) }

// memberList returns the members in join order.
func (a *channelAuthority) memberList() []pusher.Member {
	out := make([]pusher.Member, len(a.order))
	for i, id := range a.order {
		out[i] = pusher.Member{UserID: id, Info: a.members[id].info}
	}
	return out
}

// memberIDs returns the user ids in join order.
func (a *channelAuthority) memberIDs() []string { return append([]string(nil), a.order...) }

// nodeMember is a presence member as one node reports it: the member and
// its connections on that node.
type nodeMember struct {
	pusher.Member
	conns int
}

// setNode replaces node's whole contribution with subs subscriptions and,
// on presence channels, members; re-applying the same contribution changes
// nothing. It reports what changed cluster-wide: users who became
// members, users who stopped being members (sorted), and whether the
// channel became occupied or vacant.
func (a *channelAuthority) setNode(node string, subs int, members []nodeMember) (added, removed []string, occupied, vacated bool) {
	was := a.subs
	a.subs += subs - a.nodes[node]
	if subs > 0 {
		a.nodes[node] = subs
	} else {
		delete(a.nodes, node)
	}
	occupied, vacated = was == 0 && a.subs > 0, was > 0 && a.subs == 0
	if !a.presence {
		return nil, nil, occupied, vacated
	}
	want := make(map[string]nodeMember, len(members))
	for _, m := range members {
		if m.conns > 0 {
			want[m.UserID] = m
		}
	}
	for k, n := range a.conns { // connections this node no longer has
		if k.node == node {
			if _, ok := want[k.user]; !ok {
				delete(a.conns, k)
				if a.addConns(k.user, nil, -n) < 0 {
					removed = append(removed, k.user)
				}
			}
		}
	}
	for _, m := range members { // in the node's order, so join order is kept
		w, ok := want[m.UserID]
		if !ok {
			continue
		}
		delete(want, m.UserID) // a user listed twice counts once
		k := memberKey{m.UserID, node}
		delta := w.conns - a.conns[k]
		a.conns[k] = w.conns
		if delta != 0 && a.addConns(m.UserID, w.Info, delta) > 0 {
			added = append(added, m.UserID)
		}
	}
	slices.Sort(removed)
	return added, removed, occupied, vacated
}

// addConns changes userID's connection count by delta and reports +1 if
// the user just became a member, -1 if they just stopped being one.
func (a *channelAuthority) addConns(userID string, info json.RawMessage, delta int) int {
	e := a.members[userID]
	if e == nil {
		if delta <= 0 {
			return 0
		}
		a.members[userID] = &member{info: info, conns: delta}
		a.order = append(a.order, userID)
		return 1
	}
	if e.conns += delta; e.conns > 0 {
		return 0
	}
	delete(a.members, userID)
	if i := slices.Index(a.order, userID); i >= 0 {
		a.order = slices.Delete(a.order, i, i+1)
	}
	return -1
}
