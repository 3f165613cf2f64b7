package domain

import "testing"

func TestMailbox(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ann@example.org", "ann@example.org"},
		{"Ann <Ann.Lee+news@Example.ORG>", "Ann.Lee+news@example.org"},
		{" bob@example.org ", "bob@example.org"},
		{`"victim@o.com> ORCPT=rfc822;a"@x.com`, ""},
		{`"a b"@example.org`, ""},
		{"a..b@example.org", ""},
		{".a@example.org", ""},
		{"ann@", ""},
		{"@example.org", ""},
		{"ann@exa mple.org", ""},
		{"ann@[127.0.0.1]", ""},
		{"ann@localhost", ""},
		{"jörg@example.org", ""},
		{"ann@example.org>", ""},
		{"a\r\nb@example.org", ""},
		{"", ""},
	} {
		got, err := Mailbox(tc.in)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("Mailbox(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
