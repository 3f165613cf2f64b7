package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Unbound is a real recursive resolver on loopback, as the customers' view
// of DNS: their zones are Unbound auth-zones (served to its own resolver
// as if from their authoritative servers, so CNAMEs into the platform zone
// are chased as on the Internet) whose records a test sets and removes while
// Unbound runs, and the platform zone is a stub zone sent to waymark's own
// authoritative server. Nothing is cached, so a change is seen by the next
// query.
type Unbound struct {
	// Addr is the resolver's 127.0.0.1:port.
	Addr string
	// LibcAddr is where it also answers on port 53 (StartUnboundForLibc).
	LibcAddr string
	conf     string
	ctl      string
	dir      string
	t        testing.TB
	mu       sync.Mutex
	zones    map[string][]string // zone -> records
	// serial moves with every write, so a reload is never skipped.
	serial int
}

// StartUnbound starts Unbound for one test: platform is sent to the
// authoritative server at platformAddr (host:port), and each of zones is a
// customer zone that answers only from local data (NXDOMAIN otherwise).
func StartUnbound(t testing.TB, platform, platformAddr string, zones ...string) *Unbound {
	t.Helper()
	return StartUnboundWithData(t, platform, platformAddr, zones, nil)
}

// StartUnboundWithData is StartUnbound with records (zone-file lines)
// loaded from the start, for data sets too large to add one by one.
func StartUnboundWithData(t testing.TB, platform, platformAddr string, zones, records []string) *Unbound {
	t.Helper()
	return startUnbound(t, platform, platformAddr, zones, records, false)
}

// StartUnboundForLibc is StartUnbound that also answers on port 53 of an
// address of its own in 127.53.0.0/16 (LibcAddr), for programs that only
// use the system resolver (OpenDKIM, dkimverify): Command runs them with
// ResolvConf bind-mounted over /etc/resolv.conf in a mount namespace.
func StartUnboundForLibc(t testing.TB, platform, platformAddr string, zones ...string) *Unbound {
	t.Helper()
	return startUnbound(t, platform, platformAddr, zones, nil, true)
}

// ResolvConf is a resolv.conf naming LibcAddr (StartUnboundForLibc only).
func (u *Unbound) ResolvConf() string { return filepath.Join(u.dir, "resolv.conf") }

// Command is exec.Command for a program that resolves names with the
// system resolver: it runs in a private mount namespace where
// /etc/resolv.conf is ResolvConf (StartUnboundForLibc only; needs root).
func (u *Unbound) Command(name string, args ...string) *exec.Cmd {
	u.t.Helper()
	if u.LibcAddr == "" {
		u.t.Fatal("testenv: Command needs StartUnboundForLibc")
	}
	unshareOnce.Do(func() { unshareErr = exec.Command("unshare", "-m", "true").Run() })
	if unshareErr != nil {
		Missing(u.t, "unshare -m (a mount namespace, as root)", unshareErr)
	}
	return exec.Command("unshare", append([]string{"-m", "sh", "-c", `mount --bind "$1" /etc/resolv.conf && shift && exec "$@"`,
		"sh", u.ResolvConf(), name}, args...)...)
}

var (
	unshareOnce sync.Once
	unshareErr  error
)

// freeLibcAddr picks an address in 127.53.0.0/16 whose port 53 is free, so
// test processes running at once each have their own.
func freeLibcAddr() (string, error) {
	for range 100 {
		addr := fmt.Sprintf("127.53.%d.%d", rand.IntN(256), 1+rand.IntN(254))
		udp, err := net.ListenPacket("udp", addr+":53")
		if err != nil {
			continue
		}
		tcp, err := net.Listen("tcp", addr+":53")
		udp.Close()
		if err != nil {
			continue
		}
		tcp.Close()
		return addr, nil
	}
	return "", fmt.Errorf("testenv: no free port 53 in 127.53.0.0/16")
}

