package store

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"ok", 512, "ok"},
		{"x\xff", 512, "x\uFFFD"},
		{"日本語", 7, "日本"}, // mid-character: cut back to a boundary
		{strings.Repeat("a", 199) + "é", 200, strings.Repeat("a", 199)},
		{"Moz\xff", 200, "Moz\uFFFD"},
	} {
		if got := Text(tc.in, tc.n); got != tc.want {
			t.Errorf("Text(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
