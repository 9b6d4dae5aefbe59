package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/pusher"
)

// Herald embedded in a Go program, driven by pusher-js (e2e/js/embedded).

// TestPusherJSEmbeddingAPI runs embedded/api.test.mjs against a Herald
// embedded in this test's ActorSystem: a /test/publish mount publishes by
// method or by message, an in-process Authorizer grants whoever sends
// X-User (private-admin- channels only to root), and a server-side
// subscriber actor on private-echo answers each client event with "echo".
func TestPusherJSEmbeddingAPI(t *testing.T) {
	node := requireNode(t)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	t.Cleanup(system.Shutdown)
	var h *herald.Herald // set before Start; the mount serves only after it
	publish := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Via, Channel, Event, Data string }
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			pusher.WriteError(w, 400, err.Error())
			return
		}
		ev := herald.Publish{App: app1.Key, Channels: []string{p.Channel}, Event: p.Event, Data: p.Data}
		var err error
		switch p.Via {
		case "method":
			err = h.Publish(r.Context(), ev)
		case "message":
			res, ferr := system.Root.RequestFuture(h.PID(), &ev, 5*time.Second).Result()
			if err = ferr; err == nil {
				err = res.(*herald.Done).Err
			}
		default:
			err = errors.New("via: method or message")
		}
		if err != nil {
			pusher.WriteError(w, 500, err.Error())
			return
		}
		pusher.WriteJSON(w, 200, map[string]any{})
	})
	authorize := func(r *herald.AuthRequest) (herald.Grant, error) {
		user := r.HTTP.Header.Get("X-User")
		switch {
		case user == "":
			return herald.Grant{}, errors.New("sign in first")
		case strings.HasPrefix(r.Channel, "private-admin") && user != "root":
			return herald.Grant{}, errors.New("admins only")
		}
		return herald.Grant{UserID: user, UserInfo: map[string]string{"name": strings.ToUpper(user)}}, nil
	}
	cfg := config.Default()
	cfg.WebSocket.Listen, cfg.API.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Apps = []config.App{app1}
	h, err := herald.New(cfg, herald.Options{System: system, Logger: slog.New(slog.DiscardHandler),
		Authorizer: authorize, Mounts: map[string]http.Handler{"/test/publish": publish}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("herald.Shutdown: %v", err)
		}
	})
	echo := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if ev, ok := ctx.Message().(*herald.ChannelEvent); ok && strings.HasPrefix(ev.Event, "client-") {
			data, _ := json.Marshal(map[string]string{"event": ev.Event, "data": ev.Data})
			ctx.Send(h.PID(), &herald.Publish{App: ev.App, Channels: []string{ev.Channel}, Event: "echo", Data: string(data)})
		}
	}))
	if err := h.Subscribe(context.Background(), herald.Subscribe{App: app1.Key, Channel: "private-echo", Subscriber: echo}); err != nil {
		t.Fatal(err)
	}
	runNode(t, node, h, []string{"embedded/api.test.mjs"})
}

// TestEmbeddedExample builds examples/embedded, runs it on a free port as
// `go run ./examples/embedded` would, drives it with pusher-js
// (embedded/example.test.mjs), then stops it with SIGTERM: it exits 0.
func TestEmbeddedExample(t *testing.T) {
	node := requireNode(t)
	bin := filepath.Join(t.TempDir(), "embedded")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/embedded").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProc(t, []string{"ADDR=" + addr}, bin)
	waitHTTP(t, "http://"+addr+"/readyz", p)
	runNodeAt(t, node, addr, addr, []string{"embedded/example.test.mjs"})

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for startProc's cleanup
		if err != nil {
			t.Fatalf("the example exited with %v:\n%s", err, p.output())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the example did not stop within 15s of SIGTERM:\n%s", p.output())
	}
	if out := p.output(); !strings.Contains(out, "shutdown: done") {
		t.Fatalf("no orderly shutdown in the example's log:\n%s", out)
	}
}
