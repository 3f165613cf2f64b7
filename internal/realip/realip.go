package realip

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// Proxies are the networks whose requests are trusted to name their client.
// The zero value trusts none.
type Proxies []netip.Prefix

// Parse reads --trusted-proxy values: addresses or CIDR prefixes, each
// value possibly a comma-separated list.
func Parse(values []string) (Proxies, error) {
	var p Proxies
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			prefix, err := netip.ParsePrefix(s)
			if err != nil {
				addr, aerr := netip.ParseAddr(s)
				if aerr != nil || addr.Zone() != "" {
					return nil, fmt.Errorf("--trusted-proxy %q is neither an IP address nor a CIDR prefix such as 10.0.0.0/8", s)
				}
				prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
			}
			if prefix.Addr().Is4In6() {
				if prefix.Bits() < 96 {
					return nil, fmt.Errorf("--trusted-proxy %q covers more than the IPv4-mapped addresses: write the IPv4 prefix, such as 10.0.0.0/8", s)
				}
				prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
			}
			p = append(p, prefix.Masked())
		}
	}
	return p, nil
}

func (p Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, prefix := range p {
		if prefix.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client's address of r: the peer, or, when the peer
// is a trusted proxy, the rightmost address of X-Forwarded-For that is not
// one (RFC 7239 §5.2 describes the same chain for Forwarded). An entry
// that is not an address stops the walk at the last trusted hop, which is
// then the answer.
func (p Proxies) Client(r *http.Request) netip.Addr {
	a, _ := p.client(r)
	return a
}

// client is Client, also returning the entry that stopped the walk, if any.
func (p Proxies) client(r *http.Request) (netip.Addr, string) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, ""
	}
	return p.ClientOf(peer.Addr(), func() []string { return r.Header.Values("X-Forwarded-For") })
}

// ClientOf is Client for a peer address and its request's X-Forwarded-For
// values (read only when the peer is trusted), also returning the entry
// that stopped the walk, if any: for servers other than net/http's.
func (p Proxies) ClientOf(peer netip.Addr, forwardedFor func() []string) (netip.Addr, string) {
	client := peer.Unmap()
	if len(p) == 0 || !p.trusted(client) {
		return client, ""
	}
	hops := forwardedFor()
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			a, ok := hop(list[j])
			if !ok {
				return client, list[j]
			}
			client = a
			if !p.trusted(client) {
				return client, ""
			}
		}
	}
	return client, ""
}

// hop reads one X-Forwarded-For entry: an address, which some proxies
// write with a port (1.2.3.4:80, [2001:db8::1]:443) or in brackets
// ([2001:db8::1]).
func hop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		if inner, ok = strings.CutSuffix(inner, "]"); ok {
			if a, err := netip.ParseAddr(inner); err == nil && a.Is6() && a.Zone() == "" {
				return a.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

// Handler sets each request's RemoteAddr to its client (port 0 when it came
// from X-Forwarded-For), so everything after it, throttles and event
// records alike, sees the client and not the proxy. The first entry it
// cannot read is logged, once: such a proxy's clients all count as it.
func (p Proxies) Handler(log *slog.Logger, next http.Handler) http.Handler {
	if len(p) == 0 {
		return next
	}
	var warned atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		c, bad := p.client(r)
		if bad != "" && log != nil && !warned.Swap(true) {
			log.Warn("trusted proxy's X-Forwarded-For has an entry that is not an address: its requests count as the proxy's own (logged once)",
				"proxy", r.RemoteAddr, "entry", bad)
		}
		if err == nil && c.IsValid() && c != peer.Addr().Unmap() {
			r2 := *r
			r2.RemoteAddr = net.JoinHostPort(c.String(), "0")
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}
