package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/herald-push/herald/pusher"
)

var (
	errNoAnswer = errors.New("the broker gave no channel list")
	errClosed   = errors.New("the dashboard is shutting down")
	errTooMany  = errors.New("too many dashboard streams: close one")
)

// events streams observations as Server-Sent Events: first the kept ones
// that match the filter (after Last-Event-ID when the browser reconnects),
// then each as it happens. Each is a "message" event whose id is its
// sequence number and whose data is one JSON object (wireObservation); a
// "dropped" event tells the client how many it lost by not keeping up.
//
// The stream runs on the request's goroutine, owned by net/http; it ends
// when the client goes, when a write stalls for writeWait, or when the
// hub is closed (before the listeners shut down).
func (d *Handler) events(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		pusher.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	after, _ := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64)
	sub, err := d.hub.subscribe(f, after)
	if err != nil {
		pusher.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer d.hub.unsubscribe(sub)

	rc := http.NewResponseController(w)
	// The stream outlives api.read_timeout and api.write_timeout: the read
	// deadline is lifted (a read error would cancel the request) and each
	// write sets its own.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}

	var out bytes.Buffer
	out.WriteString("retry: 2000\n\n")
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	var spare []entry
	for {
		batch, dropped := sub.take(spare)
		if dropped > 0 {
			out.WriteString("event: dropped\ndata: {\"dropped\":")
			out.WriteString(strconv.Itoa(dropped))
			out.WriteString("}\n\n")
		}
		for i := range batch {
			encode(&out, &batch[i])
		}
		clear(batch) // the strings may be large; the slice is reused
		spare = batch
		if out.Len() > 0 {
			if !write(rc, w, out.Bytes()) {
				return
			}
			out.Reset()
		}
		select {
		case <-sub.wake:
		case <-tick.C:
			out.WriteString(": keepalive\n\n")
		case <-r.Context().Done():
			return
		case <-d.hub.done:
			return
		}
	}
}

// write sends b and flushes it within writeWait.
func write(rc *http.ResponseController, w http.ResponseWriter, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(writeWait))
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// wireObservation is an observation as the console receives it. It has
// no secret and no signature: observations carry none.
type wireObservation struct {
	At       int64   `json:"t"` // unix milliseconds
	Kind     string  `json:"kind"`
	App      string  `json:"app,omitempty"`
	Channel  string  `json:"channel,omitempty"`
	Event    string  `json:"event,omitempty"`
	SocketID string  `json:"socket_id,omitempty"`
	Remote   string  `json:"remote,omitempty"`
	Method   string  `json:"method,omitempty"`
	Path     string  `json:"path,omitempty"`
	Code     int     `json:"code,omitempty"`
	Count    int     `json:"count,omitempty"`
	Millis   float64 `json:"ms,omitempty"` // Duration
	Detail   string  `json:"detail,omitempty"`
}

// encode appends e as one SSE message to out.
func encode(out *bytes.Buffer, e *entry) {
	o := &e.o
	b, err := json.Marshal(wireObservation{At: o.At.UnixMilli(), Kind: string(o.Kind), App: o.App,
		Channel: o.Channel, Event: o.Event, SocketID: o.SocketID, Remote: o.Remote, Method: o.Method,
		Path: o.Path, Code: o.Code, Count: o.Count, Detail: o.Detail,
		Millis: float64(o.Duration.Microseconds()) / 1000})
	if err != nil { // strings and numbers only: cannot happen
		return
	}
	out.WriteString("id: ")
	out.WriteString(strconv.FormatUint(e.seq, 10))
	out.WriteString("\ndata: ")
	out.Write(b) // JSON escapes newlines, so it is one data line
	out.WriteString("\n\n")
}
