package domain

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

const testPlatform = "waymark.io"

// nameCase is one row of a table: an input and either the name it yields or
// the code of its refusal.
type nameCase struct {
	in   string
	want string // normalised name, when accepted
	code string // NameError code, when refused
}

// testLabel returns a label of n letters.
func testLabel(n int) string { return strings.Repeat("a", n) }

// longName returns a valid name of exactly n octets ending in .example.com.
func longName(n int) string {
	const tail = ".example.com"
	var b strings.Builder
	for b.Len()+len(tail) < n {
		rest := n - len(tail) - b.Len()
		if b.Len() > 0 {
			b.WriteByte('.')
			rest--
		}
		b.WriteString(testLabel(min(rest, 63)))
	}
	return b.String() + tail
}

var trackingCases = []nameCase{
	// Accepted, normalised.
	{in: "track.example.com", want: "track.example.com"},
	{in: "Track.Example.COM.", want: "track.example.com"},
	{in: "  track.example.com \t\n", want: "track.example.com"},
	{in: "track.example.co.uk", want: "track.example.co.uk"},
	{in: "a.b.c.track.example.co.uk", want: "a.b.c.track.example.co.uk"},
	{in: "t1.example.com", want: "t1.example.com"},
	{in: "1.example.com", want: "1.example.com"},
	{in: "my-track.example.com", want: "my-track.example.com"},
	{in: "track.bücher.de", want: "track.xn--bcher-kva.de"},
	{in: "TRACK.BÜCHER.DE", want: "track.xn--bcher-kva.de"},
	{in: "track.xn--bcher-kva.de", want: "track.xn--bcher-kva.de"},
	{in: "TRACK.XN--BCHER-KVA.DE", want: "track.xn--bcher-kva.de"},
	{in: "track.faß.de", want: "track.xn--fa-hia.de"}, // non-transitional: not fass.de
	{in: "ｔｒａｃｋ．ｅｘａｍｐｌｅ．ｃｏｍ", want: "track.example.com"},
	{in: "track。example。com", want: "track.example.com"},
	{in: "track.example.com。", want: "track.example.com"},
	{in: "track.example.公司.cn", want: "track.example.xn--55qx5d.cn"}, // an IDN public suffix
	{in: "track.example.рф", want: "track.example.xn--p1ai"},         // an IDN TLD
	{in: "track.عربي.com", want: "track.xn--ngbrx4e.com"},
	{in: "track.foo.github.io", want: "track.foo.github.io"},
	{in: "track.t.waymark.com", want: "track.t.waymark.com"}, // not the platform domain
	{in: "track.notwaymark.io", want: "track.notwaymark.io"},
	{in: longName(253), want: longName(253)},
	{in: testLabel(63) + ".example.com", want: testLabel(63) + ".example.com"},
	{in: "x.www.ck", want: "x.www.ck"},                           // PSL exception rule !www.ck
	{in: "xn--track.example.com", want: "xn--track.example.com"}, // valid punycode for "˫˦˧"

	// Required.
	{in: "", code: CodeRequired},
	{in: "   ", code: CodeRequired},
	{in: "\t\n", code: CodeRequired},

	// IP addresses.
	{in: "192.0.2.1", code: CodeIPAddress},
	{in: "127.0.0.1", code: CodeIPAddress},
	{in: "192.0.2.1.", code: CodeIPAddress},
	{in: "192.0.2.1:80", code: CodeIPAddress},
	{in: "::1", code: CodeIPAddress},
	{in: "[::1]", code: CodeIPAddress},
	{in: "[2001:db8::1]:443", code: CodeIPAddress},
	{in: "2001:db8::1", code: CodeIPAddress},
	{in: "fe80::1%eth0", code: CodeIPAddress},
	{in: "::ffff:192.0.2.1", code: CodeIPAddress},
	{in: "http://192.0.2.1/", code: CodeIPAddress},
	{in: "127.1", code: CodeIPAddress},
	{in: "0x7f.0.0.1", code: CodeIPAddress},
	{in: "2130706433", code: CodeIPAddress},
	{in: "１２７.０.０.１", code: CodeIPAddress}, // full-width, an address once mapped

	// URL, path, email, port.
	{in: "https://track.example.com/", code: CodeSyntax},
	{in: "http://track.example.com", code: CodeSyntax},
	{in: "track.example.com/click", code: CodeSyntax},
	{in: "track.example.com?x=1", code: CodeSyntax},
	{in: "track.example.com:443", code: CodeSyntax},
	{in: "user@example.com", code: CodeSyntax},

	// Syntax.
	{in: "track example.com", code: CodeSyntax},
	{in: "track.exa mple.com", code: CodeSyntax},
	{in: "track_1.example.com", code: CodeSyntax},
	{in: "_dmarc.example.com", code: CodeSyntax},
	{in: "*.example.com", code: CodeSyntax},
	{in: "-track.example.com", code: CodeSyntax},
	{in: "track-.example.com", code: CodeSyntax},
	{in: "track.-example.com", code: CodeSyntax},
	{in: "tr--ack.example.com", code: CodeSyntax}, // R-LDH, RFC 5891 section 4.2.3.1
	{in: "track..example.com", code: CodeSyntax},
	{in: ".track.example.com", code: CodeSyntax},
	{in: "track.example.com..", code: CodeSyntax},
	{in: ".", code: CodeSyntax},
	{in: "..", code: CodeSyntax},
	{in: "track.example!.com", code: CodeSyntax},
	{in: "track.example.com\x00", code: CodeSyntax},
	{in: "\"track.example.com\"", code: CodeSyntax},
	{in: "track.\xff.com", code: CodeSyntax}, // IDNA alone would map it to U+FFFD
	{in: "track.ex\xc3ample.com", code: CodeSyntax},
	{in: testLabel(64) + ".example.com", code: CodeSyntax},
	{in: "track." + strings.Repeat("ü", 60) + ".com", code: CodeSyntax}, // A-label > 63

	// Too long.
	{in: longName(254), code: CodeTooLong},
	{in: strings.Repeat("a.", 200) + "example.com", code: CodeTooLong},
	{in: strings.Repeat("a", 5000), code: CodeTooLong},

	// IDNA.
	{in: "xn--zz.example.com", code: CodeIDN},
	{in: "xn--abc.example.com", code: CodeIDN},
	{in: "track.xn--bcher-kva-.de", code: CodeSyntax}, // trailing hyphen, caught before IDNA
	{in: "xn---bcher-kva.de", code: CodeIDN},          // U-label starts with a hyphen
	{in: "track.a⒈com", code: CodeIDN},                // disallowed code point
	{in: "track.x\u200dy.com", code: CodeIDN},         // ZWJ outside its context
	{in: "track.\u00a0x.com", code: CodeIDN},          // NBSP inside
	{in: "track.a\u0660.com", code: CodeIDN},          // bidi rule

	// Single label.
	{in: "localhost", code: CodeSingleLabel},
	{in: "intranet", code: CodeSingleLabel},
	{in: "com", code: CodeSingleLabel},
	{in: "bücher", code: CodeSingleLabel},

	// Reserved TLDs.
	{in: "track.example.localhost", code: CodeReservedTLD},
	{in: "track.example.local", code: CodeReservedTLD},
	{in: "track.example.test", code: CodeReservedTLD},
	{in: "TRACK.EXAMPLE.TEST.", code: CodeReservedTLD},
	{in: "track.example.invalid", code: CodeReservedTLD},
	{in: "track.example.example", code: CodeReservedTLD},
	{in: "track.example.localdomain", code: CodeReservedTLD},
	{in: "track.example.onion", code: CodeReservedTLD},
	{in: "track.example.alt", code: CodeReservedTLD},
	{in: "track.example.internal", code: CodeReservedTLD},
	{in: "track.example.home.arpa", code: CodeReservedTLD},
	{in: "example.test", code: CodeReservedTLD},

	// Unknown TLD.
	{in: "track.example.notatld", code: CodeUnknownTLD},
	{in: "example.notatld", code: CodeUnknownTLD},
	{in: "track.example.123", code: CodeUnknownTLD},

	// Public suffixes.
	{in: "co.uk", code: CodePublicSuffix},
	{in: "CO.UK.", code: CodePublicSuffix},
	{in: "github.io", code: CodePublicSuffix},
	{in: "s3.amazonaws.com", code: CodePublicSuffix},
	{in: "公司.cn", code: CodePublicSuffix},
	{in: "foo.ck", code: CodePublicSuffix}, // wildcard rule *.ck

	// Registrable domains.
	{in: "example.com", code: CodeApex},
	{in: "example.co.uk", code: CodeApex},
	{in: "bücher.de", code: CodeApex},
	{in: "foo.github.io", code: CodeApex},
	{in: "www.ck", code: CodeApex},
	{in: "track.公司.cn", code: CodeApex},

	// Platform.
	{in: "waymark.io", code: CodePlatform},
	{in: "t.waymark.io", code: CodePlatform},
	{in: "Track.WAYMARK.io.", code: CodePlatform},
	{in: "a.b.waymark.io", code: CodePlatform},
}

