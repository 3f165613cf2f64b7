package domain

import "testing"

// BenchmarkTrackingName measures the full rule check an add runs: IDNA,
// syntax, reserved TLDs and two Public Suffix List lookups.
func BenchmarkTrackingName(b *testing.B) {
	names := []string{"track.example.com", "Links.Bücher.de", "t.example.co.uk", "example.com"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, _ = TrackingName(names[i%len(names)], "waymark.localhost")
	}
}
