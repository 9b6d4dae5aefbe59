package pusher

// CloseCode is a WebSocket close code from the Pusher protocol. The range
// tells a client what to do next (see Reconnect).
type CloseCode uint16

// Close codes Herald sends. Their meanings are Pusher's.
const (
	// CloseAppNotFound: no app has the key in the URL. Clients give up.
	CloseAppNotFound CloseCode = 4001
	// CloseOverQuota: the app is over its connection quota. Clients give up.
	CloseOverQuota CloseCode = 4004
	// CloseUnsupportedProtocol: the protocol version is not 7 (or close enough).
	CloseUnsupportedProtocol CloseCode = 4007
	// CloseUnauthorized: a bad signin, or no signin within the app's timeout.
	CloseUnauthorized CloseCode = 4009
	// CloseOverCapacity: the server could not keep up with this socket (its
	// write queue filled). Clients reconnect with back-off.
	CloseOverCapacity CloseCode = 4100
	// CloseReconnect: generic "reconnect now", sent on graceful shutdown.
	CloseReconnect CloseCode = 4200
	// ClosePongTimeout: the client did not answer a pusher:ping in time.
	ClosePongTimeout CloseCode = 4201
)

// Error codes sent in pusher:error frames that do not close the socket.
const (
	// ErrCodeClientEventRejected: client event refused (rate, rules, size).
	ErrCodeClientEventRejected = 4301
)

// Reconnect tells how a Pusher client reacts to a close code.
type Reconnect int

const (
	// ReconnectNormal: outside the Pusher ranges; the client's usual logic.
	ReconnectNormal Reconnect = iota
	// ReconnectNever: 4000–4099, the client gives up.
	ReconnectNever
	// ReconnectBackoff: 4100–4199, the client waits, then reconnects.
	ReconnectBackoff
	// ReconnectNow: 4200–4299, the client reconnects at once.
	ReconnectNow
)

// Reconnect returns the client behaviour pusher-js applies to c.
func (c CloseCode) Reconnect() Reconnect {
	switch {
	case c >= 4000 && c < 4100:
		return ReconnectNever
	case c >= 4100 && c < 4200:
		return ReconnectBackoff
	case c >= 4200 && c < 4300:
		return ReconnectNow
	case c >= 4300 && c < 4400:
		return ReconnectNever
	}
	return ReconnectNormal
}
