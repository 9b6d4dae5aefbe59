// Command baseline is the ceiling herald-bench compares Herald with: a
// minimal gws server that speaks just enough of the Pusher protocol for
// the load tool and nothing more. No actors, no checks:
//
//   - WebSocket /app/{key}: pusher:connection_established on open;
//     pusher:subscribe → pusher_internal:subscription_succeeded (any
//     channel, no auth); pusher:unsubscribe; pusher:ping → pusher:pong.
//   - POST /apps/{id}/events: the body's name, data and channel(s); the
//     signature is not checked. Each event is framed once and written to
//     every subscriber with gws's Broadcaster, from the HTTP handler.
//   - GET /healthz.
//
// Every frame to a socket goes through gws's per-connection async queue,
// as in Herald, and frames are encoded by the same pusher package, so both
// servers put the same bytes on the wire. It listens where Herald would:
// HERALD_WEBSOCKET_LISTEN and HERALD_API_LISTEN (or --ws and --api), and
// serves bench/benchdebug on BENCH_DEBUG_LISTEN when set.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herald-push/herald/bench/benchdebug"
	"github.com/herald-push/herald/pusher"
	"github.com/lxzan/gws"
)

func main() {
	ws := flag.String("ws", envOr("HERALD_WEBSOCKET_LISTEN", "127.0.0.1:3131"), "WebSocket `host:port`")
	api := flag.String("api", envOr("HERALD_API_LISTEN", "127.0.0.1:3232"), "HTTP API `host:port`")
	rbuf := flag.Int("read-buffer", 256, "gws read buffer per connection (Herald's default is 256)")
	flag.BoolVar(&scanFrames, "scan", os.Getenv("BENCH_BASELINE_SCAN") == "1",
		"find event and channel with bytes.Index instead of encoding/json (an experiment: how much of the read goroutine's stack is JSON decoding)")
	flag.Parse()
	if err := benchdebug.Start(os.Getenv(benchdebug.EnvListen)); err != nil {
		log.Fatal(err)
	}
	s := newServer(*rbuf)
	wsLn, err := net.Listen("tcp", *ws)
	if err != nil {
		log.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", *api)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/apps/", s.events)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"ok":true}`) })
	go func() { log.Fatal(newHTTPServer(http.HandlerFunc(s.upgrade)).Serve(wsLn)) }()
	go func() { log.Fatal(newHTTPServer(mux).Serve(apiLn)) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// newHTTPServer serves h with the timeouts of Herald's defaults
// (config.Default), so neither server keeps a slow client longer than the
// other. A WebSocket is not cut by them: gws clears the connection's
// deadlines after the handshake, and OnOpen clears them again.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// scanFrames replaces encoding/json on the read goroutine by a byte scan.
var scanFrames bool

type server struct {
	up    *gws.Upgrader
	seq   atomic.Uint64
	mu    sync.RWMutex
	chans map[string]*channel
}

// channel is a set of sockets with O(1) removal.
type channel struct {
	conns []*gws.Conn
	index map[*gws.Conn]int
}

// peer is what the server keeps per socket: its channels.
type peer struct{ chans []string }

func newServer(rbuf int) *server {
	s := &server{chans: make(map[string]*channel)}
	s.up = gws.NewUpgrader(s, &gws.ServerOption{
		ReadBufferSize:     rbuf,
		ReadMaxPayloadSize: 32 << 10,
		Recovery:           gws.Recovery,
		NewSession:         func() gws.SessionStorage { return &slot{} },
	})
	return s
}

func (s *server) upgrade(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.URL.Path, "/app/") {
		http.NotFound(w, r)
		return
	}
	c, err := s.up.Upgrade(w, r)
	if err != nil {
		return
	}
	c.Session().Store("", &peer{})
	go c.ReadLoop()
}

func (s *server) OnOpen(c *gws.Conn) {
	_ = c.SetDeadline(time.Time{})
	n := s.seq.Add(1)
	id := strconv.FormatUint(n/1000000+1, 10) + "." + strconv.FormatUint(n, 10)
	c.WriteAsync(gws.OpcodeText, pusher.ConnectionEstablished(id, 120), nil)
}

func (s *server) OnClose(c *gws.Conn, _ error) {
	p := peerOf(c)
	s.mu.Lock()
	for _, name := range p.chans {
		s.remove(name, c)
	}
	s.mu.Unlock()
}

func (s *server) OnPing(c *gws.Conn, payload []byte) {
	p := append([]byte(nil), payload...)
	c.Async(func() { _ = c.WritePong(p) })
}

func (s *server) OnPong(*gws.Conn, []byte) {}

type frame struct {
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	channel string          // set by scan
}

func (s *server) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	var f frame
	if scanFrames {
		f = scan(msg.Bytes())
	} else if json.Unmarshal(msg.Bytes(), &f) != nil {
		return
	}
	switch f.Event {
	case pusher.EventPing:
		c.WriteAsync(gws.OpcodeText, pusher.PongFrame, nil)
	case pusher.EventSubscribe, pusher.EventUnsubscribe:
		var d struct {
			Channel string `json:"channel"`
		}
		if scanFrames {
			d.Channel = f.channel
		} else if json.Unmarshal(f.Data, &d) != nil {
			return
		}
		if d.Channel == "" {
			return
		}
		p := peerOf(c)
		s.mu.Lock()
		if f.Event == pusher.EventSubscribe {
			ch := s.chans[d.Channel]
			if ch == nil {
				ch = &channel{index: make(map[*gws.Conn]int)}
				s.chans[d.Channel] = ch
			}
			if _, dup := ch.index[c]; !dup {
				ch.index[c] = len(ch.conns)
				ch.conns = append(ch.conns, c)
				p.chans = append(p.chans, d.Channel)
			}
		} else {
			s.remove(d.Channel, c)
			for i, n := range p.chans {
				if n == d.Channel {
					p.chans = append(p.chans[:i], p.chans[i+1:]...)
					break
				}
			}
		}
		s.mu.Unlock()
		if f.Event == pusher.EventSubscribe {
			c.WriteAsync(gws.OpcodeText, pusher.AppendEvent(nil, pusher.EventSubscriptionSucceeded, d.Channel, "{}", ""), nil)
		}
	}
}

// scan finds "event" and data's "channel" without decoding the JSON.
func scan(b []byte) frame {
	str := func(key string) string {
		i := bytes.Index(b, []byte(`"`+key+`":"`))
		if i < 0 {
			return ""
		}
		rest := b[i+len(key)+4:]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			return ""
		}
		return string(rest[:j])
	}
	return frame{Event: str("event"), channel: str("channel")}
}

