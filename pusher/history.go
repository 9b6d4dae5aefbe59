package pusher

import (
	"encoding/json"
	"strconv"
)

// Channel history (Herald's extension, docs/recovery.md). On a channel
// with history every event frame carries its offset in the channel's
// stream, and subscription_succeeded the stream's epoch and newest offset,
// in top-level fields that pusher-js ignores:
//
//	{"event":"price","channel":"prices","data":"{…}","offset":41}
//	{"event":"pusher_internal:subscription_succeeded","channel":"prices","data":"{}","epoch":"3f9a0c","offset":41}
//
// A client that saw them re-subscribes with its position in data.recover
// and is answered with "recovered" and, when true, the events it missed.

// EventHistoryReset tells subscribers that stay connected that their
// channel's history was lost (in a cluster, the node holding it stopped):
// events may have been missed. It carries the new epoch and offset.
// pusher-js ignores every pusher_internal: event it does not know.
const EventHistoryReset = "pusher_internal:history_reset"

// MaxEpochLength bounds the epoch a client may send back: Herald's epochs
// are shorter, and a longer one cannot match.
const MaxEpochLength = 64

// Position is a point in a channel's history: the epoch of the stream and
// the offset of the last event seen (0: none).
type Position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// ParseRecover reads data.recover of a pusher:subscribe. A missing field
// returns nil; one that is not a {"epoch","offset"} object with a
// non-empty epoch of at most MaxEpochLength bytes returns a Position that
// can match no stream, so the client is told its recovery failed rather
// than its subscription refused.
func ParseRecover(raw json.RawMessage) *Position {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var p Position
	if err := json.Unmarshal(raw, &p); err != nil || p.Epoch == "" || len(p.Epoch) > MaxEpochLength {
		return &Position{}
	}
	return &p
}

// AppendOffset returns frame, an event frame from AppendEvent (a JSON
// object), with "offset" added as its last field. It appends in place
// when frame has the room.
func AppendOffset(frame []byte, offset uint64) []byte {
	if len(frame) == 0 || frame[len(frame)-1] != '}' {
		return frame
	}
	frame = append(frame[:len(frame)-1], `,"offset":`...)
	frame = strconv.AppendUint(frame, offset, 10)
	return append(frame, '}')
}

// Recovery is what subscription_succeeded says about a recovery: none was
// asked for, or it was complete, or it failed.
type Recovery uint8

// The outcomes of a recovery.
const (
	NotRecovering Recovery = iota
	Recovered
	NotRecovered
)

// AppendPosition returns frame, a subscription_succeeded or history_reset
// frame from AppendEvent, with the stream's "epoch" and newest "offset"
// added, and "recovered" when the subscribe asked to recover.
func AppendPosition(frame []byte, p Position, r Recovery) []byte {
	if len(frame) == 0 || frame[len(frame)-1] != '}' {
		return frame
	}
	frame = append(frame[:len(frame)-1], `,"epoch":`...)
	frame = AppendString(frame, p.Epoch)
	frame = append(frame, `,"offset":`...)
	frame = strconv.AppendUint(frame, p.Offset, 10)
	switch r {
	case Recovered:
		frame = append(frame, `,"recovered":true`...)
	case NotRecovered:
		frame = append(frame, `,"recovered":false`...)
	}
	return append(frame, '}')
}
