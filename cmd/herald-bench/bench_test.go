package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopbackRefusesOtherHosts(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:3131", "127.9.8.7:1", "[::1]:80", "localhost:3232"} {
		if err := checkLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:80", "192.168.1.2:3131", "8.8.8.8:53", "example.com:80", "[2001:db8::1]:80", "nohost"} {
		if err := checkLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// The latency histogram's quantiles are within its bucket precision
// (1/32 of the value) of the exact ones.
func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	s := h.Snap()
	if s.Total() != 10000 {
		t.Fatalf("total %d", s.Total())
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		got, want := s.Quantile(q), q*10 // milliseconds
		if math.Abs(got-want)/want > 1.0/16 {
			t.Errorf("q%.3f = %.3f ms, want about %.3f", q, got, want)
		}
	}
}

// With --nodes, every channel has subscribers and events on every node,
// evenly, whatever the node and channel counts (2 nodes and 10 channels
// included, where connection i mod nodes would put each channel on one
// node).
func TestNodeOfSpreadsEveryChannelOverEveryNode(t *testing.T) {
	for _, tc := range []struct{ conns, channels, nodes int }{
		{2000, 10, 3}, {2000, 10, 2}, {2000, 10, 5}, {300, 7, 3}, {1000, 1, 4},
	} {
		perNode := make([]int, tc.nodes)
		perChan := make([][]int, tc.channels)
		for c := range perChan {
			perChan[c] = make([]int, tc.nodes)
		}
		for g := 0; g < tc.conns; g++ { // as pool.connect: subscriber g/channels of channel g mod channels
			ch := g % tc.channels
			n := nodeOf(g/tc.channels, ch, tc.nodes)
			perNode[n]++
			perChan[ch][n]++
		}
		for c, counts := range perChan {
			lo, hi := counts[0], counts[0]
			for _, k := range counts {
				lo, hi = min(lo, k), max(hi, k)
			}
			if lo == 0 || hi-lo > 1 {
				t.Errorf("%+v: channel %d's subscribers per node %v", tc, c, counts)
			}
		}
		lo, hi := perNode[0], perNode[0]
		for _, k := range perNode {
			lo, hi = min(lo, k), max(hi, k)
		}
		if hi-lo > tc.nodes {
			t.Errorf("%+v: connections per node %v", tc, perNode)
		}
	}
}

// A cluster's ports are distinct, loopback, and below the ephemeral range
// that outgoing connections take them from.
func TestStablePorts(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		ports, err := stablePorts(3)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			if err := checkLoopback(p); err != nil {
				t.Error(err)
			}
			if seen[p] {
				t.Errorf("port %s handed out twice", p)
			}
			seen[p] = true
		}
	}
}

// With --subs-per-conn k, connection i is on channels i..i+k-1 mod
// channels, so every channel has k subscribers when conns = channels.
func TestChannelsOfAndSubscribersOf(t *testing.T) {
	if got := channelsOf(998, 1000, 3); len(got) != 3 || got[0] != 998 || got[1] != 999 || got[2] != 0 {
		t.Errorf("channelsOf(998, 1000, 3) = %v", got)
	}
	if got := channelsOf(7, 10, 1); len(got) != 1 || got[0] != 7 {
		t.Errorf("channelsOf(7, 10, 1) = %v", got)
	}
	for c, n := range subscribersOf(1000, 1000, 10) {
		if n != 10 {
			t.Fatalf("channel %d has %d subscribers, want 10", c, n)
		}
	}
	// One channel per connection: conns/channels each, the remainder on the first ones.
	subs := subscribersOf(25, 10, 1)
	for c, n := range subs {
		want := 2
		if c < 5 {
			want = 3
		}
		if n != want {
			t.Errorf("channel %d: %d subscribers, want %d", c, n, want)
		}
	}
}

