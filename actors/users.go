package actors

import "github.com/asynkron/protoactor-go/actor"

// userIndex is an app's view of signed-in users: their connections (for
// server-to-user events and terminate_connections) and who watches whom
// (watchlist events). Owned by one app actor; table-tested on its own.
type userIndex struct {
	byConn   map[string]*userConn            // connection PID id → its signin
	byUser   map[string]map[string]*userConn // user id → connections
	watchers map[string]map[string]*userConn // watched user id → watching connections
}

type userConn struct {
	pid       *actor.PID
	out       Outbound
	socketID  string
	userID    string
	watchlist []string
}

func newUserIndex() *userIndex {
	return &userIndex{byConn: map[string]*userConn{}, byUser: map[string]map[string]*userConn{},
		watchers: map[string]map[string]*userConn{}}
}

// add records a signin. It returns whether the user just came online and
// which of the connection's watched users are online now.
func (x *userIndex) add(c *userConn) (cameOnline bool, online []string) {
	if old := x.byConn[c.pid.Id]; old != nil {
		x.remove(c.pid.Id) // a second signin on one socket replaces the first
	}
	x.byConn[c.pid.Id] = c
	conns := x.byUser[c.userID]
	if conns == nil {
		conns = map[string]*userConn{}
		x.byUser[c.userID] = conns
		cameOnline = true
	}
	conns[c.pid.Id] = c
	for _, w := range c.watchlist {
		ws := x.watchers[w]
		if ws == nil {
			ws = map[string]*userConn{}
			x.watchers[w] = ws
		}
		ws[c.pid.Id] = c
		if len(x.byUser[w]) > 0 {
			online = append(online, w)
		}
	}
	return cameOnline, online
}

// remove forgets a connection. It returns the connection's signin (nil if
// it never signed in) and whether its user just went offline.
func (x *userIndex) remove(connID string) (c *userConn, wentOffline bool) {
	c = x.byConn[connID]
	if c == nil {
		return nil, false
	}
	delete(x.byConn, connID)
	conns := x.byUser[c.userID]
	delete(conns, connID)
	if len(conns) == 0 {
		delete(x.byUser, c.userID)
		wentOffline = true
	}
	for _, w := range c.watchlist {
		if ws := x.watchers[w]; ws != nil {
			delete(ws, connID)
			if len(ws) == 0 {
				delete(x.watchers, w)
			}
		}
	}
	return c, wentOffline
}

// conns returns the connections of a user.
func (x *userIndex) conns(userID string) map[string]*userConn { return x.byUser[userID] }

// watchersOf returns the connections watching userID.
func (x *userIndex) watchersOf(userID string) map[string]*userConn { return x.watchers[userID] }
