package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// factDebouncer stands between an app's facts and a watcher that asked
// for them debounced (WatchFacts.Debounce), as the webhook actor debounces
// webhooks: *ChannelVacated and *MemberRemoved wait for the window and are
// dropped, with the *ChannelOccupied or *MemberAdded that undoes them, if
// that comes within it (a page reload shows nothing); every other fact
// goes on at once. Held facts leave in the order they came. A child of the
// app, which stops it when the watcher stops or unwatches; held facts are
// dropped then.
type factDebouncer struct {
	watcher *actor.PID
	window  time.Duration
	log     *slog.Logger
	held    map[string]*heldFact // live (not cancelled) facts by channel or member
	queue   []*heldFact          // in arrival order, so in due order: one timer for its head
	timer   *time.Timer
	gen     uint64 // of the armed timer: an older tick is stale
}

// heldFact is a vacated or removed fact waiting out the window.
type heldFact struct {
	key       string
	fact      any
	due       time.Time
	cancelled bool
}

// factTick wakes the debouncer when the head of its queue is due.
type factTick struct{ gen uint64 }

// IgnoreDeadLetterLogging: a tick may fire just after the debouncer stopped.
func (*factTick) IgnoreDeadLetterLogging() {}

func newFactDebouncerProps(app *appInfo, watcher *actor.PID, window time.Duration) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &factDebouncer{watcher: watcher, window: window, log: app.log, held: make(map[string]*heldFact)}
	}, app.dispatch)
}

// Receive handles the facts and the debouncer's tick.
func (d *factDebouncer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *ChannelOccupied:
		d.cancelOrPass(ctx, "c\x00"+m.Channel, m)
	case *MemberAdded:
		d.cancelOrPass(ctx, "m\x00"+m.Channel+"\x00"+m.UserID, m)
	case *ChannelVacated:
		d.hold(ctx, "c\x00"+m.Channel, m)
	case *MemberRemoved:
		d.hold(ctx, "m\x00"+m.Channel+"\x00"+m.UserID, m)
	case *ClientEventSent, *CacheMissed, *SubscriptionCountChanged:
		ctx.Send(d.watcher, m)
	case *factTick:
		d.onTick(ctx, m)
	case *actor.Stopped:
		d.stopTimer()
	case *actor.Started, *actor.Stopping, *actor.Restarting:
	default:
		d.log.Warn("facts: unexpected message", "type", typeName(m))
	}
}

// cancelOrPass drops the held fact fact undoes (and fact with it), or
// passes fact on.
func (d *factDebouncer) cancelOrPass(ctx actor.Context, key string, fact any) {
	if h := d.held[key]; h != nil {
		h.cancelled = true
		delete(d.held, key)
		return
	}
	ctx.Send(d.watcher, fact)
}

// hold keeps fact for the window; a second one for a key already held is
// a duplicate.
func (d *factDebouncer) hold(ctx actor.Context, key string, fact any) {
	if d.held[key] != nil {
		return
	}
	h := &heldFact{key: key, fact: fact, due: time.Now().Add(d.window)}
	d.held[key] = h
	d.queue = append(d.queue, h)
	if d.timer == nil {
		d.arm(ctx)
	}
}

// arm drops cancelled facts from the queue's head and sets the timer for
// the first live one.
func (d *factDebouncer) arm(ctx actor.Context) {
	for len(d.queue) > 0 && d.queue[0].cancelled {
		d.queue = d.queue[1:]
	}
	if len(d.queue) == 0 {
		d.queue = nil
		return
	}
	d.gen++
	self, root, msg := ctx.Self(), ctx.ActorSystem().Root, &factTick{gen: d.gen}
	d.timer = time.AfterFunc(time.Until(d.queue[0].due), func() { root.Send(self, msg) })
}

// onTick passes on every held fact whose window has passed.
func (d *factDebouncer) onTick(ctx actor.Context, m *factTick) {
	if m.gen != d.gen {
		return
	}
	d.timer = nil
	now := time.Now()
	for len(d.queue) > 0 && !d.queue[0].due.After(now) {
		h := d.queue[0]
		d.queue = d.queue[1:]
		if !h.cancelled {
			delete(d.held, h.key)
			ctx.Send(d.watcher, h.fact)
		}
	}
	d.arm(ctx)
}

func (d *factDebouncer) stopTimer() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.gen++
}
