package relay

import (
	"errors"
	"fmt"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestMailboxGone: which refusals say the mailbox does not exist, the only
// ones that put an address on the suppression list (RFC 3463 section 3.2:
// X.1.1 bad mailbox, X.1.2 bad system, X.1.3 bad syntax, X.1.6 moved,
// X.1.10 null MX; X.2.1 disabled), and bare 550/551/553 from servers that
// give no enhanced code.
func TestMailboxGone(t *testing.T) {
	for _, tc := range []struct {
		code int
		enh  smtp.EnhancedCode
		want bool
	}{
		{550, smtp.EnhancedCode{5, 1, 1}, true},
		{550, smtp.EnhancedCode{5, 1, 2}, true},
		{553, smtp.EnhancedCode{5, 1, 3}, true},
		{551, smtp.EnhancedCode{5, 1, 6}, true},
		{556, smtp.EnhancedCode{5, 1, 10}, true},
		{550, smtp.EnhancedCode{5, 2, 1}, true},
		{550, smtp.NoEnhancedCode, true},
		{551, smtp.NoEnhancedCode, true},
		{553, smtp.EnhancedCodeNotSet, true},
		{554, smtp.NoEnhancedCode, false},              // transaction failed: says nothing of the mailbox
		{552, smtp.EnhancedCode{5, 2, 2}, false},       // mailbox full
		{554, smtp.EnhancedCode{5, 7, 1}, false},       // relay access denied: our setup, not theirs
		{550, smtp.EnhancedCode{5, 7, 1}, false},       // policy (spam, DMARC)
		{550, smtp.EnhancedCode{5, 1, 0}, false},       // other address status
		{450, smtp.EnhancedCode{4, 2, 1}, false},       // temporary: never gone
		{421, smtp.NoEnhancedCode, false},              // service closing
		{550, smtp.EnhancedCode{5, 7, 26}, false},      // authentication failed (DMARC)
		{553, smtp.EnhancedCode{5, 3, 4}, false},       // message too big
		{521, smtp.EnhancedCode{5, 3, 2}, false},       // system not accepting mail
		{550, smtp.EnhancedCode{5, 4, 1}, false},       // no answer from host
		{551, smtp.EnhancedCode{5, 5, 0}, false},       // protocol
		{553, smtp.EnhancedCode{5, 6, 0}, false},       // content
		{550, smtp.EnhancedCode{5, 1, 11}, false},      // unknown detail
		{550, smtp.EnhancedCode{5, 1, 1 << 10}, false}, // out of range
	} {
		err := &smtp.SMTPError{Code: tc.code, EnhancedCode: tc.enh, Message: "x"}
		if got := mailboxGone(err); got != tc.want {
			t.Errorf("%d %v: mailboxGone = %v, want %v", tc.code, tc.enh, got, tc.want)
		}
		if got := mailboxGone(fmt.Errorf("rcpt: %w", err)); got != tc.want {
			t.Errorf("wrapped %d %v: mailboxGone = %v, want %v", tc.code, tc.enh, got, tc.want)
		}
	}
	if mailboxGone(errors.New("dial tcp: connection refused")) {
		t.Error("a network error is not a refusal of the mailbox")
	}
}

// TestClassify: 5xx is permanent, 4xx and network errors temporary, and
// the recorded text keeps the server's codes.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err       error
		permanent bool
		text      string
	}{
		{&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, true, "550 5.1.1 no such user"},
		{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}, false, "451 4.3.0 try later"},
		{&smtp.SMTPError{Code: 554, EnhancedCode: smtp.NoEnhancedCode, Message: "go away"}, true, "554 go away"},
		{errors.New("read: connection reset"), false, "read: connection reset"},
	} {
		o := classify(tc.err)
		if o.permanent != tc.permanent || o.err == nil || o.err.Error() != tc.text {
			t.Errorf("classify(%v) = permanent %v, %v; want %v, %q", tc.err, o.permanent, o.err, tc.permanent, tc.text)
		}
	}
}
