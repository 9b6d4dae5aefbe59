package actors

import (
	"context"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/pusher"
)

// AppChanges says what a Reload did, by app key.
type AppChanges struct {
	Added, Removed, Changed []string
}

// Reload makes apps the Broker's apps, by key:
//   - a new key gets a new app actor;
//   - a key that stays keeps its actor and its connections and channels;
//     changed settings (a secret, a limit, the webhook actor) are swapped
//     in whole and apply from the next request, subscription or event on;
//   - a key that is gone stops taking connections, closes every one it has
//     with 4001 (the app no longer exists, clients do not reconnect) and
//     stops; Reload waits for that, or for ctx, after which the rest are
//     stopped at once (their sockets closed with 4200).
//
// An invalid list changes nothing. Reloads are serialized. In a cluster
// every node reloads its own configuration: a grain placed on a node that
// does not know its app yet answers nothing until that node has reloaded.
func (b *Broker) Reload(ctx context.Context, apps []AppConfig) (AppChanges, error) {
	if err := checkApps(apps); err != nil {
		return AppChanges{}, err
	}
	b.reload.Lock()
	defer b.reload.Unlock()
	cur := b.apps.Load()
	next := &appSet{byKey: make(map[string]*App, len(apps))}
	var ch AppChanges
	var added []*App
	for _, ac := range apps {
		app := cur.byKey[ac.Key]
		switch {
		case app == nil:
			a, err := b.spawnApp(ac)
			if err != nil {
				_ = b.stopApps(ctx, added)
				return AppChanges{}, err
			}
			app = a
			added = append(added, a)
			ch.Added = append(ch.Added, ac.Key)
		case *app.info.config() != ac:
			ch.Changed = append(ch.Changed, ac.Key)
		}
		next.byKey[ac.Key] = app
		next.order = append(next.order, app)
	}
	var removed []*App
	for _, a := range cur.order {
		if next.byKey[a.info.key] == nil {
			removed = append(removed, a)
			ch.Removed = append(ch.Removed, a.info.key)
		}
	}

	// New settings first, then the routes to the new apps, then the set
	// the transport looks apps up in: by the time a request can name a new
	// app, every actor that routes it knows the app.
	for _, ac := range apps {
		if a := cur.byKey[ac.Key]; a != nil {
			a.info.cfg.Store(&ac)
		}
	}
	if node := b.shared.node; node != nil {
		node.setApps(next)
	}
	routes := next.routes()
	b.system.Root.Send(b.api, &setRoutes{apps: routes})
	if b.nodePID != nil {
		b.system.Root.Send(b.nodePID, &setRoutes{apps: routes})
	}
	b.apps.Store(next)
	return ch, b.retire(ctx, removed)
}

// retire has each app close its connections with 4001 and stop, and waits
// for them; past ctx it stops those left at once.
func (b *Broker) retire(ctx context.Context, apps []*App) error {
	for _, a := range apps {
		b.system.Root.Send(a.pid, &retire{})
	}
	for i, a := range apps {
		select {
		case <-a.info.stopped:
		case <-ctx.Done():
			_ = b.stopApps(context.Background(), apps[i:])
			return fmt.Errorf("removed apps did not close their connections in time: %w", ctx.Err())
		}
	}
	return nil
}

// retire tells an app that a reload removed it (see appActor.onRetire).
type retire struct{}

// setRoutes gives the HTTP adapter and the node actor the apps after a
// reload, by key.
type setRoutes struct{ apps map[string]*actor.PID }

// closeConnection has a connection close its socket with code and stop.
type closeConnection struct {
	code    pusher.CloseCode
	message string
}
