package relay

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// Refusal is a message or command refused for what it is: a code for the
// API, an SMTP reply code and enhanced status code (RFC 3463), and a text
// that says what to change. The refusals below are declared once; a
// refusal that says more about one case is made from one of them with
// With, and errors.Is matches it with the one it was made from.
type Refusal struct {
	Code    string // API error code
	Message string
	Field   string // the header or parameter at fault
	SMTP    int    // reply code
	Status  [3]int // enhanced status code (RFC 3463)
	// BadRequest: the API answers 400 (the request is malformed), not 422.
	BadRequest bool

	kind *Refusal // the declared refusal this one was made from
}

func (r *Refusal) Error() string { return r.Message }

// Is reports whether target is the declared refusal r was made from.
func (r *Refusal) Is(target error) bool {
	t, ok := target.(*Refusal)
	return ok && r.kind == t
}

// With returns a refusal of r's kind whose text is format with args.
func (r *Refusal) With(format string, args ...any) *Refusal {
	c := *r
	c.kind = r.declared()
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// At returns a refusal of r's kind that blames field.
func (r *Refusal) At(field string) *Refusal {
	c := *r
	c.kind = r.declared()
	c.Field = field
	return &c
}

func (r *Refusal) declared() *Refusal {
	if r.kind != nil {
		return r.kind
	}
	return r
}

// SMTPError is the refusal as an SMTP reply.
func (r *Refusal) SMTPError() *smtp.SMTPError {
	return &smtp.SMTPError{Code: r.SMTP, EnhancedCode: smtp.EnhancedCode(r.Status), Message: r.Message}
}

// Refusals of a message, over SMTP, the API and the milter alike.
var (
	// ErrInvalidMessage: the message cannot be parsed or rewritten.
	ErrInvalidMessage = &Refusal{Code: "invalid_message", SMTP: 550, Status: [3]int{5, 6, 0}, BadRequest: true,
		Message: "the message is not a valid RFC 5322 message"}
	// ErrInvalidMessageID: the message_id parameter is unusable.
	ErrInvalidMessageID = &Refusal{Code: "invalid_query", Field: "message_id", SMTP: 550, Status: [3]int{5, 5, 4}, BadRequest: true,
		Message: "message_id must be valid UTF-8, one line, at most 128 bytes"}
	// ErrInvalidHeader: a control header has a value it cannot have.
	ErrInvalidHeader = &Refusal{Code: "invalid_header", SMTP: 550, Status: [3]int{5, 6, 0},
		Message: "a control header has an invalid value"}
	// ErrFromInvalid, ErrFromMissing, ErrFromMultiple: a message to sign
	// needs exactly one From address.
	ErrFromInvalid = &Refusal{Code: "from_invalid", Field: "From", SMTP: 550, Status: [3]int{5, 6, 0},
		Message: "the From header is not a valid address; the message needs exactly one From address"}
	ErrFromMissing = &Refusal{Code: "from_missing", Field: "From", SMTP: 550, Status: [3]int{5, 6, 0},
		Message: "the message has no From header; the message needs exactly one From address"}
	ErrFromMultiple = &Refusal{Code: "from_multiple", Field: "From", SMTP: 550, Status: [3]int{5, 6, 0},
		Message: "the message has several From addresses; the message needs exactly one From address"}
	// ErrFromNotVerified: the From domain is not an active sending domain
	// of the cluster.
	ErrFromNotVerified = &Refusal{Code: "from_domain_not_verified", Field: "From", SMTP: 550, Status: [3]int{5, 7, 1},
		Message: "the From domain is not a verified sending domain of this cluster"}
	// ErrSenderInvalid: unsigned mail's envelope sender cannot be used.
	ErrSenderInvalid = &Refusal{Code: "sender_invalid", SMTP: 550, Status: [3]int{5, 1, 7},
		Message: "the envelope sender cannot be used"}
	// ErrLinkListed: a link leads to a domain on a URI blocklist, and the
	// operator refuses such mail (--uribl-action refuse).
	ErrLinkListed = &Refusal{Code: "link_listed", SMTP: 550, Status: [3]int{5, 7, 1},
		Message: "a link of the message leads to a domain on a blocklist"}
	// ErrTrackingDomainNotActive: X-Waymark-Tracking-Domain names no active
	// tracking domain of the cluster.
	ErrTrackingDomainNotActive = &Refusal{Code: "tracking_domain_not_active", Field: TrackingDomainHeader, SMTP: 550, Status: [3]int{5, 7, 1},
		Message: "the tracking domain is not an active tracking domain of this cluster"}
	// ErrDeliveryServerUnknown: X-Waymark-Delivery-Server names no delivery
	// server of the cluster.
	ErrDeliveryServerUnknown = &Refusal{Code: "delivery_server_unknown", Field: DeliveryServerHeader, SMTP: 550, Status: [3]int{5, 7, 1},
		Message: "the delivery server is not one of this cluster's"}
	// ErrRecipientInvalid: a recipient is not a plain address.
	ErrRecipientInvalid = &Refusal{Code: "recipient_invalid", Field: "recipient", SMTP: 550, Status: [3]int{5, 1, 3},
		Message: "a recipient is not a plain email address (name@example.com)"}
	// ErrTooManyRecipients: more than MaxRecipients.
	ErrTooManyRecipients = &Refusal{Code: "too_many_recipients", Field: "recipient", SMTP: 452, Status: [3]int{4, 5, 3},
		Message: fmt.Sprintf("at most %d recipients a message: send the rest in another", MaxRecipients)}
	// ErrTooLarge: the recipients' copies together are too large.
	ErrTooLarge = &Refusal{Code: "too_many_recipients", Field: "recipient", SMTP: 552, Status: [3]int{5, 3, 4},
		Message: "the copies of this message for its recipients are too large together: send it to fewer recipients at once"}
	// ErrNoDeliveryServer: the cluster has no delivery server and there is
	// no --delivery default.
	ErrNoDeliveryServer = &Refusal{Code: "no_delivery_server", SMTP: 451, Status: [3]int{4, 3, 5},
		Message: "no delivery server: add one (POST /v1/delivery-servers) or start waymark with --delivery"}
	// ErrForwardUnavailable: the message is no longer kept for forwards.
	ErrForwardUnavailable = &Refusal{Code: "forward_unavailable", SMTP: 550, Status: [3]int{5, 7, 1},
		Message: "this message can no longer be forwarded"}
	// ErrForwardLimit: the recipient has forwarded it MaxForwards times.
	ErrForwardLimit = &Refusal{Code: "forward_limit", SMTP: 450, Status: [3]int{4, 7, 1},
		Message: fmt.Sprintf("this message has been forwarded %d times from this address already", MaxForwards)}
)

// Refusals of the SMTP submission session.
var (
	// ErrAuthMechanism: only AUTH PLAIN is offered.
	ErrAuthMechanism = &Refusal{Code: "auth_mechanism", SMTP: 504, Status: [3]int{5, 5, 4},
		Message: "use AUTH PLAIN with your cluster id and an API key"}
	// ErrAuthUnavailable: the key could not be checked just now.
	ErrAuthUnavailable = &Refusal{Code: "auth_unavailable", SMTP: 454, Status: [3]int{4, 7, 0},
		Message: "authentication is unavailable for a moment, try again"}
	// ErrAuthFailed: the cluster id and key do not match.
	ErrAuthFailed = &Refusal{Code: "auth_failed", SMTP: 535, Status: [3]int{5, 7, 8},
		Message: "authentication failed: give your cluster id as the user name and one of its API keys as the password"}
	// ErrAuthThrottled: too many failed AUTHs from the client or for the
	// cluster id.
	ErrAuthThrottled = &Refusal{Code: "auth_throttled", SMTP: 454, Status: [3]int{4, 7, 0},
		Message: "too many failed authentications: try again later"}
	// ErrClientThrottled: a client that kept failing AUTH, at connect.
	ErrClientThrottled = &Refusal{Code: "client_throttled", SMTP: 421, Status: [3]int{4, 7, 0},
		Message: "too many failed authentications from this address: try again later"}
	// ErrAuthRequired: MAIL before AUTH.
	ErrAuthRequired = &Refusal{Code: "auth_required", SMTP: 530, Status: [3]int{5, 7, 0},
		Message: "authentication required: AUTH PLAIN with your cluster id and an API key (after STARTTLS)"}
	// ErrKeyRevoked: the key the session authenticated with was revoked
	// (or its cluster deleted) since.
	ErrKeyRevoked = &Refusal{Code: "key_revoked", SMTP: 530, Status: [3]int{5, 7, 0},
		Message: "the API key this session authenticated with was revoked: connect again and authenticate with a live key"}
	// ErrRateLimited: the cluster is over --smtp-rate.
	ErrRateLimited = &Refusal{Code: "rate_limited", SMTP: 450, Status: [3]int{4, 7, 1},
		Message: "this cluster is over its message rate: try again shortly"}
	// ErrBadAddress: RCPT TO is not an address.
	ErrBadAddress = &Refusal{Code: "recipient_invalid", SMTP: 553, Status: [3]int{5, 1, 3},
		Message: "not an email address"}
	// ErrSuppressionCheck: the suppression list could not be read.
	ErrSuppressionCheck = &Refusal{Code: "suppression_unavailable", SMTP: 451, Status: [3]int{4, 3, 0},
		Message: "could not check the suppression list, try again"}
	// ErrSuppressed: the recipient is on the cluster's suppression list.
	ErrSuppressed = &Refusal{Code: "recipient_suppressed", SMTP: 550, Status: [3]int{5, 7, 1},
		Message: "the recipient is on this cluster's suppression list (unsubscribed, bounced or complained); not sent"}
	// ErrReadFailed: the message could not be read.
	ErrReadFailed = &Refusal{Code: "read_failed", SMTP: 451, Status: [3]int{4, 3, 0},
		Message: "could not read the message"}
	// ErrBareLineBreak: a CR or LF outside a CRLF, the gap SMTP smuggling
	// goes through (refused as Postfix's smtpd_forbid_bare_newline does).
	ErrBareLineBreak = &Refusal{Code: "bare_line_break", SMTP: 550, Status: [3]int{5, 6, 0},
		Message: "the message has a CR or LF that is not part of a CRLF line break: end every line with CRLF"}
	// ErrLineTooLong: a line of the message is longer than the SMTP server
	// reads (RFC 5321 section 4.5.3.1.6 allows 998 octets and CRLF).
	ErrLineTooLong = &Refusal{Code: "line_too_long", SMTP: 550, Status: [3]int{5, 6, 0},
		Message: "a line of the message is too long: lines may have at most 998 characters (RFC 5321); encode long lines, e.g. as quoted-printable"}
	// ErrNUL: a NUL octet, which no message may hold (RFC 5322 section 3.5
	// for bodies, RFC 5321 section 4.1.1.4 for DATA).
	ErrNUL = &Refusal{Code: "nul_octet", SMTP: 550, Status: [3]int{5, 6, 0},
		Message: "the message has a NUL character, which mail cannot carry: encode binary content (base64)"}
	// ErrQueueFailed: the message could not be queued.
	ErrQueueFailed = &Refusal{Code: "queue_failed", SMTP: 451, Status: [3]int{4, 3, 0},
		Message: "the message could not be queued: try again"}
)

// Reply is the refusal as one SMTP reply line, "550 5.7.1 text".
func (r *Refusal) Reply() string {
	return fmt.Sprintf("%d %d.%d.%d %s", r.SMTP, r.Status[0], r.Status[1], r.Status[2], r.Message)
}