// remove takes c out of the channel; s.mu is held.
func (s *server) remove(name string, c *gws.Conn) {
	ch := s.chans[name]
	if ch == nil {
		return
	}
	i, ok := ch.index[c]
	if !ok {
		return
	}
	last := len(ch.conns) - 1
	ch.conns[i] = ch.conns[last]
	ch.index[ch.conns[i]] = i
	ch.conns[last] = nil
	ch.conns = ch.conns[:last]
	delete(ch.index, c)
	if len(ch.conns) == 0 {
		delete(s.chans, name)
	}
}

type event struct {
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	Channel  string          `json:"channel"`
	Channels []string        `json:"channels"`
}

// events is POST /apps/{id}/events, unsigned.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/events") {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	var e event
	if err != nil || json.Unmarshal(body, &e) != nil {
		http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
		return
	}
	data := string(e.Data)
	if len(e.Data) > 0 && e.Data[0] == '"' {
		_ = json.Unmarshal(e.Data, &data)
	}
	if e.Channel != "" {
		e.Channels = append(e.Channels, e.Channel)
	}
	for _, name := range e.Channels {
		f := pusher.AppendEvent(make([]byte, 0, len(data)+len(e.Name)+len(name)+48), e.Name, name, data, "")
		b := gws.NewBroadcaster(gws.OpcodeText, f)
		s.mu.RLock()
		if ch := s.chans[name]; ch != nil {
			for _, c := range ch.conns {
				_ = b.Broadcast(c)
			}
		}
		s.mu.RUnlock()
		_ = b.Close()
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

func peerOf(c *gws.Conn) *peer {
	v, _ := c.Session().Load("")
	p, _ := v.(*peer)
	if p == nil {
		panic(fmt.Sprintf("socket without state: %v", c.RemoteAddr()))
	}
	return p
}

// slot is a one-value gws.SessionStorage (Herald uses the same).
type slot struct{ v any }

func (m *slot) Len() int                       { return 1 }
func (m *slot) Load(string) (any, bool)        { return m.v, m.v != nil }
func (m *slot) Delete(string)                  { m.v = nil }
func (m *slot) Store(_ string, v any)          { m.v = v }
func (m *slot) Range(f func(string, any) bool) { f("", m.v) }
