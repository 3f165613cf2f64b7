package dnsserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/waymark-mail/waymark/internal/testenv"
)

// benchTargets is the zone size of the benchmarks in docs/BENCHMARKS.md: 100k.
const benchTargets = 100_000

var benchConfig = Config{
	Platform: "waymark.localhost",
	EdgeIPs:  []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
}

func benchNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("v-%016x.track.waymark.localhost", uint64(i)*0x9e3779b97f4a7c15)
	}
	return names
}

// BenchmarkZoneMemory reports the heap a snapshot of 100k targets holds.
func BenchmarkZoneMemory(b *testing.B) {
	names := benchNames(benchTargets)
	var z *Zone
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		z = Build(benchConfig, 1, names, nil)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB/100k-targets")
	}
	runtime.KeepAlive(z)
}

// BenchmarkReply is the in-process cost of answering one query.
func BenchmarkReply(b *testing.B) {
	names := benchNames(benchTargets)
	s := NewServer(Build(benchConfig, 1, names, nil), quiet, nil)
	msgs := make([]*dns.Msg, 1024)
	for i := range msgs {
		m := new(dns.Msg)
		m.SetQuestion(names[rand.IntN(len(names))]+".", dns.TypeA)
		msgs[i] = m
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if r := s.Reply(msgs[i%len(msgs)], true); len(r.Answer) != 1 {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkReplyNegative is the in-process cost of a negative answer
// (RFC 2308): NXDOMAIN for a name not in the zone, NODATA for a target
// asked for a type it has not.
func BenchmarkReplyNegative(b *testing.B) {
	names := benchNames(benchTargets)
	s := NewServer(Build(benchConfig, 1, names, nil), quiet, nil)
	for _, bc := range []struct {
		name  string
		qname func(i int) string
		qtype uint16
		rcode int
	}{
		{"nxdomain", func(i int) string { return fmt.Sprintf("v-%016x.track.waymark.localhost.", rand.Uint64()) }, dns.TypeA, dns.RcodeNameError},
		{"nodata", func(i int) string { return names[rand.IntN(len(names))] + "." }, dns.TypeTXT, dns.RcodeSuccess},
	} {
		b.Run(bc.name, func(b *testing.B) {
			msgs := make([]*dns.Msg, 1024)
			for i := range msgs {
				m := new(dns.Msg)
				m.SetQuestion(bc.qname(i), bc.qtype)
				msgs[i] = m
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if r := s.Reply(msgs[i%len(msgs)], true); r.Rcode != bc.rcode || len(r.Ns) != 1 {
					b.Fatalf("rcode %d, %d authority records", r.Rcode, len(r.Ns))
				}
			}
		})
	}
}

// queryFile writes a dnsperf input: A queries for random targets, with one
// in ten for a name that does not exist.
func queryFile(b *testing.B, names []string) string {
	var sb strings.Builder
	for range 200_000 {
		if rand.IntN(10) == 0 {
			fmt.Fprintf(&sb, "v-%016x.track.waymark.localhost A\n", rand.Uint64())
			continue
		}
		fmt.Fprintf(&sb, "%s A\n", names[rand.IntN(len(names))])
	}
	path := filepath.Join(b.TempDir(), "queries.txt")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// dnsperf runs dnsperf for a few seconds against addr and returns qps.
func dnsperf(b *testing.B, addr, queries string) float64 {
	bin, err := exec.LookPath("dnsperf")
	if err != nil {
		testenv.Missing(b, "dnsperf (apt dnsperf)", err)
	}
	host, port, _ := strings.Cut(addr, ":")
	secs := os.Getenv("WAYMARK_DNSPERF_SECONDS")
	if secs == "" {
		secs = "8"
	}
	out, err := exec.Command(bin, "-s", host, "-p", port, "-d", queries, "-l", secs, "-c", "8", "-T", "1", "-q", "200").CombinedOutput()
	if err != nil {
		b.Fatalf("dnsperf: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Queries per second:\s+([0-9.]+)`).FindSubmatch(out)
	lost := regexp.MustCompile(`Queries lost:\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("dnsperf printed no rate:\n%s", out)
	}
	if lost != nil && string(lost[1]) != "0" {
		b.Logf("dnsperf against %s lost %s queries", addr, lost[1])
	}
	qps, _ := strconv.ParseFloat(string(m[1]), 64)
	return qps
}

// BenchmarkDNSPerf serves the same 100k-target zone from waymark and from
// Knot DNS, one after the other, and measures each with dnsperf. The
// metrics are queries per second and, for each server, resident memory.
func BenchmarkDNSPerf(b *testing.B) {
	names := benchNames(benchTargets)
	queries := queryFile(b, names)
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := NewServer(Build(benchConfig, 1, names, nil), quiet, nil)
		addr, err := s.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(dnsperf(b, addr.String(), queries), "waymark-qps")
		cancel()

		knotAddr, rss, stop := startKnot(b, names)
		b.ReportMetric(dnsperf(b, knotAddr, queries), "knot-qps")
		b.ReportMetric(float64(rss)/(1<<20), "knot-RSS-MiB")
		stop()
	}
}

// startKnot serves the zone's equivalent from Knot DNS on loopback and
// returns its address, its resident memory once loaded, and a stop func.
func startKnot(b *testing.B, names []string) (string, int64, func()) {
	bin, err := exec.LookPath("knotd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/knotd"); err != nil {
			testenv.Missing(b, "Knot DNS (apt knot)", err)
		}
	}
	dir := b.TempDir()
	var zone strings.Builder
	zone.WriteString("$ORIGIN waymark.localhost.\n$TTL 300\n" +
		"@ 3600 IN SOA ns1 hostmaster 1 3600 600 1209600 60\n@ 3600 IN NS ns1\n" +
		"ns1 IN A 192.0.2.10\nns1 IN AAAA 2001:db8::10\nt IN A 192.0.2.10\nt IN AAAA 2001:db8::10\n")
	for _, n := range names {
		fmt.Fprintf(&zone, "%s. IN A 192.0.2.10\n%s. IN AAAA 2001:db8::10\n", n, n)
	}
	if err := os.WriteFile(filepath.Join(dir, "waymark.localhost.zone"), []byte(zone.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	conf := fmt.Sprintf(`server:
    listen: 127.0.0.1@%d
    rundir: "%s"
    user: root:root
    udp-workers: 2
    tcp-workers: 1
    background-workers: 1
database:
    storage: "%s"
control:
    listen: "%s/knot.sock"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "%s"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: waymark.localhost
    file: waymark.localhost.zone
`, port, dir, dir, dir, dir)
	confPath := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confPath)
	logf, _ := os.Create(filepath.Join(dir, "knot.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Loaded when the last target answers.
	m := new(dns.Msg)
	m.SetQuestion(names[len(names)-1]+".", dns.TypeA)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r, err := dns.Exchange(m, addr); err == nil && len(r.Answer) == 1 {
			break
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(filepath.Join(dir, "knot.log"))
			b.Fatalf("knot did not serve the zone in 60s:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, rss(cmd.Process.Pid), stop
}

// rss reads a process's resident set size in bytes from /proc.
func rss(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// BenchmarkRRL is what response rate limiting adds to each UDP answer
// (serve's default, --dns-rate-limit 100): the bucket of a client
// netblock and answer, looked up under the limiter's lock, for 256
// netblocks and 1024 names, on every core at once.
func BenchmarkRRL(b *testing.B) {
	names := benchNames(1024)
	msgs := make([]*dns.Msg, len(names))
	for i, n := range names {
		m := new(dns.Msg)
		m.SetQuestion(n+".", dns.TypeA)
		msgs[i] = m
	}
	l := newRRL(100, 2)
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(1 << 20)
		for pb.Next() {
			i++
			client := netip.AddrFrom4([4]byte{10, 0, byte(i % 256), 1})
			l.check(client, msgs[i%len(msgs)], now)
		}
	})
}
