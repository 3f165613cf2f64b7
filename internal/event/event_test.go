package event

import (
	"slices"
	"testing"
)

func TestNames(t *testing.T) {
	names := Names()
	if len(names) != len(Notices)+len(Types) {
		t.Fatalf("%d names", len(names))
	}
	for _, want := range []string{"tracking_domain.verified", "sending_domain.deactivated", "open", "complaint"} {
		if !slices.Contains(names, want) {
			t.Errorf("%q missing from %v", want, names)
		}
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%q twice", n)
		}
		seen[n] = true
	}
}

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		t    Type
		want bool
	}{{Open, true}, {Complaint, true}, {"", false}, {"opened", false}, {"OPEN", false}} {
		if got := tc.t.Valid(); got != tc.want {
			t.Errorf("%q.Valid() = %v", tc.t, got)
		}
	}
}