var sendingCases = []nameCase{
	{in: "example.com", want: "example.com"},
	{in: "Example.COM.", want: "example.com"},
	{in: "mail.example.com", want: "mail.example.com"},
	{in: "example.co.uk", want: "example.co.uk"},
	{in: "bücher.de", want: "xn--bcher-kva.de"},
	{in: "foo.github.io", want: "foo.github.io"},
	{in: "track.foo.github.io", want: "track.foo.github.io"},
	{in: "www.ck", want: "www.ck"},

	{in: "", code: CodeRequired},
	{in: "co.uk", code: CodePublicSuffix},
	{in: "com", code: CodeSingleLabel},
	{in: "github.io", code: CodePublicSuffix},
	{in: "example.test", code: CodeReservedTLD},
	{in: "example.notatld", code: CodeUnknownTLD},
	{in: "192.0.2.1", code: CodeIPAddress},
	{in: "user@example.com", code: CodeSyntax},
	{in: "waymark.io", code: CodePlatform},
	{in: "mail.waymark.io", code: CodePlatform},
}

var normalizeCases = []nameCase{
	{in: "Track.Example.COM.", want: "track.example.com"},
	{in: "TRACK.BÜCHER.DE", want: "track.xn--bcher-kva.de"},
	{in: "co.uk", want: "co.uk"},               // no Public Suffix rules
	{in: "localhost", want: "localhost"},       // no single-label rule
	{in: "example.test", want: "example.test"}, // no reserved-TLD rule
	{in: "example.notatld", want: "example.notatld"},
	{in: "", code: CodeRequired},
	{in: "[::1]", code: CodeIPAddress},
	{in: "x.com:80", code: CodeSyntax},
	{in: "xn--zz.example.com", code: CodeIDN},
	{in: longName(254), code: CodeTooLong},
}

