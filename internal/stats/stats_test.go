package stats

import (
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
)

func TestCount(t *testing.T) {
	at := time.Date(2027, 3, 4, 10, 59, 59, 0, time.UTC)
	hour := time.Date(2027, 3, 4, 10, 0, 0, 0, time.UTC).UnixMicro()
	rows := map[Key]*Counts{}
	for _, h := range []Hit{
		{Type: event.Open, Class: event.Human, First: true},
		{Type: event.Open, Class: event.Proxy},
		{Type: event.Open, Class: event.Bot},
		{Type: event.Click, Class: event.Human, URL: "https://a/", First: true, FirstOfLink: true},
		{Type: event.Click, Class: event.Human, URL: "https://b/", FirstOfLink: true},
		{Type: event.Click, Class: event.Bot, URL: "https://a/"},
		{Type: event.Unsubscribe, Class: event.Human},
		{Type: event.Bounce, Class: event.Hard},
		{Type: event.Bounce, Class: event.Failed},
		{Type: event.Bounce, Class: event.Soft},
		{Type: event.Complaint},
		{Type: event.Relayed},
		{Type: event.Forward},
		{Type: event.View},
	} {
		h.Cluster, h.At, h.Host, h.MessageID, h.SendingDomain = "cl_a", at, "t.example", "msg_1", "example.com"
		Count(rows, h)
	}
	// A message whose sending domain is not known counts under none.
	Count(rows, Hit{Cluster: "cl_a", At: at, Type: event.Relayed, MessageID: "msg_2"})
	total := rows[Key{Cluster: "cl_a", Dim: Total, Hour: hour}]
	want := Counts{OpensHuman: 1, OpensProxy: 1, OpensBot: 1, ClicksHuman: 2, ClicksBot: 1, UniqueOpens: 1, UniqueClicks: 1,
		Unsubscribes: 1, BouncesHard: 2, BouncesSoft: 1, Complaints: 1, Relayed: 1}
	if sd := rows[Key{Cluster: "cl_a", Dim: SendingDomain, Value: "example.com", Hour: hour}]; sd == nil || *sd != want {
		t.Fatalf("sending domain %+v", sd)
	}
	wantTotal := want
	wantTotal.Relayed++ // msg_2's
	if total == nil || *total != wantTotal {
		t.Fatalf("total %+v\nwant  %+v", total, wantTotal)
	}
	if h := rows[Key{Cluster: "cl_a", Dim: Host, Value: "t.example", Hour: hour}]; h == nil || *h != want {
		t.Fatalf("host %+v", h)
	}
	if m := rows[Key{Cluster: "cl_a", Dim: Message, Value: "msg_1", Hour: hour}]; m == nil || *m != want {
		t.Fatalf("message %+v", m)
	}
	a := rows[Key{Cluster: "cl_a", Dim: Link, Value: "https://a/", Hour: hour}]
	b := rows[Key{Cluster: "cl_a", Dim: Link, Value: "https://b/", Hour: hour}]
	if a == nil || b == nil || a.Clicks() != 2 || a.UniqueClicks != 1 || b.Clicks() != 1 || b.UniqueClicks != 1 || a.Opens() != 0 {
		t.Fatalf("links a %+v b %+v", a, b)
	}
	if len(rows) != 7 {
		t.Fatalf("%d rows, want total, host, two messages, a sending domain and two links", len(rows))
	}
}

func TestHourAndBucket(t *testing.T) {
	for _, tc := range []struct {
		at        time.Time
		hour, day time.Time
	}{
		{time.Date(2027, 3, 4, 10, 30, 0, 0, time.UTC), time.Date(2027, 3, 4, 10, 0, 0, 0, time.UTC), time.Date(2027, 3, 4, 0, 0, 0, 0, time.UTC)},
		{time.Date(2027, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 4, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 4, 0, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		{time.Date(2027, 3, 4, 1, 30, 0, 0, time.FixedZone("+02", 7200)), time.Date(2027, 3, 3, 23, 0, 0, 0, time.UTC), time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC)},
	} {
		h := HourOf(tc.at)
		if h != tc.hour.UnixMicro() || Bucket(h, false) != h || Bucket(h, true) != tc.day.UnixMicro() {
			t.Errorf("%v: hour %v day %v", tc.at, time.UnixMicro(h).UTC(), time.UnixMicro(Bucket(h, true)).UTC())
		}
	}
}
