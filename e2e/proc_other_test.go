//go:build !unix

package e2e

import "os/exec"

// killGroupOnCancel leaves exec's default (kill node itself) where process
// groups are not available.
func killGroupOnCancel(*exec.Cmd) {}
