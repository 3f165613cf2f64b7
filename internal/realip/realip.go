package realip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
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
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	client := peer.Addr().Unmap()
	if len(p) == 0 || !p.trusted(client) {
		return client
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(list[j]))
			if err != nil || a.Zone() != "" {
				return client
			}
			client = a.Unmap()
			if !p.trusted(client) {
				return client
			}
		}
	}
	return client
}

// Handler sets each request's RemoteAddr to its client (port 0 when it came
// from X-Forwarded-For), so everything after it, throttles and event
// records alike, sees the client and not the proxy.
func (p Proxies) Handler(next http.Handler) http.Handler {
	if len(p) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if c := p.Client(r); err == nil && c.IsValid() && c != peer.Addr().Unmap() {
			r2 := *r
			r2.RemoteAddr = net.JoinHostPort(c.String(), "0")
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}
