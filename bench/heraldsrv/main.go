// Command heraldsrv is the Herald broker as herald-bench measures it: the
// same program as cmd/herald (herald.Main), plus, only when
// BENCH_DEBUG_LISTEN is set, a debug listener on its own loopback port
// (pprof and goroutine/heap counts, see bench/benchdebug). Nothing of it
// runs on the broker's hot paths; it exists so a benchmark can profile the
// broker and count its goroutines without editing cmd/herald.
package main

import (
	"fmt"
	"os"

	"github.com/herald-push/herald"
	"github.com/herald-push/herald/bench/benchdebug"
)

func main() {
	if err := benchdebug.Start(os.Getenv(benchdebug.EnvListen)); err != nil {
		fmt.Fprintf(os.Stderr, "heraldsrv: cannot start the debug listener: %v\n", err)
		os.Exit(1)
	}
	os.Exit(herald.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
