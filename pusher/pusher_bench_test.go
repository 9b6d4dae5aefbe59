package pusher

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// Micro-benchmarks of the protocol package's hot paths: frame encoding
// (every publish and every subscription), frame decoding (every client
// frame), channel signatures (every private/presence subscribe) and REST
// request signing/verification (every API call). Run with
//
//	go test -run '^$' -bench . -benchmem ./pusher/

var benchData = `{"t":1732283400000000000,"s":12345,"c":3,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`

// AppendEvent into a reused buffer: what a caller that keeps its buffer pays.
func BenchmarkAppendEvent(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(AppendEvent(nil, "bench", "bench-3", benchData, ""))))
	for b.Loop() {
		buf = AppendEvent(buf[:0], "bench", "bench-3", benchData, "")
	}
}

// AppendEvent sized as actors.appActor.onTrigger does it: one allocation
// per published frame.
func BenchmarkAppendEventSized(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = AppendEvent(make([]byte, 0, len(benchData)+len("bench")+len("bench-3")+48), "bench", "bench-3", benchData, "")
	}
}

// AppendEvent from nil, as the subscription_succeeded and error paths do.
func BenchmarkAppendEventNil(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = AppendEvent(nil, EventSubscriptionSucceeded, "bench-3", "{}", "")
	}
}

func BenchmarkConnectionEstablished(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ConnectionEstablished("1234567.7654321", 120)
	}
}

func BenchmarkDecodeFrameSubscribe(b *testing.B) {
	f := []byte(`{"event":"pusher:subscribe","data":{"channel":"private-bench-3","auth":"app-key:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, err := DecodeFrame(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFramePing(b *testing.B) {
	f := []byte(`{"event":"pusher:ping","data":{}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFrame(f); err != nil {
			b.Fatal(err)
		}
	}
}

// ChannelSignature + VerifyAuth is what a private subscribe costs the
// connection actor.
func BenchmarkChannelSignature(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ChannelSignature("app-secret", "1234567.7654321", "private-bench-3", "")
	}
}

func BenchmarkChannelSignaturePresence(b *testing.B) {
	cd := `{"user_id":"42","user_info":{"name":"Ada"}}`
	b.ReportAllocs()
	for b.Loop() {
		_ = ChannelSignature("app-secret", "1234567.7654321", "presence-bench-3", cd)
	}
}

func BenchmarkVerifyAuth(b *testing.B) {
	want := ChannelSignature("app-secret", "1234567.7654321", "private-bench-3", "")
	auth := "app-key:" + want
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyAuth("app-key", auth, want) {
			b.Fatal("rejected")
		}
	}
}

func benchREST() (string, []byte, url.Values, time.Time) {
	path := "/apps/app-id/events"
	body := []byte(`{"name":"bench","channel":"bench-3","data":` + string(AppendString(nil, benchData)) + `}`)
	now := time.Unix(1732283400, 0)
	return path, body, SignREST("app-key", "app-secret", http.MethodPost, path, nil, body, now), now
}

// SignREST is the client side of every API call (herald-bench uses it).
func BenchmarkSignREST(b *testing.B) {
	path, body, _, now := benchREST()
	b.ReportAllocs()
	for b.Loop() {
		_ = SignREST("app-key", "app-secret", http.MethodPost, path, nil, body, now)
	}
}

// VerifyREST is the server side of every API call: timestamp, body_md5,
// string to sign, HMAC. The query is parsed as the handler gets it.
func BenchmarkVerifyREST(b *testing.B) {
	path, body, q, now := benchREST()
	raw := q.Encode()
	b.ReportAllocs()
	for b.Loop() {
		v, _ := url.ParseQuery(raw)
		if err := VerifyREST("app-secret", http.MethodPost, path, v, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
