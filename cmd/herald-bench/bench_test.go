package main

import (
	"math"
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