func runCases(t *testing.T, fn func(string) (string, error), cases []nameCase) {
	t.Helper()
	for _, tc := range cases {
		got, err := fn(tc.in)
		name := tc.in
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		if tc.code == "" {
			if err != nil {
				t.Errorf("%q: unexpected error %v", name, err)
			} else if got != tc.want {
				t.Errorf("%q: got %q, want %q", name, got, tc.want)
			}
			continue
		}
		var ne *NameError
		if !errors.As(err, &ne) {
			t.Errorf("%q: got %q, %v; want NameError %s", name, got, err, tc.code)
			continue
		}
		if ne.Code != tc.code {
			t.Errorf("%q: code %s, want %s (%s)", name, ne.Code, tc.code, ne.Message)
		}
		if got != "" {
			t.Errorf("%q: refused but returned %q", name, got)
		}
		if ne.Error() != ne.Message || ne.Message == "" {
			t.Errorf("%q: Error() %q, Message %q", name, ne.Error(), ne.Message)
		}
		// Messages name the input.
		if trimmed := strings.TrimSpace(tc.in); tc.code != CodeRequired && len(trimmed) <= maxQuote {
			if q := strconv.Quote(trimmed); !strings.Contains(ne.Message, q) {
				t.Errorf("%q: message %q does not name the input as %s", name, ne.Message, q)
			}
		}
	}
}

func TestTrackingName(t *testing.T) {
	runCases(t, func(s string) (string, error) { return TrackingName(s, testPlatform) }, trackingCases)
}

func TestSendingName(t *testing.T) {
	runCases(t, func(s string) (string, error) { return SendingName(s, testPlatform) }, sendingCases)
}

func TestNormalize(t *testing.T) {
	runCases(t, Normalize, normalizeCases)
}

func TestPlatformDomain(t *testing.T) {
	cases := []struct {
		in, platform string
		code         string
	}{
		{"t.waymark.io", "", ""},
		{"t.waymark.io", "  ", ""},
		{"t.waymark.io", "WAYMARK.IO.", CodePlatform},
		{"t.waymark.io", "t.waymark.io", CodePlatform},
		{"x.t.waymark.io", "t.waymark.io", CodePlatform},
		{"u.waymark.io", "t.waymark.io", ""},
		{"track.bücher.de", "xn--bcher-kva.de", CodePlatform},
		{"track.xn--bcher-kva.de", "bücher.de", CodePlatform},
		// The platform check comes before the Public Suffix checks, so a
		// platform domain on the list gets the platform message.
		{"github.io", "github.io", CodePlatform},
		{"foo.github.io", "github.io", CodePlatform},
	}
	for _, tc := range cases {
		_, err := TrackingName(tc.in, tc.platform)
		var ne *NameError
		code := ""
		if errors.As(err, &ne) {
			code = ne.Code
		} else if err != nil {
			t.Fatalf("%q under %q: not a NameError: %v", tc.in, tc.platform, err)
		}
		if code != tc.code {
			t.Errorf("%q under %q: code %q, want %q (%v)", tc.in, tc.platform, code, tc.code, err)
		}
	}
}

