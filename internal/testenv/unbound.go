package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Unbound is a real recursive resolver on loopback, as the customers' view
// of DNS: their zones are local zones whose records a test sets and removes
// while Unbound runs, and the platform zone is a stub zone sent to
// waymark's own authoritative server. Nothing is cached, so a change is
// seen by the next query.
type Unbound struct {
	// Addr is the resolver's 127.0.0.1:port.
	Addr string
	conf string
	ctl  string
	t    testing.TB
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
	bin, err := exec.LookPath("unbound")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/unbound"); err != nil {
			Missing(t, "Unbound (apt unbound)", err)
		}
	}
	ctl, err := exec.LookPath("unbound-control")
	if err != nil {
		if ctl, err = exec.LookPath("/usr/sbin/unbound-control"); err != nil {
			Missing(t, "unbound-control (apt unbound)", err)
		}
	}
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
	for _, z := range zones {
		fmt.Fprintf(&b, "\tlocal-zone: %q static\n", dns.Fqdn(z))
	}
	for _, r := range records {
		fmt.Fprintf(&b, "\tlocal-data: %q\n", r)
	}
	fmt.Fprintf(&b, `stub-zone:
	name: "%s"
	stub-addr: %s@%s
remote-control:
	control-enable: yes
	control-interface: "%s/control.sock"
	control-use-cert: no
`, dns.Fqdn(platform), host, stubPort, dir)
	conf := filepath.Join(dir, "unbound.conf")
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
	u := &Unbound{Addr: fmt.Sprintf("127.0.0.1:%d", port), conf: conf, ctl: ctl, t: t}
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

// Set publishes records, each in zone-file form ("a.example.com. 300 IN
// CNAME b.example.com."), in the customers' DNS.
func (u *Unbound) Set(records ...string) {
	u.t.Helper()
	for _, r := range records {
		u.control("local_data", r)
	}
}

// Remove deletes every record of name from the customers' DNS.
func (u *Unbound) Remove(name string) {
	u.t.Helper()
	u.control("local_data_remove", dns.Fqdn(name))
}
