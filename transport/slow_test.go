package transport_test

import (
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-push/herald/actors"
	"github.com/herald-push/herald/pusher"
	"github.com/herald-push/herald/transport"
	"github.com/lxzan/gws"
)

// A client that stops reading is closed once its write queue fills; the
// others keep receiving everything.
func TestSlowConsumerIsClosedAndOthersUnharmed(t *testing.T) {
	b := startBroker(t, func(_ *actors.Config, tc *transport.Config) { tc.Limits.WriteQueue = 16 })
	good := b.connect()
	good.Subscribe("firehose")

	// The slow client subscribes and then never reads: no ReadLoop.
	slow, _, err := gws.NewClient(&gws.BuiltinEventHandler{}, &gws.ClientOption{Addr: b.ws + "/app/" + testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.NetConn().Close()
	_ = slow.NetConn().(*net.TCPConn).SetReadBuffer(4096)
	if err := slow.WriteMessage(gws.OpcodeText, []byte(`{"event":"pusher:subscribe","data":{"channel":"firehose"}}`)); err != nil {
		t.Fatal(err)
	}
	subs := func() float64 {
		_, res := b.api.Call("GET", "/apps/"+testID+"/channels/firehose", url.Values{"info": {"subscription_count"}}, nil)
		n, _ := res["subscription_count"].(float64)
		return n
	}
	waitFor(t, func() bool { return subs() == 2 })

	data := strings.Repeat("x", 10000)
	batch := make([]map[string]any, 10)
	for i := range batch {
		batch[i] = map[string]any{"channel": "firehose", "name": "big", "data": data}
	}
	sent := 0
	for subs() == 2 {
		if sent >= 20000 {
			t.Fatal("the slow client was never closed")
		}
		if code, res := b.api.Call("POST", "/apps/"+testID+"/batch_events", nil, map[string]any{"batch": batch}); code != 200 {
			t.Fatalf("batch: %d %v", code, res)
		}
		sent += len(batch)
		for range batch {
			if f := good.Expect("big"); f["data"] != data {
				t.Fatal("the good client got a damaged frame")
			}
		}
	}
	b.api.Trigger("firehose", "after", "1", nil)
	good.Expect("after")
	t.Logf("slow client closed after %d frames of 10 KB", sent)
}

// A client that floods frames faster than its actor handles them is read
// only as fast as they are handled: TCP pushes back on it, it is not cut,
// the server holds a bounded amount for it, and nobody else notices.
func TestFloodingClientIsSlowedNotCut(t *testing.T) {
	b := startBroker(t)
	good := b.connect()
	good.Subscribe("calm")
	before := heapMB()
	flood := b.connect()
	frame := []byte(`{"event":"pusher:pong","data":{}}`) // answered with nothing
	for i := 0; i < 200000; i++ {
		flood.SendRaw(frame)
	}
	grown := heapMB() - before
	b.api.Trigger("calm", "still", "here", nil)
	good.Expect("still")
	// What TCP still holds of the flood is read as fast as the actor
	// handles it: wait (generously: a loaded machine is slow) until the
	// server has read every frame — the read loop counts them, at most
	// an inbound window ahead of the actor — then the client is answered.
	deadline := time.Now().Add(2 * time.Minute)
	for b.srv.Traffic()[testID].MessagesIn < 200000+1 { // and good's subscribe
		if time.Now().After(deadline) {
			t.Fatalf("the server read %d of the flood's frames in 2 minutes", b.srv.Traffic()[testID].MessagesIn)
		}
		time.Sleep(20 * time.Millisecond)
	}
	flood.Send(map[string]any{"event": "pusher:ping", "data": map[string]any{}})
	flood.Expect(pusher.EventPong)
	t.Logf("200000 frames from one client; heap grew %.1f MiB; the client is still served", grown)
	if grown > 8 {
		t.Fatalf("heap grew %.1f MiB for one flooding client", grown)
	}
}
