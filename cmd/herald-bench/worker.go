package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// A generator spreads its subscribed connections over worker processes
// (herald-bench worker), so that none holds more than ~10 000 sockets
// under the 20 000-fd limit. The parent talks to each worker over its
// stdin and stdout in JSON lines:
//
//	parent → worker: workerConfig, then {"cmd":"finish","accepted":[...]},
//	                 then {"cmd":"close"} (or EOF)
//	worker → parent: {"type":"stat",...} every 250 ms, {"type":"ready",...}
//	                 once connected and subscribed, {"type":"result",...}
//	                 after finish, {"type":"closed"} after close.

type workerConfig struct {
	URL string `json:"url"` // ws://host:port/app/key?protocol=7
	// URLs, when set, are the nodes of a cluster: the k-th subscriber of
	// channel c dials URLs[(k+c) mod len(URLs)] (see nodeOf).
	URLs            []string `json:"urls,omitempty"`
	Conns           int      `json:"conns"`
	Offset          int      `json:"offset"` // global index of the first connection
	Channels        int      `json:"channels"`
	SubsPerConn     int      `json:"subs_per_conn,omitempty"` // channels per connection (channelsOf); 0 or 1: one
	ReadBuffer      int      `json:"read_buffer"`
	DialConcurrency int      `json:"dial_concurrency"`
	SubscribeWait   string   `json:"subscribe_wait"`
}

type workerStat struct {
	Type        string   `json:"type"`
	Connected   int64    `json:"connected"`
	Established int64    `json:"established"`
	Subscribed  int64    `json:"subscribed"`
	Failed      int64    `json:"failed"`
	Lost        int64    `json:"lost"`
	Delivered   uint64   `json:"delivered"`
	Warm        uint64   `json:"warm"`
	Errors      int      `json:"errors"`
	ErrSample   []string `json:"err_sample,omitempty"`
	ConnectSecs float64  `json:"connect_secs"`
}

type workerResult struct {
	Type       string   `json:"type"`
	Hist       histSnap `json:"hist"`
	Delivered  uint64   `json:"delivered"`
	Unique     uint64   `json:"unique"`
	Missing    uint64   `json:"missing"`
	Dups       uint64   `json:"dups"`
	Unexpected uint64   `json:"unexpected"`
	Misrouted  uint64   `json:"misrouted"`
}

func (r *workerResult) add(o workerResult) {
	r.Hist.Merge(o.Hist)
	r.Delivered += o.Delivered
	r.Unique += o.Unique
	r.Missing += o.Missing
	r.Dups += o.Dups
	r.Unexpected += o.Unexpected
	r.Misrouted += o.Misrouted
}

type workerCmd struct {
	Cmd      string   `json:"cmd"`
	Accepted []bitset `json:"accepted,omitempty"`
}

// runWorker is the worker process.
func runWorker() error {
	in := bufio.NewReader(os.Stdin)
	var cfg workerConfig
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("worker: read config: %w", err)
	}
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("worker: config: %w", err)
	}
	var outMu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	send := func(v any) {
		outMu.Lock()
		defer outMu.Unlock()
		_ = enc.Encode(v)
	}
	p := &pool{cfg: cfg}
	start := time.Now()
	var connectSecs float64
	stat := func(typ string) workerStat {
		p.errMu.Lock()
		errs, n := append([]string(nil), p.errs...), p.nerrs
		p.errMu.Unlock()
		return workerStat{Type: typ, Connected: p.connected.Load(), Established: p.established.Load(),
			Subscribed: p.subscribed.Load(), Failed: p.failed.Load(), Lost: p.lost.Load(),
			Delivered: p.delivered.Load(), Warm: p.warm.Load(), Errors: n, ErrSample: errs, ConnectSecs: connectSecs}
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				send(stat("stat"))
			case <-stop:
				return
			}
		}
	}()
	wait, _ := time.ParseDuration(cfg.SubscribeWait)
	if wait <= 0 {
		wait = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	p.connect(ctx)
	p.waitSubscribed(ctx, wait)
	cancel()
	connectSecs = time.Since(start).Seconds()
	send(stat("ready"))
	for {
		line, err := in.ReadBytes('\n')
		if err != nil {
			break
		}
		var c workerCmd
		if json.Unmarshal(line, &c) != nil {
			continue
		}
		switch c.Cmd {
		case "finish":
			r := p.tally(c.Accepted)
			r.Type = "result"
			send(r)
		case "close":
			close(stop)
			p.close()
			send(map[string]string{"type": "closed"})
			return nil
		}
	}
	close(stop)
	p.close()
	return nil
}

// workerProc is the parent's handle on one worker.
type workerProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	stat   workerStat
	ready  chan workerStat
	result chan workerResult
	closed chan struct{}
	exited chan struct{}
}

// workerSet is every worker of a run.
type workerSet struct {
	procs []*workerProc
	conns int
}

