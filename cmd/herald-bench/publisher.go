package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-push/herald/pusher"
)

// publisher triggers events through the HTTP API, signed as an SDK signs
// them (the baseline ignores the signature, but the client's work is the
// same against both servers).
type publisher struct {
	client      *http.Client
	base, path  string
	bases       []string // a cluster's API bases: publish spreads events over them (nodeOf)
	key, secret string
	pad         string
	ok, failed  atomic.Int64
	lat         *hist // request latency
	errMu       sync.Mutex
	errs        []string
}

func newPublisher(api, appID, key, secret string, conns, payload int) *publisher {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &publisher{
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		base:   "http://" + api, path: "/apps/" + appID + "/events",
		key: key, secret: secret, pad: strings.Repeat("x", payload), lat: new(hist),
	}
}

// body is one /events request to the m channels from ch: the data
// carries the send time t (unix ns), the channels' sequence number s and
// the first channel's index c (subscribers read the channel from the
// frame).
func (p *publisher) body(name string, ch, m, seq int, t int64) []byte {
	data := make([]byte, 0, 64+len(p.pad))
	data = append(data, `{"t":`...)
	data = strconv.AppendInt(data, t, 10)
	data = append(data, `,"s":`...)
	data = strconv.AppendInt(data, int64(seq), 10)
	data = append(data, `,"c":`...)
	data = strconv.AppendInt(data, int64(ch), 10)
	data = append(data, `,"p":"`...)
	data = append(data, p.pad...)
	data = append(data, `"}`...)
	b := make([]byte, 0, 2*len(data)+64)
	b = append(b, `{"name":`...)
	b = pusher.AppendString(b, name)
	if m <= 1 {
		b = append(b, `,"channel":`...)
		b = pusher.AppendString(b, channelName(ch))
	} else {
		b = append(b, `,"channels":[`...)
		for j := 0; j < m; j++ {
			if j > 0 {
				b = append(b, ',')
			}
			b = pusher.AppendString(b, channelName(ch+j))
		}
		b = append(b, ']')
	}
	b = append(b, `,"data":`...)
	b = pusher.AppendString(b, string(data))
	return append(b, '}')
}

// spread makes publish send event seq of channel ch to the API at
// apis[nodeOf(seq, ch, len(apis))]: round-robin over a cluster's nodes.
func (p *publisher) spread(apis []string) {
	p.bases = nil
	for _, a := range apis {
		p.bases = append(p.bases, "http://"+a)
	}
}

// publish sends one event to channel ch; it returns whether the server
// accepted it.
func (p *publisher) publish(name string, ch, seq int) bool { return p.publishTo(name, ch, 1, seq) }

// publishTo sends one event to the m channels from ch.
func (p *publisher) publishTo(name string, ch, m, seq int) bool {
	start := time.Now()
	base := p.base
	if len(p.bases) > 1 {
		base = p.bases[nodeOf(seq, ch, len(p.bases))]
	}
	return p.sendTo(base, p.body(name, ch, m, seq, start.UnixNano()), start)
}

// send posts one /events body, signed at start; it returns whether the
// server accepted it.
func (p *publisher) send(body []byte, start time.Time) bool { return p.sendTo(p.base, body, start) }

func (p *publisher) sendTo(base string, body []byte, start time.Time) bool {
	q := pusher.SignREST(p.key, p.secret, http.MethodPost, p.path, nil, body, start)
	req, err := http.NewRequest(http.MethodPost, base+p.path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		p.fail(err.Error())
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := p.client.Do(req)
	if err != nil {
		p.fail(err.Error())
		return false
	}
	rb, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		p.fail(fmt.Sprintf("%s: %s", res.Status, rb))
		return false
	}
	p.lat.Record(time.Since(start))
	p.ok.Add(1)
	return true
}

func (p *publisher) fail(s string) {
	p.failed.Add(1)
	p.errMu.Lock()
	if len(p.errs) < 5 {
		p.errs = append(p.errs, s)
	}
	p.errMu.Unlock()
}

// accepted is, per channel, the sequence numbers the server accepted.
type accepted struct {
	mu   sync.Mutex
	sets []bitset
}

func newAccepted(channels int) *accepted { return &accepted{sets: make([]bitset, channels)} }

func (a *accepted) add(ch, seq int) {
	a.mu.Lock()
	a.sets[ch].set(seq)
	a.mu.Unlock()
}

func (a *accepted) snapshot() []bitset {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]bitset, len(a.sets))
	for i, s := range a.sets {
		out[i] = append(bitset(nil), s...)
	}
	return out
}

// paced publishes at rate events/s for d, open loop: event i is due at
// start + i/rate, whatever happened to the earlier ones. The channels are
// cut into groups of perEvent consecutive ones (perEvent divides
// channels); event i goes to every channel of group i mod groups with
// sequence i div groups (perEvent 1: channel i mod channels). workers
// requests run at once at most; events wait in a queue when they are all
// busy, and maxLag reports how late the latest-started event began.
func paced(ctx context.Context, p *publisher, name string, rate float64, d time.Duration, channels, perEvent, workers int, acc *accepted) (sent int, maxLag time.Duration) {
	perEvent = max(perEvent, 1)
	groups := channels / perEvent
	type job struct {
		i  int
		at time.Time
	}
	jobs := make(chan job, 1<<16)
	var lagMu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if l := time.Since(j.at); l > 0 {
					lagMu.Lock()
					if l > maxLag {
						maxLag = l
					}
					lagMu.Unlock()
				}
				ch, seq := (j.i%groups)*perEvent, j.i/groups
				if p.publishTo(name, ch, perEvent, seq) && acc != nil {
					for k := 0; k < perEvent; k++ {
						acc.add(ch+k, seq)
					}
				}
			}
		}()
	}
	start := time.Now()
	total := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	i := 0
loop:
	for i < total {
		due := int(time.Since(start)/interval) + 1
		if due > total {
			due = total
		}
		for ; i < due; i++ {
			select {
			case jobs <- job{i: i, at: start.Add(time.Duration(i) * interval)}:
			case <-ctx.Done():
				break loop
			}
		}
		next := start.Add(time.Duration(i) * interval)
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			break loop
		}
	}
	close(jobs)
	wg.Wait()
	return i, maxLag
}
