package relay

import "fmt"

// UnsignedMail is a cluster's policy for its mail whose From domain is not
// one of its verified sending domains (docs/CONCEPTS.md#clusters).
type UnsignedMail string

const (
	// UnsignedRefuse refuses such mail (550 5.7.1 over SMTP, 422 over the
	// API): the default.
	UnsignedRefuse UnsignedMail = "refuse"
	// UnsignedRelay rewrites such mail for tracking and relays it without
	// a signature, for clusters whose delivery servers sign.
	UnsignedRelay UnsignedMail = "relay"
)

// ParseUnsignedMail reads a policy's name.
func ParseUnsignedMail(s string) (UnsignedMail, error) {
	switch p := UnsignedMail(s); p {
	case UnsignedRefuse, UnsignedRelay:
		return p, nil
	}
	return "", fmt.Errorf("unsigned_mail must be %q or %q, not %q", UnsignedRefuse, UnsignedRelay, s)
}

// UnsignedReason begins the reason of a relayed event for an unsigned
// copy, before the delivery server's reply.
const UnsignedReason = "unsigned (its From domain is not a verified sending domain of the cluster): "