// startWorkers spreads conns connections (global connection i on the
// channels channelsOf(i, channels, cfg.SubsPerConn)) over procs worker
// processes.
func startWorkers(url string, conns, channels, procs int, cfg workerConfig) (*workerSet, error) {
	if procs <= 0 {
		procs = (conns + 9999) / 10000
	}
	if procs < 1 {
		procs = 1
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ws := &workerSet{conns: conns}
	off := 0
	for i := 0; i < procs; i++ {
		n := conns / procs
		if i < conns%procs {
			n++
		}
		c := cfg
		c.URL, c.Conns, c.Offset, c.Channels = url, n, off, channels
		off += n
		w := &workerProc{ready: make(chan workerStat, 1), result: make(chan workerResult, 1),
			closed: make(chan struct{}), exited: make(chan struct{})}
		w.cmd = exec.Command(exe, "worker")
		w.cmd.Stderr = os.Stderr
		w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if w.stdin, err = w.cmd.StdinPipe(); err != nil {
			ws.Kill()
			return nil, err
		}
		out, err := w.cmd.StdoutPipe()
		if err != nil {
			ws.Kill()
			return nil, err
		}
		if err := w.cmd.Start(); err != nil {
			ws.Kill()
			return nil, err
		}
		ws.procs = append(ws.procs, w)
		go w.read(out)
		b, _ := json.Marshal(c)
		if _, err := w.stdin.Write(append(b, '\n')); err != nil {
			ws.Kill()
			return nil, err
		}
	}
	return ws, nil
}

func (w *workerProc) read(r io.Reader) {
	defer close(w.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(sc.Bytes(), &head) != nil {
			continue
		}
		switch head.Type {
		case "stat", "ready":
			var s workerStat
			if json.Unmarshal(sc.Bytes(), &s) == nil {
				w.mu.Lock()
				w.stat = s
				w.mu.Unlock()
				if head.Type == "ready" {
					w.ready <- s
				}
			}
		case "result":
			var res workerResult
			if json.Unmarshal(sc.Bytes(), &res) == nil {
				w.result <- res
			}
		case "closed":
			close(w.closed)
		}
	}
	_ = w.cmd.Wait()
}

// Stat sums the workers' latest reports.
func (ws *workerSet) Stat() workerStat {
	var t workerStat
	for _, w := range ws.procs {
		w.mu.Lock()
		s := w.stat
		w.mu.Unlock()
		t.Connected += s.Connected
		t.Established += s.Established
		t.Subscribed += s.Subscribed
		t.Failed += s.Failed
		t.Lost += s.Lost
		t.Delivered += s.Delivered
		t.Warm += s.Warm
		t.Errors += s.Errors
		if s.ConnectSecs > t.ConnectSecs {
			t.ConnectSecs = s.ConnectSecs
		}
		if len(t.ErrSample) < 5 {
			t.ErrSample = append(t.ErrSample, s.ErrSample...)
		}
	}
	return t
}

// WaitReady waits for every worker to have connected and subscribed.
func (ws *workerSet) WaitReady(ctx context.Context) (workerStat, error) {
	for _, w := range ws.procs {
		select {
		case <-w.ready:
		case <-w.exited:
			return ws.Stat(), errors.New("a worker exited before it was ready")
		case <-ctx.Done():
			return ws.Stat(), ctx.Err()
		}
	}
	return ws.Stat(), nil
}

// Finish sends the accepted publishes and merges the workers' tallies.
func (ws *workerSet) Finish(ctx context.Context, accepted []bitset) (workerResult, error) {
	b, _ := json.Marshal(workerCmd{Cmd: "finish", Accepted: accepted})
	for _, w := range ws.procs {
		if _, err := w.stdin.Write(append(b, '\n')); err != nil {
			return workerResult{}, err
		}
	}
	var total workerResult
	for _, w := range ws.procs {
		select {
		case r := <-w.result:
			total.add(r)
		case <-w.exited:
			return total, errors.New("a worker exited before its result")
		case <-ctx.Done():
			return total, ctx.Err()
		}
	}
	return total, nil
}

// CPU is the workers' CPU time so far.
func (ws *workerSet) CPU() time.Duration {
	var d time.Duration
	for _, w := range ws.procs {
		if s, err := readProc(w.cmd.Process.Pid); err == nil {
			d += s.CPU
		}
	}
	return d
}

// RSS is the workers' resident memory.
func (ws *workerSet) RSS() int64 {
	var n int64
	for _, w := range ws.procs {
		if s, err := readProc(w.cmd.Process.Pid); err == nil {
			n += s.RSS
		}
	}
	return n
}

// Close closes every connection normally and waits for the workers (10s),
// then kills what is left.
func (ws *workerSet) Close() {
	b := []byte(`{"cmd":"close"}` + "\n")
	for _, w := range ws.procs {
		_, _ = w.stdin.Write(b)
	}
	deadline := time.After(10 * time.Second)
	for _, w := range ws.procs {
		select {
		case <-w.exited:
		case <-deadline:
		}
	}
	ws.Kill()
}

// Kill ends every worker at once.
func (ws *workerSet) Kill() {
	for _, w := range ws.procs {
		if w.cmd.Process != nil {
			_ = w.cmd.Process.Kill()
		}
		_ = w.stdin.Close()
	}
}
