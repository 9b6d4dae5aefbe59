// Package benchdebug is the debug listener of the servers herald-bench
// measures (bench/heraldsrv and bench/baseline): net/http/pprof under
// /debug/pprof/ and a JSON snapshot of the Go runtime under /debug/bench.
// It listens only when asked (BENCH_DEBUG_LISTEN), on its own port, so a
// server under test does no extra work unless the load tool polls it.
package benchdebug

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// EnvListen names the environment variable holding the debug address.
const EnvListen = "BENCH_DEBUG_LISTEN"

// Stats is the /debug/bench answer.
type Stats struct {
	Goroutines int    `json:"goroutines"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	NumGC      uint32 `json:"num_gc"`
	GC         bool   `json:"gc"` // a GC ran before the snapshot (?gc=1)
}

// Snapshot reads the runtime's numbers, after a full GC when gc is true,
// and after returning every free page to the OS (debug.FreeOSMemory) when
// free is true.
func snapshot(gc, free bool) Stats {
	if free {
		debug.FreeOSMemory()
		gc = false
	}
	s := Snapshot(gc)
	s.GC = s.GC || free
	return s
}

// Snapshot reads the runtime's numbers, after a full GC when gc is true.
func Snapshot(gc bool) Stats {
	if gc {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Stats{Goroutines: runtime.NumGoroutine(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, StackInuse: m.StackInuse,
		Sys: m.Sys, NumGC: m.NumGC, GC: gc}
}

// Start serves the debug endpoints on addr, which must be a loopback
// address; an empty addr does nothing.
func Start(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && !strings.EqualFold(host, "localhost") {
		return fmt.Errorf("%s must be a loopback address, got %q", EnvListen, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/bench", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		_ = json.NewEncoder(w).Encode(snapshot(q.Get("gc") == "1", q.Get("free") == "1"))
	})
	// Only the header read is bounded: /debug/pprof/profile and /trace
	// stream for as many seconds as asked, so no read or write timeout.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // lives as long as the process
	return nil
}
