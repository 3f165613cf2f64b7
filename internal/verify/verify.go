package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Code classifies a check's outcome.
type Code string

const (
	// OK: the chain ends at the expected target.
	OK Code = "ok"
	// NoRecord: the customer name has no record at all (NXDOMAIN or NODATA).
	NoRecord Code = "no_record"
	// Elsewhere: the chain ends at a name that is not the expected target.
	Elsewhere Code = "points_elsewhere"
	// OtherTarget: the chain ends at another domain's verification target.
	OtherTarget Code = "other_target"
	// TooLong: more than MaxHops CNAMEs.
	TooLong Code = "chain_too_long"
	// Loop: a CNAME points back into the chain.
	Loop Code = "chain_loop"
	// Proxied: A/AAAA records where the CNAME should be, as a proxying DNS
	// provider (Cloudflare's orange cloud) publishes them.
	Proxied Code = "proxied"
	// Transient: the resolver failed (SERVFAIL, REFUSED, timeout); the check
	// says nothing about the customer's DNS and must not count as failed.
	Transient Code = "transient"
)

// MaxHops is the longest CNAME chain accepted.
const MaxHops = 8

// Result is the outcome of one check.
type Result struct {
	Code Code
	// Diagnosis is a sentence for the customer: what is wrong, what to do.
	Diagnosis string
	// Chain lists the names walked, starting with the customer name.
	Chain []string
}

// OK reports whether the chain ends at the expected target.
func (r Result) OK() bool { return r.Code == OK }

// Transient reports whether the check could not be made.
func (r Result) Transient() bool { return r.Code == Transient }

// Resolver sends one query to a recursive resolver.
type Resolver interface {
	Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
}

// Verifier checks CNAME chains.
type Verifier struct {
	Resolver Resolver
	// Platform is the platform domain; names matching its target pattern
	// are recognised as other domains' targets.
	Platform string
}

// targetPattern matches a verification target label sequence.
var targetPattern = regexp.MustCompile(`^v-[0-9a-f]{16}\.track\.`)

// canonical lower-cases a name and removes its trailing dot.
func canonical(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

func (v *Verifier) isTarget(name string) bool {
	return targetPattern.MatchString(name) && strings.HasSuffix(name, ".track."+canonical(v.Platform))
}

// errNXDomain and errNoData are the definite negative answers of a query.
var (
	errNXDomain = errors.New("NXDOMAIN")
	errNoData   = errors.New("no records of that type")
)

// TransientError is a resolver failure: no definite answer.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// query asks for name/qtype and returns the answer records that belong to
// name, errNXDomain, errNoData, or a *TransientError.
func (v *Verifier) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	r, err := v.Resolver.Exchange(ctx, m)
	if err != nil {
		return nil, &TransientError{err}
	}
	switch r.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, errNXDomain
	default:
		return nil, &TransientError{fmt.Errorf("resolver answered %s for %s %s", dns.RcodeToString[r.Rcode], name, dns.TypeToString[qtype])}
	}
	var out []dns.RR
	for _, rr := range r.Answer {
		if canonical(rr.Header().Name) == name && rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	if len(out) == 0 {
		return nil, errNoData
	}
	return out, nil
}

// Check walks the chain from name and compares where it ends with want.
func (v *Verifier) Check(ctx context.Context, name, want string) Result {
	name, want = canonical(name), canonical(want)
	chain := []string{name}
	seen := map[string]bool{name: true}
	cur := name
	for {
		rrs, err := v.query(ctx, cur, dns.TypeCNAME)
		var te *TransientError
		switch {
		case errors.As(err, &te):
			return Result{Code: Transient, Chain: chain, Diagnosis: fmt.Sprintf(
				"could not check %s: the resolver failed (%v); this is not counted as a failed check, it will be retried", name, te.Err)}
		case errors.Is(err, errNXDomain) && cur == name:
			return Result{Code: NoRecord, Chain: chain, Diagnosis: fmt.Sprintf(
				"%s does not exist in DNS: add a CNAME record %s pointing to %s", name, name, want)}
		case errors.Is(err, errNoData) && cur == name:
			return v.noCNAME(ctx, name, want, chain)
		case errors.Is(err, errNXDomain) || errors.Is(err, errNoData):
			// The chain ends at cur.
			return v.endsAt(cur, want, chain, errors.Is(err, errNXDomain))
		}
		next := canonical(rrs[0].(*dns.CNAME).Target)
		if seen[next] {
			return Result{Code: Loop, Chain: append(chain, next), Diagnosis: fmt.Sprintf(
				"the CNAME chain from %s loops back to %s; point %s directly to %s", name, next, name, want)}
		}
		chain = append(chain, next)
		seen[next] = true
		if len(chain)-1 > MaxHops {
			return Result{Code: TooLong, Chain: chain, Diagnosis: fmt.Sprintf(
				"the CNAME chain from %s is longer than %d hops; point %s directly to %s", name, MaxHops, name, want)}
		}
		if next == want {
			return Result{Code: OK, Chain: chain, Diagnosis: fmt.Sprintf("%s points to %s", name, want)}
		}
		cur = next
	}
}

