package domain

import (
	"errors"
	"strings"
	"testing"
)

// TestMailbox: the forms of a recipient accepted, with the address they
// give, and refused, always with ErrMailbox.
func TestMailbox(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct{ in, want string }{
		// Accepted: a plain address, with a display name, comment or
		// angle brackets around it; the host is normalised, the local
		// part kept as written.
		{"ann@example.org", "ann@example.org"},
		{"Ann <Ann.Lee+news@Example.ORG>", "Ann.Lee+news@example.org"},
		{"ANN@EXAMPLE.ORG", "ANN@example.org"},
		{" bob@example.org ", "bob@example.org"},
		{"\tann@example.org\n", "ann@example.org"},
		{"<ann@example.org>", "ann@example.org"},
		{"ann@example.org (Ann)", "ann@example.org"},
		{"=?utf-8?q?Ann?= <ann@example.org>", "ann@example.org"},
		{"a.b@example.org", "a.b@example.org"},
		{"!#$%&'*+-/=?^_`{|}~@example.org", "!#$%&'*+-/=?^_`{|}~@example.org"},
		{long + "@example.org", long + "@example.org"},   // RFC 5321 section 4.5.3.1.1: 64 octets
		{"ann@bücher.de", "ann@xn--bcher-kva.de"},        // IDN host as A-labels
		{"ann@xn--bcher-kva.de", "ann@xn--bcher-kva.de"}, // already A-labels
		{"ann@example.co.uk", "ann@example.co.uk"},
		// A quoted local part that is a dot-atom once unquoted is the
		// same mailbox and is taken unquoted.
		{`"ann"@example.org`, "ann@example.org"},
		// A group of one address gives that address.
		{"team: ann@example.org;", "ann@example.org"},

		// Refused: quoting that would smuggle SMTP parameters, spaces.
		{`"victim@o.com> ORCPT=rfc822;a"@x.com`, ""},
		{`"gone@example.org> NOTIFY=NEVER"@x.example`, ""},
		{`"a b"@example.org`, ""},
		// Not a dot-atom.
		{"a..b@example.org", ""},
		{".a@example.org", ""},
		{"a.@example.org", ""},
		{"jörg@example.org", ""},
		{"ann\x00@example.org", ""},
		{"a\r\nb@example.org", ""},
		{long + "a@example.org", ""}, // 65 octets
		// Not one address.
		{"", ""},
		{"ann", ""},
		{"ann@", ""},
		{"@example.org", ""},
		{"ann@@example.org", ""},
		{"ann@example.org>", ""},
		{"Ann <ann@example.org>, bob@example.org", ""},
		// The host is not a hostname with a dot.
		{"ann@exa mple.org", ""},
		{"ann@exa..mple.org", ""},
		{"ann@-example.org", ""},
		{"ann@ex_ample.org", ""},
		{"ann@ex%61mple.org", ""},
		{"ann@example.org.", ""},
		{"ann@" + long + ".org", ""}, // a 64-octet label
		{"ann@localhost", ""},
		{"ann@example", ""},
		{"ann@127.0.0.1", ""},
		{"ann@1.2.3.4.5", ""},
		{"ann@[127.0.0.1]", ""},
		{"ann@[IPv6:2001:db8::1]", ""},
	} {
		got, err := Mailbox(tc.in)
		if tc.want != "" {
			if got != tc.want || err != nil {
				t.Errorf("Mailbox(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		if got != "" || !errors.Is(err, ErrMailbox) || err.Error() != "not a plain email address (name@example.com, ASCII, no quotes)" {
			t.Errorf("Mailbox(%q) = %q, %v; want ErrMailbox", tc.in, got, err)
		}
	}
}
