package webhooks

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Messages are pointer structs, sent and matched as pointers.

// ---- Queries ----

// FlushRequest asks the actor to send everything it holds now: debounced
// events are released (no longer cancellable), waiting events leave
// without their batch window. The answer, *FlushResponse, comes when every
// endpoint's queue is empty and nothing is in flight, or when Deadline
// passes (a zero or past Deadline answers at once). Herald.Shutdown sends it
// with RequestFuture at shutdown, before stopping the actor.
type FlushRequest struct {
	Deadline time.Time
}

// FlushResponse answers FlushRequest. Pending is the number of events not
// yet delivered when it was sent (0: all flushed).
type FlushResponse struct {
	Pending int
}

// StatsRequest asks for the actor's counters; the answer is
// *StatsResponse.
type StatsRequest struct{}

// StatsResponse answers StatsRequest.
type StatsResponse struct {
	// Held is the number of debounced events waiting for their window.
	Held int
	// Endpoints has one entry per configured endpoint that is in use, in
	// configuration order.
	Endpoints []EndpointStats
}

// EndpointStats are the counters of one endpoint.
type EndpointStats struct {
	URL string
	// Queued is the number of events waiting; InFlight the number in the
	// batch being delivered.
	Queued, InFlight int
	// Delivered counts events the receiver accepted; Dropped events given
	// up after RetryFor; Overflow events refused because the queue held
	// QueueSize events.
	Delivered, Dropped, Overflow uint64
}

// ---- Internal messages to self ----

// debounceTick: the debounce timer of generation gen fired.
type debounceTick struct{ gen uint64 }

// batchTick: the batch window timer of endpoint ep, generation gen, fired.
type batchTick struct {
	ep  int
	gen uint64
}

// batchDone: endpoint ep's sender finished batch b (delivered or given up).
type batchDone struct {
	ep int
	b  *batch
	ok bool
}

// flushTimeout: the deadline of flush request w passed.
type flushTimeout struct{ w *flushWaiter }

// Timers may fire just after the actor stopped; that is not worth a
// dead-letter log line.
func (*debounceTick) IgnoreDeadLetterLogging() {}
func (*batchTick) IgnoreDeadLetterLogging()    {}
func (*batchDone) IgnoreDeadLetterLogging()    {}
func (*flushTimeout) IgnoreDeadLetterLogging() {}

var (
	_ actor.IgnoreDeadLetterLogging = (*debounceTick)(nil)
	_ actor.IgnoreDeadLetterLogging = (*batchTick)(nil)
	_ actor.IgnoreDeadLetterLogging = (*batchDone)(nil)
	_ actor.IgnoreDeadLetterLogging = (*flushTimeout)(nil)
)
