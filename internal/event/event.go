package event

import "slices"

// Type is the kind of a stored event.
type Type string

const (
	// Open: the open pixel of a message was fetched.
	Open Type = "open"
	// Click: a tracked link was followed.
	Click Type = "click"
	// Unsubscribe: a recipient unsubscribed (one-click POST or the form).
	Unsubscribe Type = "unsubscribe"
	// Forward: a recipient forwarded a message to a friend.
	Forward Type = "forward"
	// View: a recipient opened the message's web version ({{webversion}}).
	View Type = "view"
	// Relayed: a delivery server accepted a copy.
	Relayed Type = "relayed"
	// Bounce: a copy was refused, expired, or reported undeliverable.
	Bounce Type = "bounce"
	// Complaint: a recipient's mailbox provider reported spam (ARF).
	Complaint Type = "complaint"
)

// Types lists every event type, in the order the API documents them.
var Types = []Type{Open, Click, Unsubscribe, Forward, View, Relayed, Bounce, Complaint}

// Valid reports whether t is a known event type.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// Class qualifies an event: who made a tracking request, or how final a
// bounce is.
type Class string

const (
	// Human: nothing says a tracking request was not a person's.
	Human Class = "human"
	// Bot: a link scanner, a honeypot hit, or a click too fast for a person.
	Bot Class = "bot"
	// Proxy: an image proxy fetching the pixel for a mailbox (Apple Mail
	// Privacy Protection, Gmail): an open that says little about the person.
	Proxy Class = "proxy"

	// Hard: the mailbox does not exist; the address is suppressed.
	Hard Class = "hard"
	// Soft: a temporary failure that outlasted the retries, or a report
	// about another address.
	Soft Class = "soft"
	// Failed: refused for good for another reason than the mailbox (policy,
	// content); the address is not suppressed.
	Failed Class = "failed"
)

// Classes lists every class; relayed and complaint events have none ("").
var Classes = []Class{Human, Bot, Proxy, Hard, Soft, Failed}

// Notice names a notification about a domain, as webhooks receive it.
type Notice string

const (
	// TrackingVerified: a pending tracking domain passed and is now active.
	TrackingVerified Notice = "tracking_domain.verified"
	// TrackingCheckFailed: an active tracking domain failed its first check.
	TrackingCheckFailed Notice = "tracking_domain.check_failed"
	// TrackingDeactivated: a second failure in a row made it pending.
	TrackingDeactivated Notice = "tracking_domain.deactivated"
	// TrackingDeleted: the tracking domain was deleted.
	TrackingDeleted Notice = "tracking_domain.deleted"
	// SendingVerified: a sending domain's records verify; it can sign.
	SendingVerified Notice = "sending_domain.verified"
	// SendingCheckFailed: an active sending domain failed its first check.
	SendingCheckFailed Notice = "sending_domain.check_failed"
	// SendingDeactivated: a second failure in a row made it pending.
	SendingDeactivated Notice = "sending_domain.deactivated"
)

// Failure reports whether the notice is about a failed check (a warning
// or a deactivation).
func (n Notice) Failure() bool {
	switch n {
	case TrackingCheckFailed, TrackingDeactivated, SendingCheckFailed, SendingDeactivated:
		return true
	}
	return false
}

// Notices lists every notice.
var Notices = []Notice{TrackingVerified, TrackingCheckFailed, TrackingDeactivated, TrackingDeleted,
	SendingVerified, SendingCheckFailed, SendingDeactivated}

// Names lists every name a webhook can subscribe to: the notices, then the
// event types ("*" subscribes to all of them).
func Names() []string {
	out := make([]string, 0, len(Notices)+len(Types))
	for _, n := range Notices {
		out = append(out, string(n))
	}
	for _, t := range Types {
		out = append(out, string(t))
	}
	return out
}

// Reason says why an address is on a cluster's suppression list.
type Reason string

const (
	// ReasonUnsubscribe: the recipient unsubscribed.
	ReasonUnsubscribe Reason = "unsubscribe"
	// ReasonBounce: the mailbox does not exist (a hard bounce).
	ReasonBounce Reason = "hard_bounce"
	// ReasonComplaint: the recipient reported the mail as spam.
	ReasonComplaint Reason = "complaint"
	// ReasonManual: the cluster added the address itself (API, CLI, a CSV
	// import, the dashboard).
	ReasonManual Reason = "manual"
)

// Reasons lists every suppression reason.
var Reasons = []Reason{ReasonUnsubscribe, ReasonBounce, ReasonComplaint, ReasonManual}
