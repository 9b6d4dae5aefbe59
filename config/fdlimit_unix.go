//go:build unix

package config

import "syscall"

// fdLimit is the soft RLIMIT_NOFILE (which Go raises to the hard limit at
// start-up), or 0 when it cannot be read.
func fdLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}
