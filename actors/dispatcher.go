package actors

import (
	"runtime"
	"sync"
)

// pool is the dispatcher of Herald's actors: it runs actor turns on a
// fixed set of long-lived goroutines instead of Proto.Actor's default of
// one new goroutine per turn. A connect, subscribe and disconnect takes
// about fifteen actor turns; on fresh goroutines each of them pays for
// creation and stack growth (measured: 6-8 % of the server CPU of churn,
// see BENCHMARKS.md). When every worker is busy and the queue is full a
// turn falls back to its own goroutine, so Schedule never blocks and a
// slow turn never holds up the rest.
//
// The Broker owns the workers: Start starts them, Stop ends them once the
// actors have stopped.
type pool struct {
	work       chan func()
	quit       chan struct{}
	throughput int
	workers    sync.WaitGroup
	stopOnce   sync.Once
}

func newPool() *pool {
	n := 8 * runtime.GOMAXPROCS(0)
	p := &pool{work: make(chan func(), 4096), quit: make(chan struct{}), throughput: 300}
	p.workers.Add(n)
	for i := 0; i < n; i++ {
		go p.loop() // owned by pool: ends on stop
	}
	return p
}

func (p *pool) loop() {
	defer p.workers.Done()
	for {
		select {
		case fn := <-p.work:
			fn()
		case <-p.quit:
			return
		}
	}
}

// Schedule runs fn on a worker, or on a goroutine of its own when the
// queue is full.
func (p *pool) Schedule(fn func()) {
	select {
	case p.work <- fn:
	default:
		go fn()
	}
}

// Throughput is how many messages an actor handles per turn.
func (p *pool) Throughput() int { return p.throughput }

// stop ends the workers once they are idle (it may be called again).
func (p *pool) stop() {
	p.stopOnce.Do(func() { close(p.quit) })
	p.workers.Wait()
}
