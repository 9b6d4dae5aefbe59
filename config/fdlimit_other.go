//go:build !unix

package config

// fdLimit is unknown here: websocket.max_connections has no default cap.
func fdLimit() int { return 0 }
