package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// hist is a log-linear latency histogram in microseconds: exact below
// 64 µs, then 32 buckets per power of two (at most 3 % error). Record is
// safe from many goroutines (atomic adds); the max is kept exactly.
type hist struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64 // ns
	n      atomic.Uint64
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histBuckets = 40 * histSub
)

func histIndex(us uint64) int {
	if us < 2*histSub {
		return int(us)
	}
	shift := bits.Len64(us) - (histSubBits + 1)
	i := (shift+1)*histSub + int(us>>shift) - histSub //nolint:gosec // G115: us>>shift has histSubBits+1 bits, 32..63
	if i >= histBuckets {
		i = histBuckets - 1
	}
	return i
}

// histValue is the middle of bucket i, in µs.
func histValue(i int) float64 {
	if i < 2*histSub {
		return float64(i)
	}
	shift := i/histSub - 1
	m := uint64(i%histSub + histSub)
	lo := m << shift
	return float64(lo) + float64(uint64(1)<<shift)/2
}

func (h *hist) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[histIndex(uint64(d/time.Microsecond))].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// snapshot is a histogram as data: what workers send and reports merge.
type histSnap struct {
	Counts []uint64 `json:"counts"` // sparse pairs would be smaller; 1280 numbers is fine
	MaxNs  int64    `json:"max_ns"`
}

func (h *hist) Snap() histSnap {
	s := histSnap{Counts: make([]uint64, histBuckets), MaxNs: h.max.Load()}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}

func (s *histSnap) Merge(o histSnap) {
	if s.Counts == nil {
		s.Counts = make([]uint64, histBuckets)
	}
	for i, c := range o.Counts {
		s.Counts[i] += c
	}
	if o.MaxNs > s.MaxNs {
		s.MaxNs = o.MaxNs
	}
}

func (s histSnap) Total() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Quantile returns the q-quantile (0..1) in milliseconds; the max is exact.
func (s histSnap) Quantile(q float64) float64 {
	n := s.Total()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return float64(s.MaxNs) / 1e6
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			v := histValue(i) / 1000
			if mx := float64(s.MaxNs) / 1e6; v > mx {
				v = mx
			}
			return v
		}
	}
	return float64(s.MaxNs) / 1e6
}
