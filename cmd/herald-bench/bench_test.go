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
