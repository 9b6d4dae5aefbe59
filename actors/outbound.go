package actors

import "github.com/herald-push/herald/pusher"

// Outbound is the write side of one client socket, implemented by
// transport/. Every frame to a socket goes through it, so frames reach the
// client in the order they were handed over. Implementations must be safe
// for use from many actors at once, never block the caller, and bound what
// they queue: a socket that cannot keep up is closed with 4100 rather than
// buffered without limit.
type Outbound interface {
	// Send queues frame. The caller must not modify frame afterwards.
	Send(frame []byte)
	// SendShared queues a frame prepared once for many sockets by the
	// Fanout that made f.
	SendShared(f Shared)
	// Close queues a close frame after what is queued and then closes.
	Close(code pusher.CloseCode, reason string)
}

// Shared is a frame encoded once for a fan-out. The channel actor calls
// Release after handing it to every subscriber.
type Shared interface{ Release() }

// Fanout prepares frames for SendShared. transport/ implements it with
// gws's Broadcaster, so a publish is framed once however many sockets
// receive it.
type Fanout interface {
	Share(frame []byte) Shared
}

// Burst groups the frames of one API request that go to several
// channels (an event naming several, or a batch), so that a socket on
// more than one of them gets its frames in one write: the frames a Burst
// shares are queued but not written until every channel that got one of
// its Publishes called Done (or a short bound passes, should a Publish
// never arrive). A channel actor shares its frame with Share and calls
// Done once per Publish, whether it had subscribers or not.
type Burst interface {
	Fanout
	Done()
}

// BurstFanout is a Fanout that can group frames into bursts. The app asks
// for one only when a request reaches two channel actors or more; a
// single-channel publish is written at once.
type BurstFanout interface {
	Fanout
	// Burst starts a burst of n Publishes.
	Burst(n int) Burst
}

// plainFanout is the Fanout used when the transport supplies none (tests):
// the shared frame is the bytes themselves.
type plainFanout struct{}

// PlainShared is the Shared of the default Fanout: the frame itself.
type PlainShared []byte

// Release does nothing: the bytes are garbage collected.
func (PlainShared) Release() {}

func (plainFanout) Share(frame []byte) Shared { return PlainShared(frame) }
