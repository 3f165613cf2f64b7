package verify

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/testenv"
)

const benchDomains = 10_000

// BenchmarkVerifyThroughUnbound checks 10k customer names through Unbound
// (each a CNAME to its own target on waymark's DNS) with 32 checks in
// flight, and beside it measures Unbound's own rate for the same CNAME
// queries with dnsperf: the peer figure, since one check is one query here.
func BenchmarkVerifyThroughUnbound(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	names, targets, records := make([]string, benchDomains), make([]string, benchDomains), make([]string, benchDomains)
	for i := range names {
		names[i] = fmt.Sprintf("t%d.bench-mail.com", i)
		targets[i] = fmt.Sprintf("v-%016x.track.%s", i, platform)
		records[i] = cname(names[i], targets[i])
	}
	zone := dnsserver.Build(dnsserver.Config{Platform: platform, EdgeIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, 1, targets, nil)
	srv := dnsserver.NewServer(zone, nil, nil)
	addr, err := srv.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	u := testenv.StartUnboundWithData(b, platform, addr.String(), []string{"bench-mail.com"}, records)
	v := &Verifier{Resolver: &DNSResolver{Addr: u.Addr}, Platform: platform}
	for b.Loop() {
		var next, failed atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < benchDomains; i = next.Add(1) - 1 {
					if r := v.Check(ctx, names[i], targets[i]); !r.OK() {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			b.Fatalf("%d of %d checks failed", failed.Load(), benchDomains)
		}
		b.ReportMetric(benchDomains/time.Since(start).Seconds(), "checks/s")
	}
	b.ReportMetric(unboundQPS(b, u.Addr, names), "unbound-qps")
}

// unboundQPS runs dnsperf with CNAME queries for names against Unbound.
func unboundQPS(b *testing.B, addr string, names []string) float64 {
	bin, err := exec.LookPath("dnsperf")
	if err != nil {
		testenv.Missing(b, "dnsperf (apt dnsperf)", err)
	}
	var sb strings.Builder
	for _, n := range names {
		sb.WriteString(n + " CNAME\n")
	}
	file := filepath.Join(b.TempDir(), "q.txt")
	os.WriteFile(file, []byte(sb.String()), 0o644)
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command(bin, "-s", host, "-p", port, "-d", file, "-l", "5", "-c", "8", "-q", "32").CombinedOutput()
	if err != nil {
		b.Fatalf("dnsperf: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Queries per second:\s+([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("dnsperf printed no rate:\n%s", out)
	}
	qps, _ := strconv.ParseFloat(string(m[1]), 64)
	return qps
}
