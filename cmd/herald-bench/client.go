package main

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// connsPerSourceIP is how many connections share one 127.0.0.x source
// address: below the 28 232 ephemeral ports of one (source, destination)
// pair (net.ipv4.ip_local_port_range 32768–60999), with room for churn.
const connsPerSourceIP = 25000

// sourceIP is the local address of the global i-th connection: 127.0.0.1
// for the first connsPerSourceIP, then 127.0.0.2, and so on.
func sourceIP(i int) net.IP {
	return net.IPv4(127, 0, 0, byte(1+i/connsPerSourceIP)) //nolint:gosec // G115: > 255 needs 6.35M connections, far past one server's fd limit
}

func clientOption(addr string, src net.IP, readBuf int) *gws.ClientOption {
	return &gws.ClientOption{
		Addr:               addr,
		ReadBufferSize:     readBuf,
		ReadMaxPayloadSize: 1 << 20,
		HandshakeTimeout:   10 * time.Second,
		NewSession:         func() gws.SessionStorage { return nopSession{} },
		NewDialer: func() (gws.Dialer, error) {
			d := &net.Dialer{Timeout: 10 * time.Second}
			if src != nil && !src.Equal(net.IPv4(127, 0, 0, 1)) {
				d.LocalAddr = &net.TCPAddr{IP: src}
			}
			return d, nil
		},
	}
}

type nopSession struct{}

func (nopSession) Len() int                     { return 0 }
func (nopSession) Load(string) (any, bool)      { return nil, false }
func (nopSession) Delete(string)                {}
func (nopSession) Store(string, any)            {}
func (nopSession) Range(func(string, any) bool) {}

// Frames the tool sends.
var pongFrame = []byte(`{"event":"pusher:pong","data":{}}`)

func subscribeFrame(channel string) []byte {
	return []byte(`{"event":"pusher:subscribe","data":{"channel":"` + channel + `"}}`)
}

func channelName(i int) string { return "bench-" + strconv.Itoa(i) }

// Event names of the tool's publishes: measured ones and warm-up ones
// (received but not counted).
const (
	eventMeasured = "bench"
	eventWarm     = "bench-warm"
)

// frameEvent returns the event name of a server frame, which both servers
// encode as {"event":"...",...}.
func frameEvent(b []byte) []byte {
	const key = `"event":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return nil
	}
	return b[:j]
}

// dataInt finds \"name\": in the (string-encoded) data of a frame and
// parses the integer after it.
func dataInt(b []byte, name string) (int64, bool) {
	key := `\"` + name + `\":`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	var v int64
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int64(b[n]-'0')
		n++
	}
	return v, n > 0
}

// nodeOf spreads a channel's subscribers, and its events, round-robin
// over n nodes: the k-th of channel ch goes to node (k+ch) mod n. Every
// channel with at least n subscribers (events) has them on every node,
// whatever n and the channel count, and consecutive connections
// (publishes) land on consecutive nodes.
func nodeOf(k, ch, n int) int { return (k + ch) % n }

// channelsOf is the channels of global connection i: k consecutive ones
// from i mod channels (k = 1: channel i mod channels alone).
func channelsOf(i, channels, k int) []int {
	k = max(k, 1)
	out := make([]int, k)
	for j := range out {
		out[j] = (i + j) % channels
	}
	return out
}

// subscribersOf is, per channel, how many of conns connections subscribe
// to it (channelsOf).
func subscribersOf(conns, channels, k int) []int {
	n := make([]int, channels)
	for i := 0; i < conns; i++ {
		for _, c := range channelsOf(i, channels, k) {
			n[c]++
		}
	}
	return n
}

// bitset records seen sequence numbers.
type bitset []uint64

