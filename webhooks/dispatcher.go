package webhooks

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
)

// NewProps returns the props of the webhook actor of one app (cfg.Key).
// Channel actors (in a cluster, the channel grains on this node) send it
// their webhook facts (*actors.ChannelOccupied and the others);
// Herald.Shutdown, and Herald.Reload when it replaces the actor, send it
// *FlushRequest, then stop it. See the package doc for what it sends and
// when. A Config without one of its required settings is refused.
func NewProps(cfg Config) (*actor.Props, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return actor.PropsFromProducer(func() actor.Actor { return newDispatcher(cfg) }), nil
}

// dispatcherActor turns an app's facts into webhook requests. Its state
// (held events, endpoint queues, flush waiters) is touched only inside
// Receive; timers and senders report back with messages to self.
type dispatcherActor struct {
	cfg       Config
	ownClient bool
	log       *slog.Logger

	root *actor.RootContext
	self *actor.PID

	endpoints []*endpoint
	debounce  debouncer
	flushes   []*flushWaiter
	depth     int // the queue depth last told to cfg.QueueDepth

	// cancel stops the sender goroutines; senders is their WaitGroup. Both
	// are owned by this actor: set in Started, used in Stopping.
	cancel  context.CancelFunc
	senders sync.WaitGroup
}

func newDispatcher(cfg Config) *dispatcherActor {
	cfg, own := cfg.withRuntime()
	return &dispatcherActor{
		cfg:       cfg,
		ownClient: own,
		log:       cfg.Logger.With("component", "webhooks", "app", cfg.App),
		debounce:  debouncer{held: map[string]*heldEvent{}},
	}
}

// Receive handles one message; see messages.go and actors/messages.go.
func (d *dispatcherActor) Receive(ctx actor.Context) {
	defer d.tellDepth()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		d.onStarted(ctx)
	case *actor.Stopping:
		d.onStopping("stopping")
	case *actor.Restarting:
		d.onStopping("restarting")
	case *actor.Stopped:
	case *actors.ChannelOccupied:
		d.onChannelOccupied(msg)
	case *actors.ChannelVacated:
		d.onChannelVacated(msg)
	case *actors.MemberAdded:
		d.onMemberAdded(msg)
	case *actors.MemberRemoved:
		d.onMemberRemoved(msg)
	case *actors.ClientEventSent:
		d.onClientEventSent(msg)
	case *actors.CacheMissed:
		d.onCacheMissed(msg)
	case *actors.SubscriptionCountChanged:
		d.onSubscriptionCountChanged(msg)
	case *FlushRequest:
		d.onFlush(ctx, msg)
	case *StatsRequest:
		d.onStats(ctx)
	case *debounceTick:
		d.onDebounceTick(msg)
	case *batchTick:
		d.onBatchTick(msg)
	case *batchDone:
		d.onBatchDone(msg)
	case *flushTimeout:
		d.onFlushTimeout(msg)
	default:
		d.log.Warn("webhooks: unexpected message", "type", fmt.Sprintf("%T", msg))
	}
}

// onStarted builds the endpoints and starts one sender goroutine each.
// The goroutines are this actor's: onStopping cancels and waits for them.
func (d *dispatcherActor) onStarted(ctx actor.Context) {
	d.root, d.self = ctx.ActorSystem().Root, ctx.Self()
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for i, e := range d.cfg.Endpoints {
		ep, err := newEndpoint(len(d.endpoints), e, d.cfg, d.log)
		if err != nil {
			d.log.Error("webhook endpoint skipped", "endpoint", i, "error", err)
			continue
		}
		d.endpoints = append(d.endpoints, ep)
		root, self, idx := d.root, d.self, ep.idx
		d.senders.Go(func() {
			ep.snd.run(runCtx, func(b *batch, ok bool) {
				root.Send(self, &batchDone{ep: idx, b: b, ok: ok})
			})
		})
	}
}

// onStopping stops every timer, answers waiting flushes, cancels the
// senders (aborting a request in progress) and waits for them. Events not
// delivered are counted in a log line, never dropped silently.
func (d *dispatcherActor) onStopping(why string) {
	d.debounce.stop()
	for _, ep := range d.endpoints {
		ep.stopTimer()
	}
	pending := d.pending()
	for _, w := range d.flushes {
		w.timer.Stop()
		d.root.Send(w.to, &FlushResponse{Pending: pending})
	}
	d.flushes = nil
	if d.cancel != nil {
		d.cancel()
	}
	d.senders.Wait()
	if pending > 0 {
		d.log.Warn("webhook events discarded", "reason", why, "events", pending)
		actors.Tell(d.cfg.Observer, actors.Observation{Kind: actors.ObservedWebhookFailed, App: d.cfg.App,
			Count: pending, Detail: actors.WebhookDroppedStopped})
	}
	if d.ownClient {
		d.cfg.Client.CloseIdleConnections()
	}
}

func (d *dispatcherActor) onChannelOccupied(m *actors.ChannelOccupied) {
	d.cancelOrEmit(channelKey(m.Channel), Event{Name: EventChannelOccupied, Channel: m.Channel})
}

