package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// maxUDPSize is the largest UDP answer sent, whatever the client offers:
// the DNS flag day 2020 value that avoids IP fragmentation.
const maxUDPSize = 1232

// Server answers DNS queries from the current zone snapshot.
type Server struct {
	zone    atomic.Pointer[Zone]
	log     *slog.Logger
	queries *prometheus.CounterVec
	limiter *rrl
}

// RateLimit limits identical UDP answers to one client netblock to
// perSecond (0: no limit); of those over it, every slip-th is sent
// truncated so a real client retries over TCP. Set it before Listen.
func (s *Server) RateLimit(perSecond float64, slip int) { s.limiter = newRRL(perSecond, slip) }

// NewServer returns a server answering from z. Metrics go to reg when it
// is not nil.
func NewServer(z *Zone, log *slog.Logger, reg prometheus.Registerer) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log, queries: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waymark_dns_queries_total",
		Help: "DNS queries answered, by response code; rate_limited counts answers limited (dropped or sent truncated).",
	}, []string{"rcode"})}
	if reg != nil {
		reg.MustRegister(s.queries)
	}
	s.zone.Store(z)
	return s
}

// SetZone swaps in a new snapshot; queries in flight finish on the old one.
func (s *Server) SetZone(z *Zone) { s.zone.Store(z) }

// Zone returns the snapshot being served.
func (s *Server) Zone() *Zone { return s.zone.Load() }

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	udp := false
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		udp = true
	}
	m := s.Reply(req, udp)
	if m == nil {
		return
	}
	if udp && s.limiter != nil {
		client := w.RemoteAddr().(*net.UDPAddr).AddrPort().Addr()
		switch s.limiter.check(client, m, time.Now()) {
		case rrlDrop:
			s.queries.WithLabelValues("rate_limited").Inc()
			return
		case rrlSlip:
			m.Answer, m.Ns, m.Truncated = nil, nil, true
			s.queries.WithLabelValues("rate_limited").Inc()
		}
	}
	s.queries.WithLabelValues(dns.RcodeToString[m.Rcode]).Inc()
	if err := w.WriteMsg(m); err != nil {
		s.log.Debug("dns write", "err", err)
	}
}

