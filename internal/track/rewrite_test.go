package track

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"golang.org/x/net/html"
)

const host = "track.example.com"

// testToken is what every token of the test rewriters carries besides its
// kind and URL.
var testToken = Token{KeyID: 2, ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com"}

// testRewriter mints real tokens for cluster A under keyA with an Encoder.
func testRewriter() *Rewriter {
	e, err := NewEncoder(keyA)
	if err != nil {
		panic(err)
	}
	return &Rewriter{Host: host, Encoder: e, Token: testToken}
}

// mintRewriter mints the same tokens through Mint and Encode.
func mintRewriter() *Rewriter {
	return &Rewriter{Host: host, Mint: func(kind Kind, url string) (string, error) {
		t := testToken
		t.Kind, t.URL = kind, url
		return Encode(t, keyA)
	}}
}

// TestMintAndEncoderAgree: a rewriter minting through Mint and one with
// an Encoder write the same bytes.
func TestMintAndEncoderAgree(t *testing.T) {
	in := fmt.Sprintf(newsletter, wrapBase64(newsletter25k))
	var viaMint, viaEncoder bytes.Buffer
	if err := mintRewriter().Message(&viaMint, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if err := testRewriter().Message(&viaEncoder, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if viaMint.String() != viaEncoder.String() {
		t.Fatalf("outputs differ:\nMint    %q\nEncoder %q", viaMint.String(), viaEncoder.String())
	}
	if n := strings.Count(viaEncoder.String(), "\r\n--inner\r\n"); n != 2 {
		t.Fatalf("%d inner parts", n)
	}
}

var linkRE = regexp.MustCompile(`https://track\.example\.com/([couf])/([A-Za-z0-9_-]+)`)

// readable replaces every tracking link in s by [kind:url], decoding its
// token, so expectations can be written plainly.
func readable(t *testing.T, s string) string {
	t.Helper()
	return linkRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := linkRE.FindStringSubmatch(m)
		tok, err := Decode(sub[2], keys)
		if err != nil {
			return m // not one of ours (a test input), left as it is
		}
		if tok.URL != "" {
			return fmt.Sprintf("[%c:%s]", tok.Kind, tok.URL)
		}
		return fmt.Sprintf("[%c]", tok.Kind)
	})
}

const trailer = `<a href="[h]" style="display:none !important" aria-hidden="true" tabindex="-1"></a>` +
	`<img src="[o]" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">`

func TestHTML(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain link", `<p><a href="https://shop.example/sale">Sale</a></p></body>`,
			`<p><a href="[c:https://shop.example/sale]">Sale</a></p>` + trailer + `</body>`},
		{"entities decoded once", `<a href="https://x.example/a?b=1&amp;c=2&amp;amp;d">x</a>`,
			`<a href="[c:https://x.example/a?b=1&c=2&amp;d]">x</a>` + trailer},
		{"other attributes byte for byte", `<A class='btn' HREF = 'http://x.example/' ID=go data-x="a&amp;b">go</A>`,
			`<A class='btn' HREF = "[c:http://x.example/]" ID=go data-x="a&amp;b">go</A>` + trailer},
		{"unquoted", `<a href=https://x.example/p?q=1>x</a>`, `<a href="[c:https://x.example/p?q=1]">x</a>` + trailer},
		{"first href of duplicates", `<a href="https://one.example/" href="https://two.example/">x</a>`,
			`<a href="[c:https://one.example/]" href="https://two.example/">x</a>` + trailer},
		{"surrounding space trimmed", `<a href="  https://x.example/ ">x</a>`, `<a href="[c:https://x.example/]">x</a>` + trailer},
		{"left alone", `<a href="mailto:a@example.com">m</a><a href="tel:+123">t</a><a href="#top">a</a>` +
			`<a href="/rel">r</a><a name="n">n</a><a href="https://x.example/" data-waymark="OFF">off</a>` +
			`<a href="ftp://x.example/">f</a><area href="https://x.example/"><abbr title="https://x.example/">a</abbr>`,
			`<a href="mailto:a@example.com">m</a><a href="tel:+123">t</a><a href="#top">a</a>` +
				`<a href="/rel">r</a><a name="n">n</a><a href="https://x.example/" data-waymark="OFF">off</a>` +
				`<a href="ftp://x.example/">f</a><area href="https://x.example/"><abbr title="https://x.example/">a</abbr>` + trailer},
		{"not in script or comment", `<script>var s = '<a href="https://x.example/">';</script><!-- <a href="https://y.example/"> --></BODY>`,
			`<script>var s = '<a href="https://x.example/">';</script><!-- <a href="https://y.example/"> -->` + trailer + `</BODY>`},
		{"already tracked", `<a href="https://track.example.com/c/abc">x</a>`, `<a href="https://track.example.com/c/abc">x</a>` + trailer},
		{"placeholders", `<a href="{{unsubscribe}}">Unsubscribe</a> {{forward}}</body>`,
			`<a href="[u]">Unsubscribe</a> [f]` + trailer + `</body>`},
		{"placeholder after < stays text", `<p>Stop: <{{unsubscribe}}> or </{{forward}}></p><textarea><{{forward}}</textarea></body>`,
			`<p>Stop: &lt;[u]> or </[f]></p><textarea><[f]</textarea>` + trailer + `</body>`}, // "</{" opens a bogus comment
		{"placeholder after < in script", `<script>s = "<{{unsubscribe}}"</script></body>`, `<script>s = "<[u]"</script>` + trailer + `</body>`},
		{"pixel once, before the first </body>", `<body>x</body></body>`, `<body>x` + trailer + `</body></body>`},
		{"self-closing and no body", `<a href="https://x.example/"/>`, `<a href="[c:https://x.example/]"/>` + trailer},
		{"utf-8 kept", `<p>Grüße — 日本</p><a href="https://x.example/ü">ü</a>`, `<p>Grüße — 日本</p><a href="[c:https://x.example/ü]">ü</a>` + trailer},
	} {
		var out bytes.Buffer
		if err := testRewriter().HTML(&out, strings.NewReader(tc.in)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := readable(t, out.String()); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// A document with no links comes out byte for byte, with only the pixel added.
func TestHTMLByteForByte(t *testing.T) {
	in := "<!DOCTYPE html>\r\n<HTML><head><meta charset=utf-8><style>p{color:red}</style></head>\n" +
		"<body bgcolor=#fff>  <p class=\"x\">a &amp; b &lt; c &#169; &copy</p>\x00<br/><img src=cid:logo></body>\n</html>\n"
	var out bytes.Buffer
	if err := testRewriter().HTML(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	i := strings.Index(in, "</body>")
	got := readable(t, out.String())
	if want := in[:i] + trailer + in[i:]; got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
}

func TestText(t *testing.T) {
	in := "Hi! See https://shop.example/sale. Or (https://x.example/a?b=c), http://y.example/!\n" +
		"Mail me: mailto:a@example.com. Stop: {{unsubscribe}}\nAlready: https://track.example.com/c/abc\n"
	want := "Hi! See [c:https://shop.example/sale]. Or ([c:https://x.example/a?b=c]), [c:http://y.example/]!\n" +
		"Mail me: mailto:a@example.com. Stop: [u]\nAlready: https://track.example.com/c/abc\n"
	var out bytes.Buffer
	if err := testRewriter().Text(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if got := readable(t, out.String()); got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
}

const newsletter = "From: News <news@example.com>\r\n" +
	"To: ann@example.com\r\n" +
	"Subject: Spring\r\n" +
	"List-Unsubscribe: <mailto:unsub@example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=\"inner\"\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=iso-8859-1\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Caf=E9 sale: https://shop.example/caf=E9?x=3D1\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"%s\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: text/html; name=\"page.html\"\r\n" +
	"Content-Disposition: attachment; filename=\"page.html\"\r\n" +
	"\r\n" +
	"<a href=\"https://attached.example/\">kept</a>\r\n" +
	"--outer--\r\n"

func TestMessage(t *testing.T) {
	htmlBody := `<html><body><p>Hello</p><a href="https://shop.example/spring?a=1&amp;b=2">Shop</a> <a href="{{unsubscribe}}">stop</a></body></html>`
	in := fmt.Sprintf(newsletter, wrapBase64(htmlBody))
	var out bytes.Buffer
	if err := testRewriter().Message(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	raw := out.String()
	m, err := message.Read(strings.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		t.Fatalf("output does not parse: %v\n%s", err, raw)
	}
	if got := readable(t, m.Header.Get("List-Unsubscribe")); got != "<[u]>, <mailto:unsub@example.com>" {
		t.Errorf("List-Unsubscribe: %q", got)
	}
	if m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || m.Header.Get("Subject") != "Spring" {
		t.Errorf("headers: %v", m.Header)
	}
	var parts []string
	err = m.Walk(func(path []int, e *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) {
			return err
		}
		if mt, _, _ := e.Header.ContentType(); strings.HasPrefix(mt, "multipart/") {
			return nil
		}
		b, _ := io.ReadAll(e.Body)
		parts = append(parts, readable(t, string(b)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		// Latin-1 bytes stay Latin-1: the charset is kept, not converted.
		"Caf\xe9 sale: [c:https://shop.example/caf\xe9?x=1]",
		`<html><body><p>Hello</p><a href="[c:https://shop.example/spring?a=1&b=2]">Shop</a> <a href="[u]">stop</a>` + trailer + `</body></html>`,
		`<a href="https://attached.example/">kept</a>`,
	}
	if len(parts) != len(want) {
		t.Fatalf("%d parts: %q", len(parts), parts)
	}
	for i := range want {
		if strings.TrimRight(parts[i], "\r\n") != want[i] {
			t.Errorf("part %d:\n got %q\nwant %q", i, parts[i], want[i])
		}
	}
	// Transfer encodings are kept.
	if !strings.Contains(raw, "Content-Transfer-Encoding: base64") || !strings.Contains(raw, "Content-Transfer-Encoding: quoted-printable") {
		t.Errorf("transfer encodings changed:\n%s", raw)
	}
}

func wrapBase64(s string) string {
	var b strings.Builder
	w := &wrap76{w: &b}
	enc := newB64(w)
	enc.Write([]byte(s))
	enc.Close()
	return b.String()
}

func TestSinglePartAndBadInput(t *testing.T) {
	in := "From: a@example.com\r\nX-Waymark-Tracking-Domain: t.example\r\nSubject: x\r\nx-waymark-other: y\r\n\r\nSee https://x.example/ now\r\n"
	var out bytes.Buffer
	rw := testRewriter()
	rw.Drop = func(k string) bool { return strings.HasPrefix(strings.ToLower(k), "x-waymark-") }
	if err := rw.Message(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(out.String()), "x-waymark") || !strings.Contains(out.String(), "Subject: x\r\n") {
		t.Fatalf("control headers not dropped:\n%s", out.String())
	}
	if got := readable(t, out.String()); !strings.Contains(got, "\r\n\r\nSee [c:https://x.example/] now\r\n") || !strings.Contains(got, "List-Unsubscribe: <[u]>") {
		t.Fatalf("single part:\n%s", got)
	}
	// Parts nested beyond reason are refused, not recursed into forever.
	var deep strings.Builder
	deep.WriteString("Content-Type: multipart/mixed; boundary=b0\r\n\r\n")
	for i := range 30 {
		fmt.Fprintf(&deep, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
	}
	if err := testRewriter().Message(io.Discard, strings.NewReader(deep.String())); err == nil {
		t.Fatal("deep nesting accepted")
	}
	if err := testRewriter().Message(io.Discard, strings.NewReader("no header at all")); err == nil {
		t.Fatal("garbage accepted")
	}
}

// hrefs lists the href of every <a> start tag, as the tokenizer sees them.
func hrefs(doc string) []string {
	z := html.NewTokenizer(strings.NewReader(doc))
	var out []string
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		if tt != html.StartTagToken {
			continue
		}
		if name, _ := z.TagName(); string(name) != "a" {
			continue
		}
		href, off, seen := "", false, false
		for {
			k, v, more := z.TagAttr()
			if string(k) == "href" && !seen {
				href, seen = string(v), true
			}
			if string(k) == "data-waymark" && strings.EqualFold(strings.TrimSpace(string(v)), "off") {
				off = true
			}
			if !more {
				break
			}
		}
		if off {
			href = "(off)"
		}
		out = append(out, href)
	}
	return out
}

// Real mail: a boundary a multipart writer would refuse, and a base64 part
// with a signature glued after it (which does not decode: it goes out as
// it came, and the other parts are still rewritten).
func TestOddMessages(t *testing.T) {
	boundary := "----=_Part_" + strings.Repeat("x", 70) + "#1"
	in := "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n" +
		"--" + boundary + "\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"aGVsbG8gaHR0cHM6Ly94LmV4YW1wbGUv\r\n-- \r\nsig\r\n" +
		"--" + boundary + "\r\nContent-Type: text/html\r\n\r\n<a href=\"https://y.example/\">y</a>\r\n" +
		"--" + boundary + "--\r\n"
	var out bytes.Buffer
	if err := testRewriter().Message(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	got := readable(t, out.String())
	if !strings.Contains(got, "aGVsbG8gaHR0cHM6Ly94LmV4YW1wbGUv\r\n-- \r\nsig") || !strings.Contains(got, `<a href="[c:https://y.example/]">y</a>`) {
		t.Fatalf("output:\n%s", got)
	}
	m, err := message.Read(strings.NewReader(out.String()))
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	parts := 0
	m.Walk(func(_ []int, e *message.Entity, _ error) error {
		if mt, _, _ := e.Header.ContentType(); !strings.HasPrefix(mt, "multipart/") {
			parts++
		}
		return nil
	})
	if parts != 2 {
		t.Fatalf("%d leaf parts after rewriting, want 2", parts)
	}
}

// TestLongLinesBecomeQuotedPrintable: links on one long line, made longer
// by their tokens, push it past 998 octets; the part is then sent
// quoted-printable, with every line short and the text unchanged.
func TestLongLinesBecomeQuotedPrintable(t *testing.T) {
	var links strings.Builder
	for i := range 12 {
		fmt.Fprintf(&links, `<a href="https://shop.example/item/%d">item %d</a> `, i, i)
	}
	line := links.String()
	if len(line) > 998 {
		t.Fatalf("the source line is already %d octets", len(line))
	}
	for _, msg := range []string{
		"From: a@example.com\r\nContent-Type: text/html\r\n\r\n<p>" + line + "</p>\r\n",
		"From: a@example.com\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nshort\r\n" +
			"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<p>caf\xc3\xa9 " + line + "</p>\r\n--b--\r\n",
	} {
		var out bytes.Buffer
		if err := testRewriter().Message(&out, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(out.String(), "\r\n") {
			if len(l) > 998 {
				t.Fatalf("a line of %d octets:\n%s", len(l), out.String())
			}
		}
		if !strings.Contains(out.String(), "Content-Transfer-Encoding: quoted-printable") {
			t.Fatalf("not re-encoded:\n%s", out.String())
		}
		// Decoded, the rewritten part has all twelve links tracked.
		e, err := message.Read(&out)
		if err != nil {
			t.Fatal(err)
		}
		var text bytes.Buffer
		e.Walk(func(_ []int, p *message.Entity, _ error) error {
			if mt, _, _ := p.Header.ContentType(); mt == "text/html" {
				text.ReadFrom(p.Body)
			}
			return nil
		})
		if n := strings.Count(text.String(), "https://"+host+"/c/"); n < 12 || strings.Contains(text.String(), "shop.example") {
			t.Fatalf("%d tracked links after decoding:\n%s", n, text.String())
		}
	}
}

func TestHasDataWaymark(t *testing.T) {
	for in, want := range map[string]bool{
		`<a href="x" data-waymark="off">`: true,
		`<a DATA-WayMark=off href="x">`:   true,
		`<a data-waymark>`:                true,
		`<a href="x" data-way="off">`:     false,
		`<a href="x" style="a-b:c">`:      false,
		`<a -waymark="off">`:              false,
		`<a data_waymark="off">`:          false,
		`-`:                               false,
		``:                                false,
	} {
		if got := hasDataWaymark([]byte(in)); got != want {
			t.Errorf("hasDataWaymark(%q) = %v", in, got)
		}
	}
}

// TestPlaceholders: every occurrence is replaced, by one link of each kind,
// braces around or between them stay, and other {{…}} are left alone.
func TestPlaceholders(t *testing.T) {
	rw := testRewriter()
	in := "{{{forward}}} {{unsubscribe}} {{unsubscribe}} {{forward}} {{other}} {{"
	out, err := rw.appendPlaceholders([]byte("> "), []byte(in), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readable(t, string(out)), "> {[f]} [u] [u] [f] {{other}} {{"; got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	links := linkRE.FindAllString(string(out), -1)
	if len(links) != 4 || links[0] != links[3] || links[1] != links[2] {
		t.Fatalf("links %q: want one per kind", links)
	}
}

// TestTrackingSwitches: clicks=html tracks HTML links only, text the
// plain-text ones only, off none (and no honeypot); opens=off leaves out
// the pixel; the unsubscribe placeholder is written in every case.
func TestTrackingSwitches(t *testing.T) {
	msg := "From: a@x.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nSee https://text.example/a and {{unsubscribe}}\r\n" +
		"--b\r\nContent-Type: text/html\r\n\r\n<p><a href=\"https://html.example/b\">b</a> <a href=\"{{unsubscribe}}\">u</a></p></body>\r\n--b--\r\n"
	for _, tc := range []struct {
		clicks                      Clicks
		noOpens                     bool
		text, html, honeypot, pixel bool
	}{
		{ClicksAll, false, true, true, true, true},
		{ClicksHTML, false, false, true, true, true},
		{ClicksText, true, true, false, false, false},
		{ClicksOff, false, false, false, false, true},
		{ClicksOff, true, false, false, false, false},
	} {
		rw := testRewriter()
		rw.Clicks, rw.NoOpens = tc.clicks, tc.noOpens
		var out strings.Builder
		if err := rw.Message(&out, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		name := fmt.Sprintf("clicks=%s opens=%v", tc.clicks, !tc.noOpens)
		if strings.Contains(got, "https://text.example/a") == tc.text || strings.Contains(got, `href="https://html.example/b"`) == tc.html {
			t.Errorf("%s: links\n%s", name, got)
		}
		if strings.Contains(got, `display:none !important`) != tc.honeypot || strings.Contains(got, `<img src="https://track.example.com/o/`) != tc.pixel {
			t.Errorf("%s: honeypot %v pixel %v\n%s", name, tc.honeypot, tc.pixel, got)
		}
		if strings.Count(got, "https://track.example.com/u/") < 3 || strings.Contains(got, "{{unsubscribe}}") { // header, text, HTML
			t.Errorf("%s: unsubscribe links\n%s", name, got)
		}
	}
	for _, s := range []string{"all", "HTML", " text ", "off"} {
		if _, ok := ParseClicks(s); !ok {
			t.Errorf("ParseClicks(%q)", s)
		}
	}
	if _, ok := ParseClicks("some"); ok {
		t.Error("ParseClicks(some)")
	}
	if links, _ := Links([]byte(msg), ClicksHTML); len(links) != 1 || links[0] != "https://html.example/b" {
		t.Errorf("Links html: %v", links)
	}
}
