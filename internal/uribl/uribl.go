package uribl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Resolver sends one query (verify.DNSResolver).
type Resolver interface {
	Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
}

// Listing is a destination found on a list, or one whose host cannot be
// read (Unreadable, with Dest the link as written and Domain "").
type Listing struct {
	// Domain is the registrable domain looked up; List the zone, or
	// "the platform's blocklist"; Reason the decoded code.
	Domain, List, Reason string
	Unreadable           bool
	Dest                 string
}

func (l Listing) String() string {
	if l.Unreadable {
		return fmt.Sprintf("the host of %q cannot be read, so it cannot be checked", l.Dest)
	}
	return l.Domain + " is listed on " + l.List + " (" + l.Reason + ")"
}

// Checker looks destinations up. Its zero value checks nothing.
type Checker struct {
	Zones    []string
	Resolver Resolver
	Log      *slog.Logger

	mu      sync.Mutex
	cache   map[string]entry // domain + "\x00" + zone
	blocked map[string]string
	now     func() time.Time

	lookups *prometheus.CounterVec
}

type entry struct {
	listed bool
	reason string
	until  time.Time
}

// Cache bounds.
const (
	maxCache    = 100_000
	minTTL      = time.Minute
	maxTTL      = 6 * time.Hour
	missTTL     = 5 * time.Minute // NXDOMAIN without a usable SOA
	maxInFlight = 16
	platformBL  = "the platform's blocklist"
)

// New returns a checker of zones through r; metrics go to reg if set.
func New(zones []string, r Resolver, log *slog.Logger, reg prometheus.Registerer) *Checker {
	c := &Checker{Zones: zones, Resolver: r, Log: log, cache: map[string]entry{}, now: time.Now}
	c.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waymark_uribl_lookups_total",
		Help: "Blocklist lookups of link destinations by zone and result (listed, clean, cached_listed, cached_clean, timeout, error).",
	}, []string{"zone", "result"})
	if reg != nil {
		reg.MustRegister(c.lookups)
	}
	return c
}

// SetBlocked replaces the platform's own list: registrable domains, each
// with the reason the admin gave.
func (c *Checker) SetBlocked(m map[string]string) {
	c.mu.Lock()
	c.blocked = m
	c.mu.Unlock()
}

// Enabled reports whether there is anything to check against.
func (c *Checker) Enabled() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.Zones) > 0 || len(c.blocked) > 0
}

