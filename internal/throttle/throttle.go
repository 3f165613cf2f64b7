// Package throttle slows down guessing: it counts failed authentications
// per key (a client address, a cluster id) and, past a limit within a
// window, refuses that key until the window ends. The SMTP submission
// service, the API and the dashboard's sign-in share one rule.
package throttle

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Failures counts failures per key. The zero value is not usable: use New.
type Failures struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	n     int
	since time.Time
}

// maxKeys bounds the table; past it, entries whose window ended go.
const maxKeys = 100_000

// New counts up to limit failures of a key within window; nil now is
// time.Now.
func New(limit int, window time.Duration, now func() time.Time) *Failures {
	if now == nil {
		now = time.Now
	}
	return &Failures{limit: limit, window: window, now: now, m: map[string]*entry{}}
}

// Default is five failures in five minutes.
func Default() *Failures { return New(5, 5*time.Minute, nil) }

// Blocked reports whether key has failed limit times in its window, and
// how long until it may try again.
func (f *Failures) Blocked(key string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.m[key]
	if e == nil {
		return 0, false
	}
	left := e.since.Add(f.window).Sub(f.now())
	if left <= 0 {
		delete(f.m, key)
		return 0, false
	}
	return left, e.n >= f.limit
}

// Fail counts a failure of key.
func (f *Failures) Fail(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if len(f.m) >= maxKeys {
		for k, e := range f.m {
			if now.Sub(e.since) >= f.window {
				delete(f.m, k)
			}
		}
	}
	e := f.m[key]
	if e == nil || now.Sub(e.since) >= f.window {
		e = &entry{since: now}
		f.m[key] = e
	}
	e.n++
}

// Host is the key of a client at host:port: its address, or for IPv6 its
// /64, which one subscriber usually holds whole (else every address of it
// would get its own tries).
func Host(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.Unmap().Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return h
}
