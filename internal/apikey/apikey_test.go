package apikey

import (
	"regexp"
	"strings"
	"testing"
)

func TestNewAndHash(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k := New(ClusterPrefix)
		if !regexp.MustCompile(`^wmk_[a-z2-7]{32}$`).MatchString(k) {
			t.Fatalf("key %q has the wrong shape", k)
		}
		if seen[k] {
			t.Fatalf("key %q repeated", k)
		}
		seen[k] = true
	}
	h := Hash("wma_abc")
	if len(h) != 64 || strings.ToLower(h) != h || h == Hash("wma_abd") {
		t.Fatalf("hash %q", h)
	}
	if !Equal(h, Hash("wma_abc")) || Equal(h, Hash("wma_abd")) {
		t.Fatal("Equal disagrees with ==")
	}
}

func TestNewID(t *testing.T) {
	id := NewID("td")
	if !regexp.MustCompile(`^td_[0-9a-f]{16}$`).MatchString(id) || id == NewID("td") {
		t.Fatalf("id %q", id)
	}
}