// TestMessages pins the wording of the common refusals.
func TestMessages(t *testing.T) {
	cases := []struct{ in, msg string }{
		{"co.uk", `"co.uk" is a public suffix; add a name under a domain you own, such as track.example.co.uk`},
		{"example.com", `"example.com" is a registrable domain; tracking domains must be a subdomain such as track.example.com`},
		{"192.0.2.1", `"192.0.2.1" is an IP address; give a hostname such as track.example.com`},
		{"track.example.test", `"track.example.test" uses the reserved top-level domain .test; use a domain registered in public DNS`},
		{"https://track.example.com/", `"https://track.example.com/" is a URL; give just the hostname, "track.example.com"`},
		{"track.example.com:443", `"track.example.com:443" includes a port; give just the hostname, "track.example.com"`},
		{"track.example.notatld", `"track.example.notatld" ends in .notatld, which is not a known top-level domain; check the spelling`},
		{"intranet", `"intranet" is a single label; give a full hostname such as track.example.com`},
		{"t.waymark.io", `"t.waymark.io" is under the platform domain waymark.io; use a domain you own, such as track.example.com`},
		{"", `no hostname given; enter one such as track.example.com`},
	}
	for _, tc := range cases {
		_, err := TrackingName(tc.in, testPlatform)
		if err == nil || err.Error() != tc.msg {
			t.Errorf("%q:\n got  %v\n want %s", tc.in, err, tc.msg)
		}
	}
	_, err := SendingName("co.uk", "")
	if want := `"co.uk" is a public suffix; add a name under a domain you own, such as example.co.uk`; err == nil || err.Error() != want {
		t.Errorf("SendingName co.uk:\n got  %v\n want %s", err, want)
	}
}

// TestIdempotent checks that every accepted name is accepted again unchanged.
func TestIdempotent(t *testing.T) {
	for _, tc := range trackingCases {
		if tc.code != "" {
			continue
		}
		again, err := TrackingName(tc.want, testPlatform)
		if err != nil || again != tc.want {
			t.Errorf("%q: second pass gave %q, %v", tc.want, again, err)
		}
	}
}

func TestDNSName(t *testing.T) {
	for _, tc := range []struct{ in, want, code string }{
		{"_spf.operator.net", "_spf.operator.net", ""},
		{" _SPF.Google.COM. ", "_spf.google.com", ""},
		{"spf-1.example", "spf-1.example", ""},
		{"", "", CodeRequired},
		{"a..example", "", CodeSyntax},
		{strings.Repeat("a", 64) + ".example", "", CodeSyntax},
		{"bad name.example", "", CodeSyntax},
		{"x,y.example", "", CodeSyntax},
		{strings.Repeat("a.", 127) + "example", "", CodeTooLong},
	} {
		got, err := DNSName(tc.in)
		var ne *NameError
		switch {
		case tc.code == "" && (err != nil || got != tc.want):
			t.Errorf("DNSName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.code != "" && (!errors.As(err, &ne) || ne.Code != tc.code):
			t.Errorf("DNSName(%q) = %q, %v; want code %s", tc.in, got, err, tc.code)
		}
	}
}

func TestPlainAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"ops@acme.example":               true,
		"first.last+tag@mail.example":    true,
		`"x> RET=FULL"@x.example`:        false,
		"<a@evil.example>@x.example":     false,
		"ü@x.example":                    false,
		"a b@x.example":                  false,
		"a@-x.example":                   false,
		"a@":                             false,
		strings.Repeat("a", 65) + "@x.y": false,
	} {
		if got := PlainAddress(addr); got != want {
			t.Errorf("PlainAddress(%q) = %v", addr, got)
		}
	}
}

func TestDisplay(t *testing.T) {
	for in, want := range map[string]string{
		"track.example.com":           "track.example.com",
		"xn--bcher-kva.example":       "bücher.example",
		"track.xn--mnchen-3ya.de":     "track.münchen.de",
		"xn--zz-not-punycode.example": "xn--zz-not-punycode.example",
		"clicks.xn--80ak6aa92e.com":   "clicks.\u0430\u0440\u0440\u04cf\u0435.com",
	} {
		if got := Display(in); got != want {
			t.Errorf("Display(%q) = %q, want %q", in, got, want)
		}
	}
}
