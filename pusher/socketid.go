package pusher

import (
	"crypto/rand"
	"encoding/binary"
	"regexp"
	"strconv"
)

var socketIDPattern = regexp.MustCompile(`^\d+\.\d+$`)

// ValidSocketID reports whether s has the form Pusher's SDKs require.
func ValidSocketID(s string) bool { return len(s) <= 64 && socketIDPattern.MatchString(s) }

// processTag is drawn once per process: it makes the socket ids of the
// nodes of a cluster, whose seq counters run independently, distinct.
var processTag = randomBelow(1_000_000)

// NewSocketID returns "<random>.<tag><seq>": seq (a process-wide counter,
// zero-padded to 12 digits) makes it unique in the process, tag (random
// per process) across the processes of a cluster, and the random part
// (from crypto/rand) makes it unguessable.
func NewSocketID(seq uint64) string {
	b := make([]byte, 0, 40)
	b = strconv.AppendUint(b, randomBelow(1_000_000_000_000), 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, processTag+1, 10) // never a leading zero
	s := strconv.FormatUint(seq%1_000_000_000_000, 10)
	for i := len(s); i < 12; i++ {
		b = append(b, '0')
	}
	return string(append(b, s...))
}

func randomBelow(n uint64) uint64 {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return binary.LittleEndian.Uint64(r[:]) % n
}
