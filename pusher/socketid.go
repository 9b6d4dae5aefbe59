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

// NewSocketID returns "<random>.<seq>": seq (a process-wide counter) makes
// it unique, the random part (from crypto/rand) makes it unguessable.
func NewSocketID(seq uint64) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	n := binary.LittleEndian.Uint64(r[:]) % 1_000_000_000_000
	b := make([]byte, 0, 32)
	b = strconv.AppendUint(b, n, 10)
	b = append(b, '.')
	b = strconv.AppendUint(b, seq, 10)
	return string(b)
}
