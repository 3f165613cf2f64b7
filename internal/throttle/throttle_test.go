package throttle

import (
	"testing"
	"time"
)

func TestFailures(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	f := New(3, time.Minute, func() time.Time { return now })
	for i := range 3 {
		if _, blocked := f.Blocked("a"); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		f.Fail("a")
	}
	if left, blocked := f.Blocked("a"); !blocked || left != time.Minute {
		t.Fatalf("after 3 failures: %v %v", left, blocked)
	}
	if _, blocked := f.Blocked("b"); blocked {
		t.Fatal("another key is blocked")
	}
	now = now.Add(59 * time.Second)
	if left, blocked := f.Blocked("a"); !blocked || left != time.Second {
		t.Fatalf("59 s on: %v %v", left, blocked)
	}
	now = now.Add(time.Second)
	if _, blocked := f.Blocked("a"); blocked {
		t.Fatal("still blocked after the window")
	}
	f.Fail("a")
	if _, blocked := f.Blocked("a"); blocked {
		t.Fatal("one failure in a new window blocks")
	}
	for in, want := range map[string]string{
		"192.0.2.1:5000": "192.0.2.1", "[2001:db8::1]:25": "2001:db8::/64", "[2001:db8::ffff:1]:25": "2001:db8::/64",
		"[::ffff:192.0.2.1]:25": "::ffff:192.0.2.1", "x": "x",
	} {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}
