package actors

import (
	"strconv"
	"strings"
)

// nameSlots hands out the numbers in the names of an app's children
// (conn-7, ch-12), reusing those of children that terminated. Proto.Actor's
// process registry is 32 768 Go maps, which never shrink: unique names
// (one per connection ever made) would touch each of them in turn, about
// 9 MiB that grows for an hour of churn before it levels off. Reused
// names keep the registry the size of the peak number of children.
//
// A reused name means a late message meant for a child's predecessor can
// reach it (a PID resolves by name once its actor is dead): the messages
// that could are checked. The transport's carry their socket (From),
// Joined, JoinRefused and ChannelLost the socket id, a client event its
// channel; the auth deadline is matched by identity.
type nameSlots struct {
	free []int
	next int
}

func (n *nameSlots) take() int {
	if k := len(n.free); k > 0 {
		i := n.free[k-1]
		n.free = n.free[:k-1]
		return i
	}
	n.next++
	return n.next
}

func (n *nameSlots) give(i int) {
	if i > 0 {
		n.free = append(n.free, i)
	}
}

func childName(prefix string, slot int) string { return prefix + strconv.Itoa(slot) }

// slotOf is the number at the end of a child's PID id ("…/conn-7" → 7), or
// 0 for a name without one.
func slotOf(id string) int {
	n, err := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
	if err != nil {
		return 0
	}
	return n
}
