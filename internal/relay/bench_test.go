package relay

import (
	"fmt"
	"strings"
	"testing"
)

// newsletter25k is a 25 KB HTML newsletter with 40 links.
var newsletter25k = func() string {
	var b strings.Builder
	b.WriteString("From: News <news@acme-mail.com>\r\nTo: reader@example.org\r\nSubject: Spring collection\r\n" +
		"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@acme-mail.com>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n")
	for l := 0; b.Len() < 25_000; l++ {
		if l < 40 {
			fmt.Fprintf(&b, "<p>Our spring collection, item %d: light fabrics. <a href=\"https://shop.example/item/%d\">See item %d</a></p>\r\n", l, l, l)
		} else {
			b.WriteString("<p>Free returns within 30 days, delivery in two working days, and our promise of fair prices.</p>\r\n")
		}
	}
	return b.String() + "</body></html>\r\n"
}()

// BenchmarkSubmit composes (rewrite for the recipient, RSA-2048 and
// Ed25519 signatures) and durably queues the 25 KB newsletter, 8
// submissions at once, on SQLite.
func BenchmarkSubmit(b *testing.B) {
	f := newFixture(b, "smtp://127.0.0.1:9")
	b.SetParallelism(4)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(newsletter25k), []string{"reader@example.org"}, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
