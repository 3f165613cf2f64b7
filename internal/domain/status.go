package domain

// Status is the verification state of a tracking or sending domain.
type Status string

const (
	// StatusPending means the customer's DNS has not been verified (yet, or
	// no longer): nothing is served or signed for the name.
	StatusPending Status = "pending"
	// StatusActive means the CNAME chain was verified and the name is in use.
	StatusActive Status = "active"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == StatusPending || s == StatusActive }
