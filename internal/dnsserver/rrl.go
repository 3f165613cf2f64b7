package dnsserver

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"
)

// rrl is response rate limiting, as Knot's and BIND's: identical answers
// (same name, type and rcode; all NXDOMAINs count as one) to one client netblock (/24 for IPv4, /56
// for IPv6) are limited to a rate, so the server cannot be used to flood a
// spoofed source with answers, while other clients, and other answers to
// the same client, are unaffected. Of the answers over the rate, every
// slip-th goes out truncated (TC=1, no records), so a real client behind
// the netblock can retry over TCP, which is never limited; the others are
// dropped. Written here because miekg/dns has no RRL of its own.
type rrl struct {
	rate  rate.Limit
	burst int
	slip  int

	mu      sync.Mutex
	buckets map[rrlKey]*rrlBucket
	swept   time.Time
}

type rrlKey struct {
	prefix netip.Prefix
	name   string
	qtype  uint16
	rcode  int
}

type rrlBucket struct {
	lim     *rate.Limiter
	limited int
	seen    time.Time
}

// rrlMaxBuckets bounds the table; a flood of distinct keys sweeps it.
const rrlMaxBuckets = 100_000

func newRRL(perSecond float64, slip int) *rrl {
	if perSecond <= 0 {
		return nil
	}
	return &rrl{rate: rate.Limit(perSecond), burst: max(1, int(perSecond)), slip: slip, buckets: map[rrlKey]*rrlBucket{}}
}

// Verdict of the limiter for one answer.
const (
	rrlAnswer = iota
	rrlSlip   // send it truncated
	rrlDrop
)

// check decides what becomes of answer m to client at now.
func (l *rrl) check(client netip.Addr, m *dns.Msg, now time.Time) int {
	if l == nil || len(m.Question) == 0 {
		return rrlAnswer
	}
	bits := 24
	if client = client.Unmap(); client.Is6() {
		bits = 56
	}
	prefix, err := client.Prefix(bits)
	if err != nil {
		return rrlAnswer
	}
	k := rrlKey{prefix: prefix, name: strings.ToLower(m.Question[0].Name), qtype: m.Question[0].Qtype, rcode: m.Rcode}
	if m.Rcode == dns.RcodeNameError {
		// Every NXDOMAIN is one answer (BIND's rule): random names must
		// not each get a rate of their own.
		k.name, k.qtype = "", 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) >= rrlMaxBuckets || now.Sub(l.swept) > time.Minute {
		for key, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Second {
				delete(l.buckets, key)
			}
		}
		l.swept = now
		if len(l.buckets) >= rrlMaxBuckets {
			clear(l.buckets)
		}
	}
	b := l.buckets[k]
	if b == nil {
		b = &rrlBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[k] = b
	}
	b.seen = now
	if b.lim.AllowN(now, 1) {
		return rrlAnswer
	}
	b.limited++
	if l.slip > 0 && b.limited%l.slip == 0 {
		return rrlSlip
	}
	return rrlDrop
}