func (d *dispatcherActor) onChannelVacated(m *actors.ChannelVacated) {
	d.hold(channelKey(m.Channel), Event{Name: EventChannelVacated, Channel: m.Channel})
}

func (d *dispatcherActor) onMemberAdded(m *actors.MemberAdded) {
	d.cancelOrEmit(memberKey(m.Channel, m.UserID),
		Event{Name: EventMemberAdded, Channel: m.Channel, UserID: m.UserID})
}

func (d *dispatcherActor) onMemberRemoved(m *actors.MemberRemoved) {
	d.hold(memberKey(m.Channel, m.UserID),
		Event{Name: EventMemberRemoved, Channel: m.Channel, UserID: m.UserID})
}

func (d *dispatcherActor) onClientEventSent(m *actors.ClientEventSent) {
	d.emit(Event{Name: EventClientEvent, Channel: m.Channel, Event: m.Event,
		Data: m.Data, SocketID: m.SocketID, UserID: m.UserID})
}

func (d *dispatcherActor) onCacheMissed(m *actors.CacheMissed) {
	d.emit(Event{Name: EventCacheMiss, Channel: m.Channel})
}

func (d *dispatcherActor) onSubscriptionCountChanged(m *actors.SubscriptionCountChanged) {
	d.emit(Event{Name: EventSubscriptionCount, Channel: m.Channel, SubscriptionCount: m.Count})
}

// emit offers ev to every endpoint and sends what is due.
func (d *dispatcherActor) emit(ev Event) {
	for _, ep := range d.endpoints {
		if ep.offer(ev, d.cfg.QueueSize) {
			d.pump(ep, d.flushing())
		}
	}
}

// pump hands the endpoint's next batch to its sender if the sender is idle
// and the batch is due: force is set, BatchMax events wait, or batching is
// off. Otherwise it arms the batch window timer, once per batch.
func (d *dispatcherActor) pump(ep *endpoint, force bool) {
	if ep.current != nil || len(ep.queue) == 0 {
		return
	}
	if !force && len(ep.queue) < d.cfg.BatchMax && d.cfg.BatchWindow > 0 {
		if ep.timer == nil {
			root, self, msg := d.root, d.self, &batchTick{ep: ep.idx, gen: ep.timerGen}
			ep.timer = d.cfg.Clock.AfterFunc(d.cfg.BatchWindow, func() { root.Send(self, msg) })
		}
		return
	}
	ep.stopTimer()
	events := ep.take(d.cfg.BatchMax)
	body, err := encodePayload(d.cfg.Clock.Now().UnixMilli(), events)
	if err != nil {
		// Events are plain strings and ints; this cannot happen, but
		// must not pass silently if it does.
		ep.stats.Dropped += uint64(len(events))
		ep.log.Error("webhook batch not encodable; dropped", "events", len(events), "error", err)
		actors.Tell(d.cfg.Observer, actors.Observation{Kind: actors.ObservedWebhookFailed, App: d.cfg.App,
			Count: len(events), Detail: actors.WebhookDroppedEncode})
		return
	}
	ep.current = &batch{body: body, events: len(events)}
	ep.snd.work <- ep.current // never blocks: the sender is idle
}

func (d *dispatcherActor) onBatchTick(m *batchTick) {
	ep := d.endpoints[m.ep]
	if m.gen != ep.timerGen {
		return
	}
	ep.timer = nil
	ep.timerGen++
	d.pump(ep, true)
}

// onBatchDone records a finished batch and sends the next one at once:
// events that queued during a delivery have waited long enough.
func (d *dispatcherActor) onBatchDone(m *batchDone) {
	ep := d.endpoints[m.ep]
	if ep.current != m.b {
		return
	}
	ep.current = nil
	n := uint64(m.b.events) //nolint:gosec // G115: len() of the batch's events, never negative
	if m.ok {
		ep.stats.Delivered += n
	} else {
		ep.stats.Dropped += n
	}
	d.pump(ep, true)
	d.answerFlushes()
}

func (d *dispatcherActor) onStats(ctx actor.Context) {
	resp := &StatsResponse{Held: d.debounce.count()}
	for _, ep := range d.endpoints {
		resp.Endpoints = append(resp.Endpoints, ep.snapshot())
	}
	ctx.Respond(resp)
}

// tellDepth tells cfg.QueueDepth the events queued or in flight, when
// that changed.
func (d *dispatcherActor) tellDepth() {
	if d.cfg.QueueDepth == nil {
		return
	}
	n := 0
	for _, ep := range d.endpoints {
		n += ep.pending()
	}
	if n != d.depth {
		d.depth = n
		d.cfg.QueueDepth(n)
	}
}

// pending is the number of events not yet delivered, held ones included.
func (d *dispatcherActor) pending() int {
	n := d.debounce.count()
	for _, ep := range d.endpoints {
		n += ep.pending()
	}
	return n
}

func channelKey(channel string) string { return "c\x00" + channel }

func memberKey(channel, userID string) string { return "m\x00" + channel + "\x00" + userID }