func startUnbound(t testing.TB, platform, platformAddr string, zones, records []string, libc bool) *Unbound {
	t.Helper()
	bin := lookBin(t, "unbound", "Unbound (apt unbound)")
	ctl := lookBin(t, "unbound-control", "unbound-control (apt unbound)")
	dir := t.TempDir()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	host, stubPort, _ := strings.Cut(platformAddr, ":")
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	access-control: 127.0.0.0/8 allow
	username: ""
	chroot: ""
	directory: "%s"
	pidfile: "%s/unbound.pid"
	logfile: "%s/unbound.log"
	use-syslog: no
	verbosity: 1
	do-not-query-localhost: no
	module-config: "iterator"
	cache-max-ttl: 0
	cache-max-negative-ttl: 0
	infra-host-ttl: 1
	prefetch: no
	num-threads: 1
	local-zone: "localhost." nodefault
	domain-insecure: "%s"
`, port, dir, dir, dir, platform)
	var libcAddr string
	if libc {
		if libcAddr, err = freeLibcAddr(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\tinterface: %s@53\n", libcAddr)
		if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver "+libcAddr+"\noptions timeout:2 attempts:1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u := &Unbound{conf: filepath.Join(dir, "unbound.conf"), dir: dir, t: t, zones: map[string][]string{}, LibcAddr: libcAddr}
	for _, z := range zones {
		u.zones[dns.Fqdn(strings.ToLower(z))] = nil
	}
	for _, r := range records {
		u.add(r)
	}
	for z := range u.zones {
		if err := u.writeZone(z); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "auth-zone:\n\tname: %q\n\tzonefile: %q\n\tfor-downstream: no\n\tfor-upstream: yes\n\tfallback-enabled: no\n",
			z, u.zoneFile(z))
	}
	fmt.Fprintf(&b, `stub-zone:
	name: "%s"
	stub-addr: %s@%s
remote-control:
	control-enable: yes
	control-interface: "%s/control.sock"
	control-use-cert: no
`, dns.Fqdn(platform), host, stubPort, dir)
	conf := u.conf
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, _ := os.Create(filepath.Join(dir, "stderr"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	u.Addr, u.ctl = fmt.Sprintf("127.0.0.1:%d", port), ctl
	// Ready when the control socket answers.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if exec.Command(ctl, "-c", conf, "status").Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "unbound.log"))
			stderr, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			t.Fatalf("unbound did not start in 15s:\n%s\n%s", log, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return u
}

func (u *Unbound) control(args ...string) {
	u.t.Helper()
	out, err := exec.Command(u.ctl, append([]string{"-c", u.conf}, args...)...).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok") {
		u.t.Fatalf("unbound-control %v: %v %s", args, err, out)
	}
}

func (u *Unbound) zoneFile(zone string) string {
	return filepath.Join(u.dir, strings.TrimSuffix(zone, ".")+".zone")
}

// zoneOf returns the customer zone a name belongs to.
func (u *Unbound) zoneOf(name string) string {
	name = dns.Fqdn(strings.ToLower(name))
	for z := range u.zones {
		if dns.IsSubDomain(z, name) {
			return z
		}
	}
	return ""
}

// add files a record under its zone; records outside every zone are a
// test's mistake.
func (u *Unbound) add(record string) string {
	rr, err := dns.NewRR(record)
	if err != nil {
		u.t.Fatalf("record %q: %v", record, err)
	}
	z := u.zoneOf(rr.Header().Name)
	if z == "" {
		u.t.Fatalf("record %q is in none of the zones", record)
	}
	u.zones[z] = append(u.zones[z], rr.String())
	return z
}

// writeZone writes a zone's file: SOA, NS and its records.
func (u *Unbound) writeZone(zone string) error {
	var b strings.Builder
	u.serial++
	fmt.Fprintf(&b, "%s 300 IN SOA ns.%s hostmaster.%s %d 3600 600 86400 0\n%s 300 IN NS ns.%s\n", zone, zone, zone, u.serial, zone, zone)
	for _, r := range u.zones[zone] {
		b.WriteString(r + "\n")
	}
	return os.WriteFile(u.zoneFile(zone), []byte(b.String()), 0o644)
}

// reload rewrites a zone and makes Unbound read it again.
func (u *Unbound) reload(zone string) {
	u.t.Helper()
	if err := u.writeZone(zone); err != nil {
		u.t.Fatal(err)
	}
	u.control("auth_zone_reload", zone)
	u.control("flush_zone", zone) // answers already cached from the old data
}

// Flush drops what Unbound has cached under a zone (the platform zone,
// after waymark's DNS changed).
func (u *Unbound) Flush(zone string) {
	u.t.Helper()
	u.control("flush_zone", dns.Fqdn(zone))
}

// Set publishes records, each in zone-file form ("a.example.com. 300 IN
// CNAME b.example.com."), in the customers' DNS.
func (u *Unbound) Set(records ...string) {
	u.t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	changed := map[string]bool{}
	for _, r := range records {
		changed[u.add(r)] = true
	}
	for z := range changed {
		u.reload(z)
	}
}

// Remove deletes every record of name from the customers' DNS.
func (u *Unbound) Remove(name string) {
	u.t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	name = dns.Fqdn(strings.ToLower(name))
	z := u.zoneOf(name)
	var keep []string
	for _, r := range u.zones[z] {
		if rr, err := dns.NewRR(r); err == nil && strings.ToLower(rr.Header().Name) != name {
			keep = append(keep, r)
		}
	}
	u.zones[z] = keep
	u.reload(z)
}
