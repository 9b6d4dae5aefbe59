package webhooks

import (
	"slices"

	"github.com/asynkron/protoactor-go/actor"
)

// flushWaiter is a FlushRequest waiting for the queues to empty or for
// its deadline, whose timer is timer.
type flushWaiter struct {
	to    *actor.PID
	timer Timer
}

// flushing reports whether a flush is waiting; meanwhile nothing is held
// back by debouncing or batch windows.
func (d *dispatcherActor) flushing() bool { return len(d.flushes) > 0 }

// onFlush releases every held event, sends every endpoint's next batch
// and answers once all is delivered or the deadline passed. A request
// without a sender (plain Send) flushes and gets no answer.
func (d *dispatcherActor) onFlush(ctx actor.Context, m *FlushRequest) {
	d.releaseHeld()
	for _, ep := range d.endpoints {
		d.pump(ep, true)
	}
	to := ctx.Sender()
	if to == nil {
		return
	}
	wait := m.Deadline.Sub(d.cfg.Clock.Now())
	if n := d.pending(); n == 0 || wait <= 0 {
		ctx.Respond(&FlushResponse{Pending: n})
		return
	}
	w := &flushWaiter{to: to}
	root, self, msg := d.root, d.self, &flushTimeout{w: w}
	w.timer = d.cfg.Clock.AfterFunc(wait, func() { root.Send(self, msg) })
	d.flushes = append(d.flushes, w)
}

// onFlushTimeout answers a flush whose deadline passed with what is left.
func (d *dispatcherActor) onFlushTimeout(m *flushTimeout) {
	i := slices.Index(d.flushes, m.w)
	if i < 0 {
		return
	}
	d.flushes = slices.Delete(d.flushes, i, i+1)
	d.root.Send(m.w.to, &FlushResponse{Pending: d.pending()})
}

// answerFlushes answers every waiting flush once nothing is pending.
func (d *dispatcherActor) answerFlushes() {
	if len(d.flushes) == 0 || d.pending() > 0 {
		return
	}
	for _, w := range d.flushes {
		w.timer.Stop()
		d.root.Send(w.to, &FlushResponse{})
	}
	d.flushes = nil
}