// noCNAME explains a customer name that exists without a CNAME: proxied
// (A/AAAA in its place) or some other record.
func (v *Verifier) noCNAME(ctx context.Context, name, want string, chain []string) Result {
	var addrs []string
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := v.query(ctx, name, qtype)
		var te *TransientError
		if errors.As(err, &te) {
			return Result{Code: Transient, Chain: chain, Diagnosis: fmt.Sprintf(
				"could not check %s: the resolver failed (%v); this is not counted as a failed check, it will be retried", name, te.Err)}
		}
		for _, rr := range rrs {
			switch a := rr.(type) {
			case *dns.A:
				addrs = append(addrs, a.A.String())
			case *dns.AAAA:
				addrs = append(addrs, a.AAAA.String())
			}
		}
	}
	if len(addrs) > 0 {
		return Result{Code: Proxied, Chain: chain, Diagnosis: fmt.Sprintf(
			"%s has A/AAAA records (%s) instead of a CNAME: this looks like a proxied record (such as Cloudflare's orange cloud); "+
				"set it to DNS only and make it a CNAME to %s", name, strings.Join(addrs, ", "), want)}
	}
	return Result{Code: NoRecord, Chain: chain, Diagnosis: fmt.Sprintf(
		"%s has no CNAME record: add a CNAME record %s pointing to %s", name, name, want)}
}

// endsAt explains a chain that ended at end, which is not want.
func (v *Verifier) endsAt(end, want string, chain []string, nxdomain bool) Result {
	name := chain[0]
	path := strings.Join(chain, " -> ")
	if v.isTarget(end) {
		return Result{Code: OtherTarget, Chain: chain, Diagnosis: fmt.Sprintf(
			"%s points to %s, which is not this domain's verification target (it belongs to another tracking domain or no longer exists); "+
				"change the CNAME to %s", name, end, want)}
	}
	if nxdomain {
		return Result{Code: Elsewhere, Chain: chain, Diagnosis: fmt.Sprintf(
			"%s points to %s, which does not exist (%s); change the CNAME to %s", name, end, path, want)}
	}
	return Result{Code: Elsewhere, Chain: chain, Diagnosis: fmt.Sprintf(
		"CNAME for %s points to %s (%s); expected %s", name, end, path, want)}
}

// DNSResolver queries one recursive resolver over UDP, falling back to TCP
// for truncated answers, and retries timeouts and SERVFAILs once.
type DNSResolver struct {
	// Addr is the resolver's host:port.
	Addr string
	// Timeout bounds one attempt; zero means 3s.
	Timeout time.Duration
	// Attempts is the number of tries per query; zero means 2.
	Attempts int
}

// Exchange implements Resolver.
func (d *DNSResolver) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	timeout, attempts := d.Timeout, d.Attempts
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	if attempts == 0 {
		attempts = 2
	}
	var r *dns.Msg
	var err error
	for i := 0; i < attempts; i++ {
		c := &dns.Client{Net: "udp", Timeout: timeout, UDPSize: 1232}
		r, _, err = c.ExchangeContext(ctx, m, d.Addr)
		if err == nil && r.Truncated {
			c.Net = "tcp"
			r, _, err = c.ExchangeContext(ctx, m, d.Addr)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		retry := (errors.As(err, &ne) && ne.Timeout()) || (err == nil && r.Rcode == dns.RcodeServerFailure)
		if !retry {
			break
		}
	}
	return r, err
}
