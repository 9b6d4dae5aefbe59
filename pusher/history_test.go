package pusher

import (
	"encoding/json"
	"testing"
)

func TestHistoryFrames(t *testing.T) {
	cases := map[string]string{
		string(AppendOffset(AppendEvent(nil, "e", "c", "{}", ""), 7)):                                                             `{"event":"e","channel":"c","data":"{}","offset":7}`,
		string(AppendOffset(AppendEvent(nil, "e", "c", "x", "u"), 0)):                                                             `{"event":"e","channel":"c","data":"x","user_id":"u","offset":0}`,
		string(AppendOffset([]byte("not a frame"), 1)):                                                                            `not a frame`,
		string(AppendPosition(AppendEvent(nil, EventSubscriptionSucceeded, "c", "{}", ""), Position{"ab\"c", 41}, NotRecovering)): `{"event":"pusher_internal:subscription_succeeded","channel":"c","data":"{}","epoch":"ab\"c","offset":41}`,
		string(AppendPosition(AppendEvent(nil, EventSubscriptionSucceeded, "c", "{}", ""), Position{"e1", 3}, Recovered)):         `{"event":"pusher_internal:subscription_succeeded","channel":"c","data":"{}","epoch":"e1","offset":3,"recovered":true}`,
		string(AppendPosition(AppendEvent(nil, EventHistoryReset, "c", "{}", ""), Position{"e2", 0}, NotRecovered)):               `{"event":"pusher_internal:history_reset","channel":"c","data":"{}","epoch":"e2","offset":0,"recovered":false}`,
	}
	for got, want := range cases {
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		if want != "not a frame" && !json.Valid([]byte(got)) {
			t.Errorf("not JSON: %s", got)
		}
	}
}

func TestParseRecover(t *testing.T) {
	long := make([]byte, MaxEpochLength+1)
	for i := range long {
		long[i] = 'a'
	}
	cases := []struct {
		in   string
		want *Position
	}{
		{``, nil},
		{`null`, nil},
		{`{"epoch":"e1","offset":12}`, &Position{"e1", 12}},
		{`{"epoch":"e1"}`, &Position{"e1", 0}},
		{`{"epoch":"","offset":3}`, &Position{}},
		{`{"epoch":"e1","offset":-1}`, &Position{}},
		{`{"epoch":"e1","offset":1.5}`, &Position{}},
		{`"e1:12"`, &Position{}},
		{`{"epoch":"` + string(long) + `","offset":1}`, &Position{}},
	}
	for _, c := range cases {
		got := ParseRecover(json.RawMessage(c.in))
		switch {
		case c.want == nil && got != nil:
			t.Errorf("%s: got %+v, want nil", c.in, got)
		case c.want != nil && (got == nil || *got != *c.want):
			t.Errorf("%s: got %+v, want %+v", c.in, got, c.want)
		}
	}
	var d SubscribeData
	if err := json.Unmarshal([]byte(`{"channel":"c","recover":{"epoch":"e","offset":2}}`), &d); err != nil {
		t.Fatal(err)
	}
	if p := ParseRecover(d.Recover); p == nil || *p != (Position{"e", 2}) {
		t.Fatalf("%+v", p)
	}
}
