package relay

import (
	"errors"
	"strconv"
	"testing"
)

// TestParseRecipient: what the API and the SMTP service take as a
// recipient, and the refusal of anything else (domain.Mailbox has the
// full table of forms).
func TestParseRecipient(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ann@example.org", "ann@example.org"},
		{"Ann <Ann@Example.ORG>", "Ann@example.org"},
		{" <bob@example.org> ", "bob@example.org"},
		{`"ann"@example.org`, "ann@example.org"},
		{`"gone@example.org> NOTIFY=NEVER"@x.example`, ""},
		{"gone@example.org> NOTIFY=NEVER@x.example", ""}, // the same, as net/mail unquotes it
		{"jörg@example.org", ""},
		{"ann@localhost", ""},
		{"", ""},
	} {
		got, err := ParseRecipient(tc.in)
		if tc.want != "" {
			if got != tc.want || err != nil {
				t.Errorf("ParseRecipient(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		var ref *Refusal
		if got != "" || !errors.As(err, &ref) {
			t.Errorf("ParseRecipient(%q) = %q, %v; want a refusal", tc.in, got, err)
			continue
		}
		msg := strconv.Quote(tc.in) + " is not a plain email address (name@example.com)"
		if !errors.Is(err, ErrRecipientInvalid) || ref.Code != "recipient_invalid" || ref.Field != "recipient" ||
			ref.SMTP != 550 || ref.Status != [3]int{5, 1, 3} || ref.Message != msg {
			t.Errorf("ParseRecipient(%q) refused with %+v; want ErrRecipientInvalid saying %q", tc.in, *ref, msg)
		}
	}
}
