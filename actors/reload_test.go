package actors

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/pusher"
)

func subscribePrivate(c *connectionHandle, socketID, key, secret, channel string) {
	c.send(`{"event":"pusher:subscribe","data":{"channel":"` + channel + `","auth":"` +
		pusher.ChannelAuth(key, secret, socketID, channel, "") + `"}}`)
}

// Reload adds, changes and removes apps by key: an added app takes
// connections and API requests, a changed secret is the one checked from
// the next subscription on while the app's connections stay, a removed
// app closes its connections with 4001 and is gone.
func TestReloadAddsChangesAndRemovesApps(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	old := e.app().Config()
	so := newOutbox()
	c := e.connect(t, "1.1", so, so)

	changed := old
	changed.Secret = "new-secret"
	ch, err := e.broker.Reload(ctx, []AppConfig{changed, testApp(AppConfig{Key: "key2", Secret: "s2"})})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Added, []string{"key2"}) || !slices.Equal(ch.Changed, []string{"key"}) || len(ch.Removed) != 0 {
		t.Fatalf("changes %+v", ch)
	}
	if e.app().Config().Secret != "new-secret" || len(e.broker.Apps()) != 2 {
		t.Fatalf("apps after reload: %+v", e.broker.Apps())
	}
	// The open connection stays, and its next subscription is checked
	// with the new secret.
	subscribePrivate(c, "1.1", "key", "secret", "private-a")
	if f := so.next(t, nil); f["event"] != pusher.EventSubscriptionError {
		t.Fatalf("old secret: %v", f)
	}
	subscribePrivate(c, "1.1", "key", "new-secret", "private-a")
	if f := so.next(t, nil); f["event"] != pusher.EventSubscriptionSucceeded {
		t.Fatalf("new secret: %v", f)
	}
	// The new app answers API requests and takes connections.
	if res, err := e.broker.Request(&ChannelsRequest{App: "key2"}); err != nil {
		t.Fatal(err)
	} else if _, ok := res.(*ChannelsResponse); !ok {
		t.Fatalf("API request to the added app: %v", res)
	}
	app2, ok := e.broker.App("key2")
	if !ok {
		t.Fatal("added app not found")
	}
	o2 := newOutbox()
	if _, err := e.broker.Connect(app2, "2.2", o2); err != nil {
		t.Fatal(err)
	}
	if f := o2.next(t, nil); f["event"] != pusher.EventConnectionEstablished {
		t.Fatalf("frame %v", f)
	}

	// Removing key: its connection is told 4001 and closed; key2's stays.
	gone := e.app()
	ch, err = e.broker.Reload(ctx, []AppConfig{app2.Config()})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Removed, []string{"key"}) || len(ch.Added)+len(ch.Changed) != 0 {
		t.Fatalf("changes %+v", ch)
	}
	if f := so.next(t, nil); f["event"] != pusher.EventError {
		t.Fatalf("frame %v", f)
	}
	waitClosed(t, so, pusher.CloseAppNotFound)
	select {
	case <-gone.info.stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("the removed app did not stop")
	}
	if _, ok := e.broker.App("key"); ok {
		t.Fatal("the removed app is still found")
	}
	if res, _ := e.broker.Request(&ChannelsRequest{App: "key"}); !isErr(res, ErrUnknownApp) {
		t.Fatalf("API request to the removed app: %v", res)
	}
	o2.empty(t)
}

// gateBox is an outbox whose Send blocks on a frame holding word until
// gate is closed: the connection actor writing it waits meanwhile.
type gateBox struct {
	*outbox
	word string
	gate chan struct{}
}

func (b gateBox) Send(f []byte) {
	if strings.Contains(string(f), b.word) {
		<-b.gate
	}
	b.outbox.Send(f)
}

// A removed app still closing its connections refuses new ones with 4001,
// like an unknown key: a socket that raced the removal is not served.
func TestRetiringAppRefusesConnections(t *testing.T) {
	e := newEnv(t, nil)
	app := e.app()
	o := newOutbox()
	gate := make(chan struct{})
	e.connect(t, "1.1", gateBox{o, "4001", gate}, o) // holds the app open while retiring
	reloaded := make(chan error, 1)
	go func() { // owned by this test: ends when the app has stopped, once gate is closed
		_, err := e.broker.Reload(context.Background(), nil)
		reloaded <- err
	}()
	var refused *RefusedError
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := e.broker.Connect(app, "2.2", newOutbox())
		if errors.As(err, &refused) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a retiring app still takes connections: %v", err)
		}
	}
	if refused.Code != pusher.CloseAppNotFound {
		t.Fatalf("refused with %d, want 4001", refused.Code)
	}
	close(gate)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	waitClosed(t, o, pusher.CloseAppNotFound)
}

// An invalid list changes nothing.
func TestReloadRefusesInvalidApps(t *testing.T) {
	e := newEnv(t, nil)
	before := e.app().Config()
	for _, apps := range [][]AppConfig{
		{before, before},                  // a key twice
		{testApp(AppConfig{Secret: "x"})}, // no key
		{{Key: "k2", Secret: "x"}},        // limits missing
	} {
		if _, err := e.broker.Reload(context.Background(), apps); err == nil {
			t.Errorf("Reload(%+v) accepted", apps)
		}
	}
	if len(e.broker.Apps()) != 1 || e.app().Config() != before {
		t.Fatalf("apps changed: %+v", e.broker.Apps())
	}
	var refused *RefusedError
	if _, err := e.broker.Connect(e.app(), "1.1", newOutbox()); errors.As(err, &refused) || err != nil {
		t.Fatalf("connect after a refused reload: %v", err)
	}
}

// isErr reports whether an actor's answer is the error target.
func isErr(res any, target error) bool {
	err, ok := res.(error)
	return ok && errors.Is(err, target)
}
