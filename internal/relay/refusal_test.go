package relay

import (
	"errors"
	"fmt"
	"testing"
)

var declared = []*Refusal{ErrInvalidMessage, ErrInvalidMessageID, ErrInvalidHeader, ErrFromInvalid, ErrFromMissing,
	ErrFromMultiple, ErrFromNotVerified, ErrTrackingDomainNotActive, ErrDeliveryServerUnknown, ErrRecipientInvalid,
	ErrTooManyRecipients, ErrTooLarge, ErrNoDeliveryServer, ErrForwardUnavailable, ErrForwardLimit, ErrAuthMechanism,
	ErrAuthUnavailable, ErrAuthFailed, ErrAuthThrottled, ErrClientThrottled, ErrAuthRequired, ErrRateLimited, ErrBadAddress, ErrSuppressionCheck, ErrSuppressed,
	ErrReadFailed, ErrBareLineBreak, ErrLineTooLong, ErrNUL, ErrQueueFailed}

// TestRefusalsDeclared: each refusal has a code and a text, and its reply
// code and enhanced status code agree on the class (RFC 3463 section 3.1:
// 4.x.x is temporary, 5.x.x permanent).
func TestRefusalsDeclared(t *testing.T) {
	for _, r := range declared {
		if r.Code == "" || r.Message == "" {
			t.Errorf("%+v: no code or text", r)
		}
		if r.SMTP/100 != r.Status[0] || (r.SMTP/100 != 4 && r.SMTP/100 != 5) {
			t.Errorf("%s: reply %d with status %d.%d.%d", r.Code, r.SMTP, r.Status[0], r.Status[1], r.Status[2])
		}
	}
}

// TestRefusalIs: a refusal made from a declared one with With or At is
// that one for errors.Is, also wrapped, and no other one; its codes stay.
func TestRefusalIs(t *testing.T) {
	r := ErrFromNotVerified.With("%s is not verified", "example.com").At("Sender")
	err := fmt.Errorf("submit: %w", r)
	if !errors.Is(err, ErrFromNotVerified) {
		t.Fatal("not ErrFromNotVerified")
	}
	for _, other := range declared {
		if other != ErrFromNotVerified && errors.Is(err, other) {
			t.Errorf("also %s", other.Code)
		}
	}
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Message != "example.com is not verified" || ref.Field != "Sender" || ref.SMTP != 550 ||
		ref.Status != [3]int{5, 7, 1} || ref.Code != "from_domain_not_verified" {
		t.Fatalf("refusal %+v", ref)
	}
	if ErrFromNotVerified.Message == ref.Message || ErrFromNotVerified.Field != "From" {
		t.Fatal("With or At changed the declared refusal")
	}
	if got := ref.Reply(); got != "550 5.7.1 example.com is not verified" {
		t.Fatalf("Reply() = %q", got)
	}
	if se := ref.SMTPError(); se.Code != 550 || se.EnhancedCode != [3]int{5, 7, 1} || se.Message != ref.Message {
		t.Fatalf("SMTPError() = %+v", se)
	}
	if errors.Is(errors.New("from_domain_not_verified"), ErrFromNotVerified) {
		t.Fatal("a plain error with the same text matched")
	}
}
