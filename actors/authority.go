package actors

import (
	"encoding/json"

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
	if e, ok := a.members[m.UserID]; ok {
		e.conns++
		return false
	}
	a.members[m.UserID] = &member{info: m.Info, conns: 1}
	a.order = append(a.order, m.UserID)
	return true
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
	e := a.members[userID]
	if e.conns--; e.conns > 0 {
		return false
	}
	delete(a.members, userID)
	for i, id := range a.order {
		if id == userID {
			a.order = append(a.order[:i], a.order[i+1:]...)
			break
		}
	}
	return true
}

// dropNode forgets everything node contributed (a node that left the
// cluster) and reports the members that are gone with it and whether the
// channel became vacant.
func (a *channelAuthority) dropNode(node string) (removed []string, vacated bool) {
	if n, ok := a.nodes[node]; ok {
		delete(a.nodes, node)
		a.subs -= n
		vacated = a.subs == 0
	}
	for k, n := range a.conns {
		if k.node != node {
			continue
		}
		delete(a.conns, k)
		e := a.members[k.user]
		if e.conns -= n; e.conns <= 0 {
			removed = append(removed, k.user)
		}
	}
	for _, id := range removed {
		delete(a.members, id)
	}
	if len(removed) > 0 {
		kept := a.order[:0]
		for _, id := range a.order {
			if a.members[id] != nil {
				kept = append(kept, id)
			}
		}
		clear(a.order[len(kept):])
		a.order = kept
	}
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
