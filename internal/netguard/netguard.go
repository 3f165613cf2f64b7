package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// special are the IANA special-purpose ranges that are not the public
// Internet (RFC 6890 and its registries), beyond what net/netip names.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16", "fec0::/10", "::/96",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Public reports whether ip is an address on the public Internet.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// ErrPrivate is a connection to an address that is not public.
var ErrPrivate = errors.New("address is not public")

// PrivateError is the refusal of one address; errors.Is(err, ErrPrivate).
type PrivateError struct{ Addr netip.Addr }

func (e *PrivateError) Error() string { return fmt.Sprintf("%v: %s", ErrPrivate, e.Addr) }

// Is makes a PrivateError an ErrPrivate.
func (e *PrivateError) Is(target error) bool { return target == ErrPrivate }

// Control is a net.Dialer Control function that refuses every address
// that is not Public with a *PrivateError.
func Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	if ip := ap.Addr(); !Public(ip) {
		return &PrivateError{Addr: ip}
	}
	return nil
}
