package pusher

import (
	"encoding/json"
	"net/http"
)

// WriteJSON answers an HTTP request with v as JSON. The API, the
// WebSocket listener's refusals and the demo all answer this way.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":500}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteError answers with Herald's JSON error body,
// {"error": msg, "code": status}. msg is shown to the caller: it never
// holds a secret or an expected signature.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]any{"error": msg, "code": status})
}

// Truncate cuts s to at most n bytes, at a rune boundary, so that a
// client's long input can be quoted in an error.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // s[n] continues a rune: cut before it
		n--
	}
	return s[:n]
}