// set marks i and reports whether it was already marked.
func (b *bitset) set(i int) bool {
	w := i / 64
	for w >= len(*b) {
		*b = append(*b, 0)
	}
	m := uint64(1) << (i % 64)
	old := (*b)[w]&m != 0
	(*b)[w] |= m
	return old
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// subConn is one subscribed client connection of a pool, on one or more
// channels (see pool.channelsOf).
type subConn struct {
	gws.BuiltinEventHandler
	pool       *pool
	chs        []int // the channels it subscribes to
	conn       *gws.Conn
	succeeded  atomic.Int32 // subscription_succeeded frames received
	subscribed atomic.Bool  // one for each of chs
	mu         sync.Mutex
	seen       []bitset // per channel of chs
	dups       uint64
}

// slot is the index of channel ch in c.chs, or -1.
func (c *subConn) slot(ch int) int {
	for i, x := range c.chs {
		if x == ch {
			return i
		}
	}
	return -1
}

func (c *subConn) OnClose(_ *gws.Conn, err error) {
	if !c.pool.closing.Load() {
		c.pool.lost.Add(1)
		c.pool.noteErr("closed by server: " + errString(err))
	}
}

func (c *subConn) OnMessage(conn *gws.Conn, m *gws.Message) {
	now := time.Now().UnixNano()
	defer m.Close()
	b := m.Bytes()
	ev := frameEvent(b)
	switch string(ev) {
	case eventMeasured:
		t, ok1 := dataInt(b, "t")
		s, ok2 := dataInt(b, "s")
		ch, ok3 := frameChannel(b)
		if !ok1 || !ok2 || !ok3 {
			c.pool.noteErr("bad bench frame: " + string(b))
			return
		}
		c.pool.delivered.Add(1)
		i := c.slot(ch)
		if i < 0 {
			c.pool.misrouted.Add(1)
			return
		}
		c.pool.hist.Record(time.Duration(now - t))
		c.mu.Lock()
		if c.seen[i].set(int(s)) {
			c.dups++
		}
		c.mu.Unlock()
	case eventWarm:
		c.pool.warm.Add(1)
	case "pusher_internal:subscription_succeeded":
		if int(c.succeeded.Add(1)) == len(c.chs) && !c.subscribed.Swap(true) {
			c.pool.subscribed.Add(1)
		}
	case "pusher:connection_established":
		c.pool.established.Add(1)
	case "pusher:ping":
		conn.WriteAsync(gws.OpcodeText, pongFrame, nil)
	case "pusher:error", "pusher:subscription_error":
		c.pool.noteErr(string(b))
	}
}

// frameChannel parses the channel index of a frame's "channel":"bench-N"
// (the data is a JSON string, so its quotes are escaped and never match).
func frameChannel(b []byte) (int, bool) {
	const key = `"channel":"bench-`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	v, n := 0, 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int(b[n]-'0')
		n++
	}
	return v, n > 0 && n < len(b) && b[n] == '"'
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// pool holds a worker's connections: global connection i subscribes to
// SubsPerConn consecutive channels from i mod Channels (channelsOf).
type pool struct {
	cfg         workerConfig
	conns       []*subConn
	hist        hist
	delivered   atomic.Uint64 // measured frames, duplicates included
	warm        atomic.Uint64
	misrouted   atomic.Uint64
	connected   atomic.Int64
	established atomic.Int64
	subscribed  atomic.Int64
	failed      atomic.Int64
	lost        atomic.Int64
	closing     atomic.Bool
	errMu       sync.Mutex
	errs        []string
	nerrs       int
}

func (p *pool) noteErr(s string) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	p.nerrs++
	if len(p.errs) < 5 {
		if len(s) > 300 {
			s = s[:300]
		}
		p.errs = append(p.errs, s)
	}
}

// connect dials every connection, a few at a time, and subscribes it.
func (p *pool) connect(ctx context.Context) {
	cfg := p.cfg
	p.conns = make([]*subConn, cfg.Conns)
	par := cfg.DialConcurrency
	if par <= 0 {
		par = 32
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := 0; i < cfg.Conns; i++ {
		if ctx.Err() != nil {
			p.failed.Add(int64(cfg.Conns - i))
			break
		}
		g := cfg.Offset + i
		chs := channelsOf(g, cfg.Channels, cfg.SubsPerConn)
		c := &subConn{pool: p, chs: chs, seen: make([]bitset, len(chs))}
		p.conns[i] = c
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			url := cfg.URL
			if len(cfg.URLs) > 0 {
				url = cfg.URLs[nodeOf(g/cfg.Channels, c.chs[0], len(cfg.URLs))]
			}
			conn, _, err := gws.NewClient(c, clientOption(url, sourceIP(g), cfg.ReadBuffer))
			if err != nil {
				p.failed.Add(1)
				p.noteErr("dial: " + err.Error())
				return
			}
			c.conn = conn
			p.connected.Add(1)
			go conn.ReadLoop()
			for _, ch := range c.chs {
				if err := conn.WriteMessage(gws.OpcodeText, subscribeFrame(channelName(ch))); err != nil {
					p.failed.Add(1)
					p.noteErr("subscribe: " + err.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
}

// waitSubscribed waits until every connected socket is subscribed.
func (p *pool) waitSubscribed(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if p.subscribed.Load()+p.failed.Load()+p.lost.Load() >= int64(p.cfg.Conns) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tally compares what arrived with what the publisher had accepted.
func (p *pool) tally(accepted []bitset) workerResult {
	r := workerResult{Hist: p.hist.Snap(), Delivered: p.delivered.Load(), Misrouted: p.misrouted.Load()}
	for _, c := range p.conns {
		if c == nil {
			continue
		}
		c.mu.Lock()
		r.Dups += c.dups
		for k, ch := range c.chs {
			var want bitset
			if ch < len(accepted) {
				want = accepted[ch]
			}
			seen := c.seen[k]
			for w, bits := range want {
				var got uint64
				if w < len(seen) {
					got = seen[w]
				}
				r.Missing += popcount(bits &^ got)
				r.Unique += popcount(bits & got)
			}
			for w, got := range seen {
				var bits uint64
				if w < len(want) {
					bits = want[w]
				}
				r.Unexpected += popcount(got &^ bits)
			}
		}
		c.mu.Unlock()
	}
	return r
}

func popcount(x uint64) uint64 {
	var n uint64
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// close closes every connection with a normal close.
func (p *pool) close() {
	p.closing.Store(true)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range p.conns {
		if c == nil || c.conn == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(conn *gws.Conn) {
			defer func() { <-sem; wg.Done() }()
			_ = conn.WriteClose(1000, nil)
		}(c.conn)
	}
	wg.Wait()
}
