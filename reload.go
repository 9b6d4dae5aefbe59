package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/config"
	"github.com/herald-push/herald/transport"
)

// Reload moves the running broker to next, the configuration loaded again
// (Main: the same --config file, environment and flags, through
// config.Load), without a restart and without touching the connections it
// does not concern:
//
//   - apps: added ones take connections and API requests; a changed one
//     keeps its connections and uses its new secret and limits from the
//     next subscription, event or API request on; a removed one closes its
//     connections with 4001 (the app no longer exists);
//   - webhooks: an app whose webhook settings (its URLs, secret or the
//     webhooks.* keys) changed gets a new webhook actor for the events
//     from now on, while the old one delivers what it holds (flushed for
//     up to shutdown_timeout, with the old settings), then stops; the new
//     one reports to the same observers and metrics as the old;
//   - log.level, the connection caps, allowed origins, write queue bounds
//     (new sockets), api.max_body_size, shutdown_timeout;
//   - the TLS certificate files are read again: new handshakes get the new
//     certificate, open connections keep theirs.
//
// The other keys — listen addresses, TLS on or off, timeouts and buffer
// sizes of the listeners, log.format, cluster.* — are not reloadable: each
// one that changed is logged at warn and ignored. An invalid next is
// refused with the messages of start-up (its apps' defaults are filled
// in first, as New does) and nothing changes. The outcome is logged at
// info (keys, never values).
func (h *Herald) Reload(ctx context.Context, next config.Config) error {
	next = withAppDefaults(next)
	if err := next.Validate(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.broker == nil:
		return errors.New("reload: the broker has not started")
	case h.stopped:
		return errors.New("reload: the broker has shut down")
	}
	cfg, changed, ignored := config.Reload(h.cfg, next)
	for _, key := range ignored {
		h.log.Warn("reload: setting not reloadable, ignored until restart", "key", key)
	}

	hooks, spawned, err := h.reloadHooks(cfg)
	if err != nil {
		return err
	}
	apps := make([]actors.AppConfig, 0, len(cfg.Apps))
	for _, a := range cfg.Apps {
		apps = append(apps, appConfig(a, cfg.WebSocket, hooks[a.Key].pid))
	}
	res, err := h.broker.Reload(ctx, apps)
	if err != nil && res.Added == nil && res.Removed == nil && res.Changed == nil {
		for _, key := range spawned {
			h.flushHook(key, hooks[key].pid, time.Now())
		}
		return err
	}
	if err != nil { // applied, but removed apps were cut short
		h.log.Warn("reload: removed apps stopped before their connections closed", "err", err)
	}
	if h.metrics != nil {
		h.metrics.declare(cfg.Apps) // the added apps' series, at 0
	}
	var rebuilt []string
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	for key, old := range h.hooks {
		if hooks[key].pid != old.pid {
			h.retireHook(key, old.pid, deadline)
			if _, ok := hooks[key]; ok {
				rebuilt = append(rebuilt, key)
			}
		}
	}
	h.hooks = hooks

	if err := h.server.Update(limits(cfg)); err != nil {
		return fmt.Errorf("reload: %w", err) // cannot happen: cfg is valid
	}
	if err := h.server.ReloadCertificates(transport.TLSFiles(cfg.WebSocket.TLS), transport.TLSFiles(cfg.API.TLS)); err != nil {
		// The files changed since Validate read them: the listeners keep
		// the certificates they have.
		h.log.Error("reload: certificates not reloaded", "err", err)
	}
	switch {
	case h.level != nil:
		h.level.Set(parseLevel(cfg.Log.Level))
	case cfg.Log.Level != h.cfg.Log.Level:
		h.log.Warn("reload: log.level not applied: the logger was given without its LevelVar (Options.LogLevel)")
	}
	h.cfg = cfg
	h.log.Info("reload: done", "changed", list(changed), "apps_added", list(res.Added),
		"apps_removed", list(res.Removed), "apps_changed", list(res.Changed),
		"webhooks_rebuilt", list(rebuilt), "ignored", list(ignored))
	return nil
}

// reloadHooks returns the webhook actor of every app of cfg that has
// webhooks: the current one when its settings are the same, a new one
// otherwise (listed in spawned).
func (h *Herald) reloadHooks(cfg config.Config) (hooks map[string]hook, spawned []string, err error) {
	hooks = make(map[string]hook)
	for _, a := range cfg.Apps {
		if len(a.Webhooks) == 0 {
			continue
		}
		if cur, ok := h.hooks[a.Key]; ok && sameHooks(cur.cfg, webhookConfig(cfg, a, h.log)) {
			hooks[a.Key] = cur
			continue
		}
		hk, err := h.spawnHook(cfg, a)
		if err != nil {
			for _, key := range spawned {
				h.flushHook(key, hooks[key].pid, time.Now())
			}
			return nil, nil, err
		}
		hooks[a.Key] = hk
		spawned = append(spawned, a.Key)
	}
	return hooks, spawned, nil
}

// retireHook flushes a webhook actor that a reload replaced or whose app
// it removed, until deadline, and stops it, in the background: Shutdown
// waits for it.
func (h *Herald) retireHook(key string, pid *actor.PID, deadline time.Time) {
	h.retiring.Add(1)
	go func() { // owned by Herald: Shutdown waits for it; bounded by deadline
		defer h.retiring.Done()
		h.flushHook(key, pid, deadline)
	}()
}

// list joins keys for a log attribute ("" when none).
func list(keys []string) string { return strings.Join(keys, ",") }
