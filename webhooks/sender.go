package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
)

// batch is one request body and the number of events in it. The actor
// builds it and hands it to the endpoint's sender; neither changes it after.
type batch struct {
	body   []byte
	events int
}

// sender delivers the batches of one endpoint, one at a time, in order.
//
// Its run goroutine is owned by the dispatcher actor: started in Started,
// cancelled (through ctx) and waited for in Stopping or Restarting. It
// touches no actor state: it reads batches from work and reports each
// outcome through done, which sends a message to the actor. The actor puts
// a batch on work only when the previous one is done, so work (capacity 1)
// never blocks the actor.
type sender struct {
	url     string
	logURL  string // url without user info, query or fragment
	key     string
	secret  string
	headers map[string]string
	client  *http.Client
	clock   Clock
	log     *slog.Logger
	obs     actors.Observer
	app     string

	timeout    time.Duration
	retryFor   time.Duration
	backoffMin time.Duration
	backoffMax time.Duration

	work chan *batch
}

// run delivers batches until ctx is cancelled. done is called after each
// batch that finished (delivered or given up), never after cancellation.
func (s *sender) run(ctx context.Context, done func(b *batch, ok bool)) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-s.work:
			ok := s.deliver(ctx, b)
			if ctx.Err() != nil {
				return
			}
			done(b, ok)
		}
	}
}

// deliver posts b until a 2xx answer, retrying with exponential backoff
// (BackoffMin doubling up to BackoffMax, no jitter) while the next attempt
// would start within RetryFor of the first. It logs a batch it gives up,
// with its size but never its content or the secret.
func (s *sender) deliver(ctx context.Context, b *batch) bool {
	sig := pusher.WebhookSignature(s.secret, b.body)
	first := s.clock.Now()
	wait := s.backoffMin
	for attempt := 1; ; attempt++ {
		start := time.Now()
		status, err := s.post(ctx, b.body, sig)
		took := time.Since(start)
		if err == nil {
			if attempt > 1 {
				s.log.Info("webhook delivered after retries", "url", s.logURL, "attempts", attempt)
			}
			s.observe(actors.ObservedWebhook, status, took, b.events, "")
			return true
		}
		if ctx.Err() != nil {
			s.drop(b, attempt, "actor stopped", err) // the actor observes what it discards
			return false
		}
		if s.retryFor <= 0 || s.clock.Now().Add(wait).Sub(first) > s.retryFor {
			s.drop(b, attempt, "retry time exhausted", err)
			s.observe(actors.ObservedWebhookFailed, status, took, b.events, actors.WebhookDroppedRetries)
			return false
		}
		s.log.Warn("webhook delivery failed; will retry", "url", s.logURL,
			"attempt", attempt, "retry_in", wait, "error", err)
		s.observe(actors.ObservedWebhookRetry, status, took, b.events, err.Error())
		if !s.sleep(ctx, wait) {
			s.drop(b, attempt, "actor stopped", err)
			return false
		}
		wait = min(wait*2, s.backoffMax)
	}
}

func (s *sender) observe(kind actors.ObservationKind, status int, took time.Duration, events int, detail string) {
	actors.Tell(s.obs, actors.Observation{Kind: kind, App: s.app, Code: status, Duration: took, Count: events, Detail: detail})
}

func (s *sender) drop(b *batch, attempts int, why string, err error) {
	s.log.Error("webhook batch dropped", "url", s.logURL, "reason", why,
		"events", b.events, "bytes", len(b.body), "attempts", attempts, "error", err)
}

// sleep waits d on the clock; it reports false if ctx ended first.
func (s *sender) sleep(ctx context.Context, d time.Duration) bool {
	fired := make(chan struct{})
	t := s.clock.AfterFunc(d, func() { close(fired) })
	defer t.Stop()
	select {
	case <-fired:
		return true
	case <-ctx.Done():
		return false
	}
}

// post makes one attempt and returns the receiver's status (0 when it
// did not answer). Configured headers go first so that they cannot
// replace the signature headers.
func (s *sender) post(ctx context.Context, body []byte, sig string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", s.key)
	req.Header.Set("X-Pusher-Signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, query included; logURL says
		// where without it.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, err
	}
	// Drain a little so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// redactURL keeps scheme, host and path: user info and query strings may
// hold credentials.
func redactURL(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}
