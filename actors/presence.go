package actors

import (
	"encoding/json"

	"github.com/herald-push/herald/pusher"
)

// memberSet is the member list of a presence channel. Pusher's presence is
// per user, not per connection: a user joins with their first connection
// and leaves with their last, so each user carries a connection count. It
// keeps join order for subscription_succeeded. Owned by one channel actor.
type memberSet struct {
	byID  map[string]*memberEntry
	order []string
}

type memberEntry struct {
	info  json.RawMessage
	conns int
}

func newMemberSet() *memberSet { return &memberSet{byID: make(map[string]*memberEntry)} }

// add counts one more connection of m.UserID and reports whether it is the
// user's first (so member_added is due). The first connection's user_info
// is the one kept.
func (s *memberSet) add(m pusher.Member) bool {
	if e, ok := s.byID[m.UserID]; ok {
		e.conns++
		return false
	}
	s.byID[m.UserID] = &memberEntry{info: m.Info, conns: 1}
	s.order = append(s.order, m.UserID)
	return true
}

// remove counts one connection of id less and reports whether it was the
// user's last (so member_removed is due).
func (s *memberSet) remove(id string) bool {
	e, ok := s.byID[id]
	if !ok {
		return false
	}
	if e.conns--; e.conns > 0 {
		return false
	}
	delete(s.byID, id)
	for i, o := range s.order {
		if o == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	return true
}

func (s *memberSet) has(id string) bool { _, ok := s.byID[id]; return ok }

func (s *memberSet) len() int { return len(s.order) }

// list returns the members in join order.
func (s *memberSet) list() []pusher.Member {
	out := make([]pusher.Member, len(s.order))
	for i, id := range s.order {
		out[i] = pusher.Member{UserID: id, Info: s.byID[id].info}
	}
	return out
}

// ids returns the user ids in join order.
func (s *memberSet) ids() []string { return append([]string(nil), s.order...) }
