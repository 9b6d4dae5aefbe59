package actors

import (
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// embedded is what an app actor keeps for a program that embeds Herald:
// the stand-ins of its server-side subscribers (subscriber.go) and the
// actors it told to watch the app's facts. Like the user index, it is
// part of the app actor's state, touched only in its Receive.
type embedded struct {
	standIns map[string]*actor.PID // by the subscriber's PID (String)
	byID     map[string]string     // stand-in PID id → its subscriber's key, until it terminates
	seq      uint64                // numbers the stand-ins' pseudo socket ids
	watchers map[string]*factWatch // by the watcher's PID (String)
}

// factWatch is one WatchFacts: the watcher, and the debouncer the facts
// go through (nil: straight to the watcher).
type factWatch struct {
	watcher   *actor.PID
	debouncer *actor.PID
}

// to is where the facts of w are sent.
func (w *factWatch) to() *actor.PID {
	if w.debouncer != nil {
		return w.debouncer
	}
	return w.watcher
}

func (a *appActor) embeddedState() *embedded {
	if a.embedded == nil {
		a.embedded = &embedded{standIns: make(map[string]*actor.PID), byID: make(map[string]string),
			watchers: make(map[string]*factWatch)}
	}
	return a.embedded
}

// onAddSubscriber hands m to its subscriber's stand-in, spawning it on
// the subscriber's first subscription. A retired app refuses.
func (a *appActor) onAddSubscriber(ctx actor.Context, m *AddSubscriber) {
	if a.retired || m.Subscriber == nil {
		reply(m.Reply, &SubscriptionError{App: a.app.key, Channel: m.Channel, Reason: "the app does not exist"})
		return
	}
	e := a.embeddedState()
	key := m.Subscriber.String()
	pid := e.standIns[key]
	if pid == nil {
		slot := a.names.take()
		e.seq++
		var err error
		pid, err = ctx.SpawnNamed(newSubscriberProps(a.app, m.Subscriber, e.seq), childName("sub-", slot))
		if err != nil {
			a.names.give(slot)
			a.app.log.Error("app: cannot spawn a subscriber's stand-in", "err", err)
			reply(m.Reply, &SubscriptionError{App: a.app.key, Channel: m.Channel, Reason: "internal error"})
			return
		}
		e.standIns[key] = pid
		e.byID[pid.Id] = key
	}
	ctx.Send(pid, m)
}

func (a *appActor) onRemoveSubscriber(ctx actor.Context, m *RemoveSubscriber) {
	if a.embedded == nil || m.Subscriber == nil {
		return
	}
	if pid := a.embedded.standIns[m.Subscriber.String()]; pid != nil {
		ctx.Send(pid, m)
	}
}

// onWatchFacts registers m.Watcher (again: a repeat replaces the first),
// with a debouncer in front when asked, and watches it.
func (a *appActor) onWatchFacts(ctx actor.Context, m *WatchFacts) {
	if m.Watcher == nil {
		reply(m.Reply, nil)
		return
	}
	a.onUnwatchFacts(ctx, m.Watcher)
	w := &factWatch{watcher: m.Watcher}
	if m.Debounce > 0 {
		slot := a.names.take()
		pid, err := ctx.SpawnNamed(newFactDebouncerProps(a.app, m.Watcher, m.Debounce), childName("facts-", slot))
		if err != nil {
			a.names.give(slot)
			a.app.log.Error("app: cannot spawn a fact debouncer", "err", err)
			reply(m.Reply, err)
			return
		}
		w.debouncer = pid
	}
	ctx.Watch(m.Watcher)
	a.embeddedState().watchers[m.Watcher.String()] = w
	a.publishWatchers()
	reply(m.Reply, nil)
}

// onUnwatchFacts forgets watcher, if it watches.
func (a *appActor) onUnwatchFacts(ctx actor.Context, watcher *actor.PID) {
	if a.embedded == nil || watcher == nil {
		return
	}
	key := watcher.String()
	w := a.embedded.watchers[key]
	if w == nil {
		return
	}
	delete(a.embedded.watchers, key)
	ctx.Unwatch(watcher)
	if w.debouncer != nil {
		ctx.Stop(w.debouncer)
	}
	a.publishWatchers()
}

// publishWatchers gives the app's actors the fact targets, swapped whole.
func (a *appActor) publishWatchers() {
	to := make([]*actor.PID, 0, len(a.embedded.watchers))
	for _, w := range a.embedded.watchers {
		to = append(to, w.to())
	}
	a.app.watchers.Store(&to)
}

// embeddedTerminated handles the Terminated of what embedding uses: a
// fact watcher that stopped is forgotten; a stand-in or debouncer child
// frees its name. It reports whether who was one of them.
func (a *appActor) embeddedTerminated(ctx actor.Context, who *actor.PID) bool {
	e := a.embedded
	if _, ok := e.watchers[who.String()]; ok {
		a.onUnwatchFacts(ctx, who)
		return true
	}
	if key, ok := e.byID[who.Id]; ok {
		delete(e.byID, who.Id)
		if pid := e.standIns[key]; pid != nil && pid.Id == who.Id {
			delete(e.standIns, key)
		}
		a.names.give(slotOf(who.Id))
		return true
	}
	if strings.Contains(who.Id, "/facts-") {
		a.names.give(slotOf(who.Id))
		return true
	}
	return false
}