// Registrable is the domain a destination URL is looked up by: its
// host's registrable domain (eTLD+1), or the host itself when it has
// none (an IP address, a bare public suffix); "" if no host can be read.
// The host is found as a browser finds it (the WHATWG URL standard), not
// as net/url would, since a browser is what follows the redirect: tabs
// and line breaks are dropped, a backslash ends the authority like a
// slash, the user information before the last @ is not the host,
// percent-escapes are decoded, and the name is mapped to A-labels with
// UTS #46 (fullwidth letters, ideographic full stops, Unicode names).
func Registrable(dest string) string {
	host := Host(dest)
	if host == "" {
		return ""
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return host
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

// Host is a URL's host as a browser reads it (see Registrable), lower
// case, in A-labels, without a trailing dot; "" if there is none.
func Host(dest string) string {
	s := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, strings.TrimSpace(dest))
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) {
		return ""
	}
	rest = strings.TrimLeft(rest, "/\\") // special schemes skip any run of slashes
	if i := strings.IndexAny(rest, "/\\?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") { // an IPv6 literal
		if i := strings.IndexByte(rest, ']'); i > 0 {
			return strings.ToLower(rest[:i+1])
		}
		return ""
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	host, err := url.PathUnescape(rest)
	if err != nil {
		return ""
	}
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil {
		// Not a name a resolver would look up, but a browser may still try
		// its lower case form.
		ascii = strings.ToLower(host)
	}
	return strings.TrimSuffix(ascii, ".")
}

// Check looks every destination up, at once, until ctx ends: the listed
// ones, one listing per registrable domain, in the order of dests. A
// lookup still unanswered when ctx ends lets its destination through and
// is counted as a timeout.
func (c *Checker) Check(ctx context.Context, dests []string) []Listing {
	if !c.Enabled() {
		return nil
	}
	domains := make([]string, 0, len(dests))
	seen := map[string]bool{}
	var unreadable []Listing
	for _, d := range dests {
		r := Registrable(d)
		if r == "" {
			// A link whose host cannot be read is not let through as clean:
			// a browser may read one there.
			unreadable = append(unreadable, Listing{Unreadable: true, Dest: d})
			continue
		}
		if !seen[r] {
			seen[r] = true
			domains = append(domains, r)
		}
	}
	results := make([]*Listing, len(domains))
	var wg sync.WaitGroup
	// At most maxInFlight lookups at once: a message with a thousand links
	// must not be a thousand queries at the same moment.
	sem := make(chan struct{}, maxInFlight)
	for i, d := range domains {
		if l, ok := c.blockedBy(d); ok {
			results[i] = l
			continue
		}
		for _, zone := range c.Zones {
			if l, known := c.cached(d, zone); known { // the usual case: no goroutine, no query
				c.mu.Lock()
				if l != nil && results[i] == nil {
					results[i] = l
				}
				c.mu.Unlock()
				continue
			}
			wg.Go(func() {
				select {
				case sem <- struct{}{}:
					defer func() { <-sem }()
				case <-ctx.Done():
					c.count(zone, "timeout")
					return
				}
				if l := c.lookup(ctx, d, zone); l != nil {
					c.mu.Lock()
					if results[i] == nil {
						results[i] = l
					}
					c.mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	out := unreadable
	for _, l := range results {
		if l != nil {
			out = append(out, *l)
		}
	}
	return out
}

// Cached answers from memory only, for the edge: a listing known now, or
// nil (not listed, or not known yet: then it is looked up in the
// background, for the next click).
func (c *Checker) Cached(dest string) *Listing {
	if !c.Enabled() {
		return nil
	}
	d := Registrable(dest)
	if d == "" {
		return &Listing{Unreadable: true, Dest: dest}
	}
	if l, ok := c.blockedBy(d); ok {
		return l
	}
	now := c.now()
	var unknown []string
	c.mu.Lock()
	for _, zone := range c.Zones {
		e, ok := c.cache[d+"\x00"+zone]
		switch {
		case ok && now.Before(e.until) && e.listed:
			c.mu.Unlock()
			return &Listing{Domain: d, List: zone, Reason: e.reason}
		case !ok || !now.Before(e.until):
			unknown = append(unknown, zone)
		}
	}
	c.mu.Unlock()
	for _, zone := range unknown {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.lookup(ctx, d, zone)
		}()
	}
	return nil
}

func (c *Checker) blockedBy(d string) (*Listing, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if reason, ok := c.blocked[d]; ok {
		return &Listing{Domain: d, List: platformBL, Reason: reason}, true
	}
	return nil, false
}

// cached answers one domain on one zone from the cache, if it knows.
func (c *Checker) cached(d, zone string) (*Listing, bool) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.cache[d+"\x00"+zone]
	c.mu.Unlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	if e.listed {
		c.count(zone, "cached_listed")
		return &Listing{Domain: d, List: zone, Reason: e.reason}, true
	}
	c.count(zone, "cached_clean")
	return nil, true
}

// lookup answers one domain on one zone, from the cache or the resolver.
func (c *Checker) lookup(ctx context.Context, d, zone string) *Listing {
	key := d + "\x00" + zone
	now := c.now()
	c.mu.Lock()
	e, ok := c.cache[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		if e.listed {
			c.count(zone, "cached_listed")
			return &Listing{Domain: d, List: zone, Reason: e.reason}
		}
		c.count(zone, "cached_clean")
		return nil
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(d+"."+zone), dns.TypeA)
	r, err := c.Resolver.Exchange(ctx, m)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
			c.count(zone, "timeout")
		} else {
			c.count(zone, "error")
			c.Log.Warn("uribl: lookup failed; the link goes through", "domain", d, "zone", zone, "err", err)
		}
		return nil
	}
	e = entry{until: now.Add(missTTL)}
	switch r.Rcode {
	case dns.RcodeSuccess:
		for _, rr := range r.Answer {
			a, ok := rr.(*dns.A)
			if !ok {
				continue
			}
			addr, _ := netip.AddrFromSlice(a.A.To4())
			if refusedQuery(zone, addr) {
				c.count(zone, "error")
				c.Log.Warn("uribl: the list refused the query; the link goes through", "zone", zone, "answer", addr, "why", Reason(zone, addr))
				return nil
			}
			e.listed, e.reason = true, Reason(zone, addr)
			e.until = now.Add(min(max(time.Duration(a.Hdr.Ttl)*time.Second, minTTL), maxTTL))
			break
		}
	case dns.RcodeNameError:
		for _, rr := range r.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				e.until = now.Add(min(max(time.Duration(min(soa.Minttl, soa.Hdr.Ttl))*time.Second, minTTL), maxTTL))
			}
		}
	default:
		c.count(zone, "error")
		return nil
	}
	c.mu.Lock()
	if len(c.cache) >= maxCache {
		for k, v := range c.cache {
			if !now.Before(v.until) || len(c.cache) >= maxCache {
				delete(c.cache, k)
			}
			if len(c.cache) < maxCache/2 {
				break
			}
		}
	}
	c.cache[key] = e
	c.mu.Unlock()
	if e.listed {
		c.count(zone, "listed")
		return &Listing{Domain: d, List: zone, Reason: e.reason}
	}
	c.count(zone, "clean")
	return nil
}

func (c *Checker) count(zone, result string) {
	if c.lookups != nil {
		c.lookups.WithLabelValues(zone, result).Inc()
	}
}