// Reply builds the answer to req; udp limits its size to what the client
// can take over UDP, setting TC when records had to be left out. It returns
// nil for messages that get no answer (responses). The authority record of
// a negative answer is the zone's own, shared by every reply: a caller may
// pack the message but must not change its records.
func (s *Server) Reply(req *dns.Msg, udp bool) *dns.Msg {
	if req.Response {
		return nil
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	m.Compress = true
	size := dns.MinMsgSize // 512 without EDNS(0), RFC 1035 section 4.2.1
	if opt := req.IsEdns0(); opt != nil {
		if opt.Version() != 0 { // RFC 6891 section 6.1.3
			m.SetEdns0(maxUDPSize, false)
			m.Rcode = dns.RcodeBadVers
			return m
		}
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(maxUDPSize, false)
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return m
	case len(req.Question) != 1, optCount(req) > 1: // RFC 6891 section 6.1.1: one OPT at most
		m.Rcode = dns.RcodeFormatError
		return m
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		return m
	}
	switch q.Qtype {
	case dns.TypeAXFR, dns.TypeIXFR:
		m.Rcode = dns.RcodeRefused // zone transfers are not offered
		return m
	}
	z := s.zone.Load()
	res, rrs := z.Lookup(q.Name, q.Qtype)
	switch res {
	case Refused:
		m.Rcode = dns.RcodeRefused
		return m
	case Answer:
		m.Answer = rrs
		if q.Qtype == dns.TypeANY {
			m.Answer = oneRRset(rrs)
		}
	case NoData, NXDomain:
		if res == NXDomain {
			m.Rcode = dns.RcodeNameError
		}
		// RFC 2308 section 3: the SOA goes in the authority section, with
		// the TTL the negative answer may be cached for. The record is the
		// snapshot's, not a copy: Truncate and Pack only read it.
		m.Ns = z.negative[:1:1]
	}
	m.Authoritative = true
	if udp {
		m.Truncate(min(size, maxUDPSize))
	}
	return m
}

// Listen starts UDP and TCP listeners on addr and serves until ctx ends.
// It returns the bound address (useful with port 0). UDP is read by one
// socket per CPU on the same port (SO_REUSEPORT), so the kernel spreads
// queries over the cores instead of one reader feeding them all.
func (s *Server) Listen(ctx context.Context, addr string) (net.Addr, error) {
	lc := net.ListenConfig{Control: reusePort}
	// With port 0 the kernel picks a UDP port whose TCP twin may be taken:
	// pick again until both are ours.
	var first net.PacketConn
	var l net.Listener
	var err error
	for attempt := 0; ; attempt++ {
		first, err = lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, fmt.Errorf("dns udp %s: %w", addr, err)
		}
		if l, err = net.Listen("tcp", first.LocalAddr().String()); err == nil {
			break
		}
		first.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" || attempt == 20 {
			return nil, fmt.Errorf("dns tcp %s: %w", addr, err)
		}
	}
	bound := first.LocalAddr().String()
	conns := []net.PacketConn{first}
	for range runtime.GOMAXPROCS(0) - 1 {
		pc, err := lc.ListenPacket(ctx, "udp", bound)
		if err != nil {
			break // one socket still serves; more are an optimisation
		}
		conns = append(conns, pc)
	}
	var servers []*dns.Server
	for _, pc := range conns {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: s, UDPSize: maxUDPSize})
	}
	servers = append(servers, &dns.Server{Listener: l, Handler: s, ReadTimeout: 5 * time.Second,
		IdleTimeout: func() time.Duration { return 10 * time.Second }})
	for _, srv := range servers {
		go func() {
			if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("dns server stopped", "err", err)
			}
		}()
	}
	go func() {
		<-ctx.Done()
		for _, srv := range servers {
			_ = srv.Shutdown()
		}
	}()
	return first.LocalAddr(), nil
}

// reusePort sets SO_REUSEPORT so several sockets share one UDP port.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Reload rebuilds the snapshot from the store's verification targets at
// the given serial (store.Watch calls it when the serial moves).
func (s *Server) Reload(ctx context.Context, src Source, c Config, serial int64) error {
	start := time.Now()
	targets, err := src.VerificationTargets(ctx)
	var extra []Record
	if err == nil {
		extra, err = src.ExtraRecords(ctx)
	}
	if err != nil {
		s.log.Warn("zone reload failed; serving the previous snapshot", "err", err)
		return err
	}
	s.SetZone(Build(c, uint32(serial), targets, extra))
	s.log.Debug("zone rebuilt", "serial", uint32(serial), "targets", len(targets), "took", time.Since(start))
	return nil
}

// Source is where zone data comes from: the store.
type Source interface {
	// VerificationTargets lists every issued verification target.
	VerificationTargets(ctx context.Context) ([]string, error)
	// ExtraRecords are the zone's other records (sending domains' DKIM,
	// SPF, MX, DMARC).
	ExtraRecords(ctx context.Context) ([]Record, error)
}

// optCount counts the OPT records of a message.
func optCount(m *dns.Msg) int {
	n := 0
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
		}
	}
	return n
}

// oneRRset is the minimal answer to an ANY query (RFC 8482 section 4.2):
// one RRset of the name, the one of the lowest type, so the choice is the
// same every time. The records are the snapshot's, shared, not copied.
func oneRRset(rrs []dns.RR) []dns.RR {
	if len(rrs) == 0 {
		return rrs
	}
	low := rrs[0].Header().Rrtype
	for _, rr := range rrs {
		low = min(low, rr.Header().Rrtype)
	}
	out := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype == low {
			out = append(out, rr)
		}
	}
	return out
}
