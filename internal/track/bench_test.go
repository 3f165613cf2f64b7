package track

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// newsletter25k is a 25 KB HTML newsletter with 40 links.
var newsletter25k = func() string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><style>td{font-family:Arial;color:#333}</style></head><body><table width="600" cellpadding="0" cellspacing="0">`)
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, `<tr><td class="item" style="padding:12px 24px"><h2 style="margin:0">Product %d</h2>`+
			`<p>Our spring collection brings light fabrics, bright colours &amp; everything you need for the season ahead. `+
			`Order today and get free delivery on every item in this email, until the end of the month. `+
			`Sizes run from XS to XXL, returns are free for thirty days, and every order plants a tree. See you soon!</p>`+
			`<a href="https://shop.example.com/products/%d?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=spring" `+
			`style="color:#fff;background:#0a7;padding:8px 16px;text-decoration:none">Shop now</a></td></tr>`, i, i)
	}
	b.WriteString(`</table><p><a href="{{unsubscribe}}">Unsubscribe</a></p></body></html>`)
	return b.String()
}()

// BenchmarkRewriteHTML rewrites the newsletter: 40 links, pixel, honeypot
// and placeholder, tokens signed by one Encoder.
func BenchmarkRewriteHTML(b *testing.B) {
	benchmarkRewriteHTML(b, testRewriter())
}

// BenchmarkRewriteHTMLMint is the same with each token minted through Mint
// and Encode (a new HMAC and a string per link).
func BenchmarkRewriteHTMLMint(b *testing.B) {
	benchmarkRewriteHTML(b, mintRewriter())
}

func benchmarkRewriteHTML(b *testing.B, rw *Rewriter) {
	b.SetBytes(int64(len(newsletter25k)))
	b.ReportAllocs()
	for b.Loop() {
		if err := rw.HTML(io.Discard, strings.NewReader(newsletter25k)); err != nil {
			b.Fatal(err)
		}
	}
}

// benchToken is a click token of the newsletter.
var benchToken = Token{Kind: Click, KeyID: 2, Issued: time.Unix(1_800_000_000, 0), ClusterID: "cl_00000000000000aa", MessageID: "msg_1",
	Recipient: "ann@example.com", URL: "https://shop.example.com/products/7?utm_source=newsletter&utm_medium=email&utm_campaign=spring"}

// BenchmarkEncode mints one token with Encode: a new HMAC and a string.
func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(benchToken, keyA); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncoder mints one token with a reused Encoder into a reused buffer.
func BenchmarkEncoder(b *testing.B) {
	e, _ := NewEncoder(keyA)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = e.Append(buf[:0], benchToken); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenizerPass is the floor: the same document through the
// x/net/html tokenizer, every token's raw bytes copied out, nothing changed.
func BenchmarkTokenizerPass(b *testing.B) {
	b.SetBytes(int64(len(newsletter25k)))
	b.ReportAllocs()
	for b.Loop() {
		z := html.NewTokenizer(strings.NewReader(newsletter25k))
		for z.Next() != html.ErrorToken {
			io.Discard.Write(z.Raw())
		}
	}
}

func TestNewsletterSize(t *testing.T) {
	if n := len(newsletter25k); n < 24_000 || n > 26_000 || strings.Count(newsletter25k, "<a href=\"https://") != 40 {
		t.Fatalf("benchmark newsletter: %d bytes, %d links", n, strings.Count(newsletter25k, "<a href=\"https://"))
	}
}

// BenchmarkDecode decodes and authenticates the click token, as the edge
// does for every request.
func BenchmarkDecode(b *testing.B) {
	s, err := Encode(benchToken, keyA)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(s, keys); err != nil {
			b.Fatal(err)
		}
	}
}
