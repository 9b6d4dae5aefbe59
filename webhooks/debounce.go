package webhooks

import "time"

// heldEvent is a channel_vacated or member_removed waiting for its
// debounce window to pass.
type heldEvent struct {
	key       string
	ev        Event
	due       time.Time
	cancelled bool
}

// debouncer holds the dispatcher's debounced events. Every event waits the
// same window, so the queue (in arrival order) is also in due order and
// one timer, armed for its head, is enough; events leave in the order they
// came. A cancelled event stays in the queue, marked, until its turn, and
// is skipped then. It belongs to the dispatcher actor, like its timer's
// tick messages.
type debouncer struct {
	held  map[string]*heldEvent // live (not cancelled) events by key
	queue []*heldEvent
	timer Timer
	gen   uint64 // generation of the armed timer; older ticks are stale
}

func (b *debouncer) count() int { return len(b.held) }

// stop disarms the timer; a tick already sent is stale from now on.
func (b *debouncer) stop() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.gen++
}

// pop removes the queue's head.
func (b *debouncer) pop() *heldEvent {
	h := b.queue[0]
	b.queue[0] = nil
	b.queue = b.queue[1:]
	if len(b.queue) == 0 {
		b.queue = nil
	}
	return h
}

// hold delays ev (channel_vacated or member_removed) by the debounce
// window, unless debouncing is off or a flush is under way. A second
// event for a key already held is a duplicate and is dropped.
func (d *dispatcherActor) hold(key string, ev Event) {
	if d.cfg.Debounce <= 0 || d.flushing() {
		d.emit(ev)
		return
	}
	b := &d.debounce
	if _, ok := b.held[key]; ok {
		return
	}
	h := &heldEvent{key: key, ev: ev, due: d.cfg.Clock.Now().Add(d.cfg.Debounce)}
	b.held[key] = h
	b.queue = append(b.queue, h)
	if b.timer == nil {
		d.armDebounce()
	}
}

// cancelOrEmit handles channel_occupied and member_added: if the opposite
// event of the same key is held, both are dropped (the receiver never saw
// the channel or member go); otherwise ev goes out at once.
func (d *dispatcherActor) cancelOrEmit(key string, ev Event) {
	if h, ok := d.debounce.held[key]; ok {
		h.cancelled = true
		delete(d.debounce.held, key)
		return
	}
	d.emit(ev)
}

// armDebounce drops cancelled events from the queue's head and arms the
// timer for the first live one.
func (d *dispatcherActor) armDebounce() {
	b := &d.debounce
	for len(b.queue) > 0 && b.queue[0].cancelled {
		b.pop()
	}
	if len(b.queue) == 0 {
		return
	}
	b.gen++
	root, self, msg := d.root, d.self, &debounceTick{gen: b.gen}
	wait := b.queue[0].due.Sub(d.cfg.Clock.Now())
	b.timer = d.cfg.Clock.AfterFunc(wait, func() { root.Send(self, msg) })
}

// onDebounceTick sends every held event whose window has passed.
func (d *dispatcherActor) onDebounceTick(m *debounceTick) {
	b := &d.debounce
	if m.gen != b.gen {
		return
	}
	b.timer = nil
	now := d.cfg.Clock.Now()
	for len(b.queue) > 0 && !b.queue[0].due.After(now) {
		if h := b.pop(); !h.cancelled {
			delete(b.held, h.key)
			d.emit(h.ev)
		}
	}
	d.armDebounce()
}

// releaseHeld sends every held event now, in order (FlushRequest).
func (d *dispatcherActor) releaseHeld() {
	b := &d.debounce
	b.stop()
	queue := b.queue
	b.queue = nil
	clear(b.held)
	for _, h := range queue {
		if !h.cancelled {
			d.emit(h.ev)
		}
	}
}
