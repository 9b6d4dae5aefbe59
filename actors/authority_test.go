package actors

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/herald-push/herald/pusher"
)

// Presence is per user, across nodes: a user is a member from their first
// connection anywhere to their last; join order is kept; the first
// connection's user_info is the one shown.
func TestAuthorityPresenceAcrossNodes(t *testing.T) {
	a := newChannelAuthority(true)
	steps := []struct {
		op, node, id string
		want         bool // added / removed
		order        []string
	}{
		{"join", "A", "ann", true, []string{"ann"}},
		{"join", "B", "bob", true, []string{"ann", "bob"}},
		{"join", "B", "ann", false, []string{"ann", "bob"}}, // ann's second tab, on another node
		{"leave", "A", "ann", false, []string{"ann", "bob"}},
		{"leave", "A", "ann", false, []string{"ann", "bob"}}, // unknown (user, node): nothing
		{"leave", "B", "ann", true, []string{"bob"}},
		{"join", "A", "ann", true, []string{"bob", "ann"}},
	}
	for i, st := range steps {
		var got bool
		if st.op == "join" {
			got = a.join(st.node, pusher.Member{UserID: st.id, Info: json.RawMessage(`{"step":` + string(rune('0'+i)) + `}`)})
		} else {
			got = a.leave(st.node, st.id)
		}
		if got != st.want || !reflect.DeepEqual(a.memberIDs(), st.order) || a.users() != len(st.order) {
			t.Fatalf("step %d %s %s@%s: got %v %v, want %v %v", i, st.op, st.id, st.node, got, a.memberIDs(), st.want, st.order)
		}
	}
	if l := a.memberList(); string(l[0].Info) != `{"step":1}` {
		t.Fatalf("bob's info %s", l[0].Info)
	}
}

// Occupancy is cluster-wide: the channel is occupied from the first
// subscription on any node to the last.
func TestAuthorityOccupancy(t *testing.T) {
	a := newChannelAuthority(false)
	if !a.subscribe("A") || a.subscribe("B") || a.subscribe("B") {
		t.Fatal("only the first subscription occupies")
	}
	if a.unsubscribe("C") || a.unsubscribe("A") || a.unsubscribe("B") {
		t.Fatal("vacated too early (or by an unknown node)")
	}
	if !a.unsubscribe("B") || a.subscriptions() != 0 {
		t.Fatalf("not vacated by the last one: %d left", a.subscriptions())
	}
}

// A node that leaves takes its subscriptions and connections with it:
// users only there are removed, users also elsewhere stay.
func TestAuthorityDropNode(t *testing.T) {
	a := newChannelAuthority(true)
	for _, j := range []struct{ node, id string }{{"A", "ann"}, {"C", "ann"}, {"C", "cy"}, {"C", "cy"}, {"A", "al"}} {
		a.subscribe(j.node)
		a.join(j.node, pusher.Member{UserID: j.id})
	}
	removed, vacated := a.dropNode("C")
	if !slices.Equal(removed, []string{"cy"}) || vacated {
		t.Fatalf("removed %v, vacated %v", removed, vacated)
	}
	if !slices.Equal(a.memberIDs(), []string{"ann", "al"}) || a.subscriptions() != 2 || !a.canJoin("ann", 2) || a.canJoin("new", 2) {
		t.Fatalf("after C left: members %v, subscriptions %d", a.memberIDs(), a.subscriptions())
	}
	// ann's connection on A is still counted: her leave there removes her.
	if !a.leave("A", "ann") {
		t.Fatal("ann's last connection did not remove her")
	}
	if removed, vacated := a.dropNode("A"); !slices.Equal(removed, []string{"al"}) || !vacated {
		t.Fatalf("removed %v, vacated %v", removed, vacated)
	}
}

// A node's state replaces its previous one whole: re-sending it changes
// nothing, and only the difference reaches members and occupancy.
func TestAuthoritySetNode(t *testing.T) {
	a := newChannelAuthority(true)
	nm := func(id string, conns int) nodeMember { return nodeMember{pusher.Member{UserID: id}, conns} }
	check := func(step string, added, removed []string, occ, vac bool, wantAdded, wantRemoved []string, wantOcc, wantVac bool) {
		t.Helper()
		if !slices.Equal(added, wantAdded) || !slices.Equal(removed, wantRemoved) || occ != wantOcc || vac != wantVac {
			t.Fatalf("%s: added %v removed %v occupied %v vacated %v", step, added, removed, occ, vac)
		}
	}
	add, rem, occ, vac := a.setNode("A", 2, []nodeMember{nm("ann", 1), nm("al", 1)})
	check("A joins", add, rem, occ, vac, []string{"ann", "al"}, nil, true, false)
	add, rem, occ, vac = a.setNode("A", 2, []nodeMember{nm("ann", 1), nm("al", 1)})
	check("A re-sent", add, rem, occ, vac, nil, nil, false, false)
	add, rem, occ, vac = a.setNode("B", 1, []nodeMember{nm("ann", 1)})
	check("ann's tab on B", add, rem, occ, vac, nil, nil, false, false)
	add, rem, occ, vac = a.setNode("A", 1, []nodeMember{nm("al", 1)})
	check("ann leaves A", add, rem, occ, vac, nil, nil, false, false)
	if a.subscriptions() != 2 || !slices.Equal(a.memberIDs(), []string{"ann", "al"}) {
		t.Fatalf("subscriptions %d, members %v", a.subscriptions(), a.memberIDs())
	}
	removed, vacated := a.dropNode("B")
	if !slices.Equal(removed, []string{"ann"}) || vacated {
		t.Fatalf("B dropped: removed %v vacated %v", removed, vacated)
	}
	add, rem, occ, vac = a.setNode("A", 0, nil)
	check("A empties", add, rem, occ, vac, nil, []string{"al"}, false, true)
	// join and leave agree with setNode.
	a.join("C", pusher.Member{UserID: "cy"})
	if add, _, _, _ := a.setNode("C", 1, []nodeMember{nm("cy", 1)}); add != nil || a.users() != 1 {
		t.Fatalf("setNode after join: added %v, users %d", add, a.users())
	}
}