// An event to 10 consecutive channels of 1 000, each connection on 10
// consecutive ones: 19 sockets reached (1..10..1 frames), 100 frames.
func TestBurstsOf(t *testing.T) {
	const conns, channels, k, m = 1000, 1000, 10, 10
	sets := make([]bitset, channels)
	for c := 0; c < m; c++ { // one event to group 0, sequence 0
		sets[c].set(0)
	}
	if got := burstsOf(sets, conns, channels, k, m); got != 19 {
		t.Errorf("bursts = %d, want 19", got)
	}
	for c := 0; c < channels; c++ { // and one to every group
		sets[c].set(1)
	}
	if got := burstsOf(sets, conns, channels, k, m); got != 19+100*19 {
		t.Errorf("bursts = %d, want %d", got, 19+100*19)
	}
	// One channel per event and per connection: a burst is a frame.
	one := make([]bitset, 10)
	one[3].set(0)
	if got := burstsOf(one, 2000, 10, 1, 1); got != 200 {
		t.Errorf("bursts = %d, want 200", got)
	}
}

func TestFrameChannel(t *testing.T) {
	for _, c := range []struct {
		frame string
		ch    int
		ok    bool
	}{
		{`{"event":"bench","channel":"bench-42","data":"{\"t\":1,\"s\":2,\"c\":0}"}`, 42, true},
		{`{"event":"bench","channel":"bench-0","data":"{}"}`, 0, true},
		{`{"event":"bench","channel":"other-1","data":"{}"}`, 0, false},
		{`{"event":"bench","channel":"bench-","data":"{}"}`, 0, false},
		{`{"event":"bench","data":"{\"channel\":\"bench-3\"}"}`, 0, false},
	} {
		ch, ok := frameChannel([]byte(c.frame))
		if ch != c.ch || ok != c.ok {
			t.Errorf("frameChannel(%s) = %d, %v; want %d, %v", c.frame, ch, ok, c.ch, c.ok)
		}
	}
}

// A body to several channels names them all, and the server-side frame
// of each carries its own channel.
func TestPublisherBodyChannels(t *testing.T) {
	p := newPublisher("127.0.0.1:1", "app-id", "key", "secret", 1, 0)
	var one struct {
		Channel  string   `json:"channel"`
		Channels []string `json:"channels"`
	}
	if err := json.Unmarshal(p.body("bench", 3, 1, 0, 1), &one); err != nil || one.Channel != "bench-3" || one.Channels != nil {
		t.Errorf("one channel: %+v %v", one, err)
	}
	var many struct {
		Channel  string   `json:"channel"`
		Channels []string `json:"channels"`
	}
	if err := json.Unmarshal(p.body("bench", 10, 3, 0, 1), &many); err != nil || many.Channel != "" ||
		strings.Join(many.Channels, ",") != "bench-10,bench-11,bench-12" {
		t.Errorf("three channels: %+v %v", many, err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]float64{"0": 0, "96B": 96, "1.50kB": 1536, "-2MB": -2 << 20, "1GB": 1 << 30} {
		if got, ok := parseBytes(in); !ok || got != want {
			t.Errorf("parseBytes(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	if _, ok := parseBytes("x"); ok {
		t.Error("parseBytes(x) ok")
	}
}

// budget's classification, on real heap profiles of this process: 200
// bufio readers of 1 KiB kept alive between the two profiles land in the
// read-buffer row, and what was live before cancels out.
func TestClassifyHeap(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	dir := t.TempDir()
	write := func(name string) string {
		runtime.GC()
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	base := write("before.pprof")
	keep := make([]*bufio.Reader, 200)
	for i := range keep {
		keep[i] = bufio.NewReaderSize(nil, 1024)
	}
	after := write("after.pprof")
	runtime.KeepAlive(keep)
	rows, _, err := classifyHeap(after, base)
	if err != nil {
		t.Fatal(err)
	}
	got := rows["gws read buffer (bufio.Reader, websocket.read_buffer_size)"]
	if lo, hi := 200*1024.0, 200*1300.0; got < lo || got > hi {
		t.Errorf("read-buffer row = %.0f B, want %.0f..%.0f (rows %v)", got, lo, hi, rows)
	}
}
