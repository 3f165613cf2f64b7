package track

import (
	"fmt"
	"strings"
)

// HostChoice is everything that decides a message's tracking host. Names
// are normalised hostnames; an empty one is absent.
type HostChoice struct {
	// Header is the X-Waymark-Tracking-Domain header of the message.
	Header string
	// ClickHost is the click host of the sending domain of the From address.
	ClickHost string
	// DeliveryServer is the tracking domain of the delivery server in use.
	DeliveryServer string
	// Default is the cluster's default tracking domain.
	Default string
	// Platform is the platform domain; t.<platform> is the last resort.
	Platform string
	// Active reports whether a name is an active tracking domain of the
	// message's cluster.
	Active func(name string) bool
}

// HeaderError is a tracking-domain header naming a host the cluster cannot
// use: the sender asked for it explicitly, so it is refused, not ignored.
type HeaderError struct{ Name string }

func (e *HeaderError) Error() string {
	return fmt.Sprintf("X-Waymark-Tracking-Domain names %s, which is not an active tracking domain of this cluster; "+
		"verify it first or remove the header", e.Name)
}

// Host picks the tracking host in docs/CONCEPTS.md#tracking-host-order: the header (which must
// be active), the sending domain's click host, the delivery server's
// tracking domain, the cluster default, and t.<platform>. The click host and
// the delivery server's domain count only while active.
func Host(c HostChoice) (string, error) {
	norm := func(s string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".") }
	if h := norm(c.Header); h != "" {
		if !c.Active(h) {
			return "", &HeaderError{Name: h}
		}
		return h, nil
	}
	for _, h := range []string{norm(c.ClickHost), norm(c.DeliveryServer), norm(c.Default)} {
		if h != "" && c.Active(h) {
			return h, nil
		}
	}
	return "t." + norm(c.Platform), nil
}
