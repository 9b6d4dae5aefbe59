package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herald-push/herald/pusher"
	"github.com/lxzan/gws"
)

func TestSocketIDOf(t *testing.T) {
	for _, c := range []struct{ frame, want string }{
		{string(pusher.ConnectionEstablished("123.456", 120)), "123.456"},
		{`{"event":"pusher:connection_established","data":{"socket_id":"1.2"}}`, "1.2"},
		{`{"event":"pusher:connection_established","data":"{}"}`, ""},
		{`{"event":"pusher:connection_established"}`, ""},
		{`not json`, ""},
	} {
		if got := socketIDOf([]byte(c.frame)); got != c.want {
			t.Errorf("socketIDOf(%s) = %q, want %q", c.frame, got, c.want)
		}
	}
}

func TestErrorCode(t *testing.T) {
	if c := errorCode(pusher.AppendError(nil, pusher.ErrCodeClientEventRejected, "no")); c != 4301 {
		t.Errorf("code %d, want 4301", c)
	}
	if c := errorCode(pusher.AppendError(nil, 0, "no")); c != 0 {
		t.Errorf("null code read as %d", c)
	}
}

// The frames the soak sends decode as the server decodes them, and their
// signatures verify.
func TestSoakFramesVerify(t *testing.T) {
	const key, secret, sid = "app-key", "app-secret", "12.34"
	data := `{"user_id":"soak-m-1","user_info":{"n":1}}`
	auth := pusher.ChannelAuth(key, secret, sid, soakPresenceChannel, data)
	f, err := pusher.DecodeFrame(soakSubscribeFrame(soakPresenceChannel, auth, data))
	if err != nil || f.Event != pusher.EventSubscribe {
		t.Fatalf("subscribe frame: %v %+v", err, f)
	}
	var d pusher.SubscribeData
	if err := json.Unmarshal(f.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Channel != soakPresenceChannel || d.ChannelData != data ||
		!pusher.VerifyAuth(key, d.Auth, pusher.ChannelSignature(secret, sid, d.Channel, d.ChannelData)) {
		t.Errorf("subscribe data %+v does not verify", d)
	}
	if _, err := pusher.ParseChannelData(d.ChannelData); err != nil {
		t.Errorf("channel_data: %v", err)
	}

	ud := `{"id":"soak-s-1"}`
	f, err = pusher.DecodeFrame(soakSigninFrame(pusher.UserAuth(key, secret, sid, ud), ud))
	if err != nil || f.Event != pusher.EventSignin {
		t.Fatalf("signin frame: %v %+v", err, f)
	}
	var sd pusher.SigninData
	if err := json.Unmarshal(f.Data, &sd); err != nil {
		t.Fatal(err)
	}
	if sd.UserData != ud || !pusher.VerifyAuth(key, sd.Auth, pusher.UserSignature(secret, sid, sd.UserData)) {
		t.Errorf("signin data %+v does not verify", sd)
	}
	if _, err := pusher.ParseUserData(sd.UserData); err != nil {
		t.Errorf("user_data: %v", err)
	}
}

func TestBusyBody(t *testing.T) {
	var ev struct {
		Name, Channel, Data string
	}
	if err := json.Unmarshal(busyBody(7, 42, "xx"), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Name != soakBusyEvent || ev.Channel != soakBusyChannel || ev.Data != `{"s":7,"t":42,"p":"xx"}` {
		t.Errorf("busy body %+v", ev)
	}
}

func TestSoakHelpers(t *testing.T) {
	if m := median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("median %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median %v", m)
	}
	if median(nil) != 0 || ratio(1, 0) != 0 || ratio(3, 2) != 1.5 {
		t.Error("median of nothing or ratio to 0 is not 0")
	}
	for r, want := range map[float64]bool{1: true, 1.05: true, 0.95: true, 1.051: false, 0.94: false, 0: false} {
		if flat(r, 0.05) != want {
			t.Errorf("flat(%v) = %v", r, !want)
		}
	}
	for d, want := range map[time.Duration]string{time.Minute: "1m", 30 * time.Minute: "30m", 90 * time.Second: "1m30s", 45 * time.Second: "45s", 0: "0m"} {
		if got := markLabel(d); got != want {
			t.Errorf("markLabel(%v) = %q, want %q", d, got, want)
		}
	}
	// channel 0 of 3 has 2 subscribers of 5, channel 2 one.
	var a, b, c bitset
	a.set(0)
	a.set(1)
	c.set(5)
	if n := soakExpected([]bitset{a, b, c}, 5, 3); n != 2*2+0+1*1 {
		t.Errorf("expected deliveries %d", n)
	}
}

func TestSoakGrowthBase(t *testing.T) {
	s := []soakSample{{Label: "fresh", T: -40}, {Label: "start", T: 0}, {Label: "30s", T: 30}, {Label: "1m", T: 60.4}, {Label: "end", T: 120}}
	if b := soakGrowthBase(s); b != 3 {
		t.Errorf("base %d, want the 1m sample", b)
	}
	short := []soakSample{{Label: "start", T: 0}, {Label: "end", T: 50}}
	if b := soakGrowthBase(short); b != 0 {
		t.Errorf("base %d, want start when the run is shorter than a minute", b)
	}
	if b := soakGrowthBase(nil); b != -1 {
		t.Errorf("base %d of nothing", b)
	}
	if !strings.Contains(markLabel(2*time.Minute), "2m") {
		t.Error("label")
	}
}

func TestScanServerLog(t *testing.T) {
	f := t.TempDir() + "/server.log"
	log := `time=2026-01-01T00:00:00Z level=WARN msg="websocket: socket cut, over capacity (4100)" n=1
time=2026-01-01T00:00:01Z level=WARN msg="websocket: socket cut, over capacity (4100)" n=2
{"time":"x","level":"WARN","msg":"api: slow","n":1}
time=2026-01-01T00:00:02Z level=ERROR msg=boom
panic: oops
time=2026-01-01T00:00:03Z level=INFO msg=fine
`
	if err := os.WriteFile(f, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	l := scanServerLog(f)
	if l.warnings != 3 || l.errors != 2 {
		t.Errorf("warnings %d errors %d, want 3 and 2", l.warnings, l.errors)
	}
	want := []string{"2× websocket: socket cut, over capacity (4100)", "1× api: slow"}
	if strings.Join(l.warnMsgs, "|") != strings.Join(want, "|") {
		t.Errorf("warning messages %q, want %q", l.warnMsgs, want)
	}
}

func TestCutKind(t *testing.T) {
	for err, want := range map[error]string{
		&gws.CloseError{Code: 4100}: "4100",
		&gws.CloseError{Code: 4201}: "close",
		io.EOF:                      "eof",
		fmt.Errorf("read: %w", io.ErrUnexpectedEOF):       "eof",
		&net.OpError{Op: "read", Err: syscall.ECONNRESET}: "reset",
		errors.New("something"):                           "other",
	} {
		if got := cutKind(err); got != want {
			t.Errorf("cutKind(%v) = %q, want %q", err, got, want)
		}
	}
}
