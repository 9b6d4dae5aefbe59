package main

import (
	"net/http"

	"github.com/herald-push/herald/config"
)

// mounts are the extra handlers on the API listener.
func mounts(cfg config.Config) map[string]http.Handler {
	return nil
}
