package actors

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// logPanic logs a panic an actor recovered from, with the message it was
// handling and who the actor is (app, socket_id, channel). Each actor's
// contain method calls it from its deferred recover.
func logPanic(log *slog.Logger, r any, msg any, attrs ...any) {
	attrs = append(attrs, "panic", fmt.Sprint(r), "message", typeName(msg), "stack", string(debug.Stack()))
	log.Error("actor panicked", attrs...)
}
