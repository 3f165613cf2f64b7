package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/testenv"
	"github.com/waymark-mail/waymark/internal/webhook"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// cleanEnv is the test process's environment without WAYMARK_* variables,
// so a developer's own settings never reach the servers under test. The
// resolver defaults to a dead loopback port: a test never sends a query
// off this machine, even if a scheduled check comes due.
func cleanEnv(extra []string) []string {
	out := []string{"WAYMARK_RESOLVER=127.0.0.1:9", "WAYMARK_EDGE_HTTP=127.0.0.1:0", "WAYMARK_SMTP=127.0.0.1:0",
		"WAYMARK_BOUNCE_SMTP=127.0.0.1:0", "WAYMARK_DATA=" + scratchData()}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WAYMARK_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// scratchData is a new data directory for a server a test starts without
// one, so nothing is ever written into the source tree and no two nodes
// share one (each has its own journal).
func scratchData() string {
	dir, err := os.MkdirTemp("", "waymark-data-")
	if err != nil {
		panic(err)
	}
	testenv.AtExit(func() { os.RemoveAll(dir) })
	return dir
}

// binary builds the waymark command once for the end-to-end tests, so they
// run it the way an operator does: a real process, real flags, real stdout.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "waymark-bin-")
	if err != nil {
		return "", err
	}
	testenv.AtExit(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "waymark")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return path, nil
})

// server is a running `waymark serve`.
type server struct {
	cmd    *exec.Cmd
	api    string
	dns    string
	edge   string
	banner string
	stderr *syncBuffer
}

// syncBuffer is a buffer the child process writes while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs waymark serve with args and env and waits for its banner.
func startServe(t testing.TB, env []string, args ...string) *server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = cleanEnv(env)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	banner := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(strings.TrimSpace(sc.Text()), "admin key") {
				banner <- b.String()
				io.Copy(io.Discard, stdout)
				return
			}
		}
		banner <- b.String()
	}()
	select {
	case s.banner = <-banner:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve printed no banner in 30s; stderr:\n%s", s.stderr)
	}
	if !strings.Contains(s.banner, "ready in") {
		t.Fatalf("serve did not start:\n%s\nstderr:\n%s", s.banner, s.stderr)
	}
	if m := regexp.MustCompile(`api\s+(http://\S+)/v1/`).FindStringSubmatch(s.banner); m != nil {
		s.api = m[1]
	}
	if m := regexp.MustCompile(`dns\s+(\S+) udp\+tcp`).FindStringSubmatch(s.banner); m != nil {
		s.dns = m[1]
	}
	if m := regexp.MustCompile(`edge\s+(http://\S+)`).FindStringSubmatch(s.banner); m != nil {
		s.edge = m[1]
	}
	return s
}

// waitRcode queries name's A record at a DNS server until the answer has
// the rcode (and, if want is set, that address), for up to five seconds.
func waitRcode(t *testing.T, server, name string, rcode int, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		r, err := dns.Exchange(m, server)
		if err == nil && r.Rcode == rcode && (want == "" || (len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == want)) {
			return
		}
		last = fmt.Sprint(r, err)
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s at %s: want %s %s, last answer:\n%s", name, server, dns.RcodeToString[rcode], want, last)
}

func (s *server) adminKey(t testing.TB) string {
	t.Helper()
	m := regexp.MustCompile(`admin key\s+(wma_[a-z2-7]+)`).FindStringSubmatch(s.banner)
	if m == nil {
		t.Fatalf("banner shows no admin key:\n%s", s.banner)
	}
	return m[1]
}

// waymark runs a client command and returns its stdout, stderr and exit code.
func waymark(t testing.TB, env []string, args ...string) (string, string, int) {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func mustRun(t testing.TB, env []string, args ...string) string {
	t.Helper()
	out, errOut, code := waymark(t, env, args...)
	if code != 0 {
		t.Fatalf("waymark %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// TestNewcomer follows the README: serve, create a cluster, add a tracking
// domain, on the embedded SQLite and on PostgreSQL; then restarts and finds
// everything still there.
func TestNewcomer(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			port, err := testenv.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			// Flags from the environment, as WAYMARK_<NAME>.
			env := []string{fmt.Sprintf("WAYMARK_HTTP=127.0.0.1:%d", port), "WAYMARK_DATA=" + filepath.Join(dir, "data"),
				"WAYMARK_KEY=", "WAYMARK_API=", "WAYMARK_DNS=127.0.0.1:0", "WAYMARK_EDGE_IP=192.0.2.80,2001:db8::80"}
			if backend == "postgres" {
				env = append(env, "WAYMARK_DB="+testenv.Postgres(t))
			}
			srv := startServe(t, env)
			if !strings.Contains(srv.banner, "store      "+backend) {
				t.Fatalf("banner does not name the %s store:\n%s", backend, srv.banner)
			}
			if srv.api != fmt.Sprintf("http://127.0.0.1:%d", port) {
				t.Fatalf("API at %s, want port %d from WAYMARK_HTTP", srv.api, port)
			}
			admin := srv.adminKey(t)
			if backend == "sqlite" {
				if _, err := os.Stat(filepath.Join(dir, "data", "waymark.db")); err != nil {
					t.Fatalf("no SQLite database in --data: %v", err)
				}
			}
			resp, err := http.Get(srv.api + "/healthz")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("healthz: %v %v", resp, err)
			}
			resp.Body.Close()

			cli := []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}
			out := mustRun(t, cli, "cluster", "create", "acme")
			key := regexp.MustCompile(`API KEY\s+(wmk_[a-z2-7]+)`).FindStringSubmatch(out)
			if key == nil {
				t.Fatalf("cluster create printed no key:\n%s", out)
			}
			cli = []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + key[1]}
			out = mustRun(t, cli, "tracking-domain", "add", "Track.Acme-Mail.com", "--default")
			if !regexp.MustCompile(`track\.acme-mail\.com\s+CNAME\s+v-[0-9a-f]{16}\.track\.waymark\.localhost`).MatchString(out) {
				t.Fatalf("add did not print the CNAME record:\n%s", out)
			}
			// Bad names: exit 1 and the API's specific message.
			for name, code := range map[string]string{
				"acme-mail.com":       "name_not_subdomain",
				"co.uk":               "name_public_suffix",
				"10.0.0.1":            "name_ip_address",
				"track.acme.test":     "name_reserved_tld",
				"track.acme-mail.com": "duplicate",
			} {
				_, errOut, exit := waymark(t, cli, "tracking-domain", "add", name)
				if exit != 1 || !strings.Contains(errOut, "["+code+"]") {
					t.Errorf("add %s: exit %d, stderr %q; want 1 and [%s]", name, exit, errOut, code)
				}
			}
			out = mustRun(t, cli, "tracking-domain", "list")
			if !regexp.MustCompile(`(?m)^NAME\s+STATUS\s+DEFAULT.*\ntrack\.acme-mail\.com\s+pending\s+no\s+never\s+none\s+td_[0-9a-f]{16}$`).MatchString(out) {
				t.Fatalf("list:\n%s", out)
			}
			out = mustRun(t, cli, "tracking-domain", "show", "track.acme-mail.com", "--json")
			if !strings.Contains(out, `"status": "pending"`) || !strings.Contains(out, `"default_on_active": true`) {
				t.Fatalf("show --json:\n%s", out)
			}
			if _, errOut, exit := waymark(t, cli, "tracking-domain", "set-default", "track.acme-mail.com"); exit != 1 || !strings.Contains(errOut, "[not_active]") {
				t.Fatalf("set-default on pending: exit %d %s", exit, errOut)
			}
			// The new target resolves on our DNS; once deleted it is NXDOMAIN.
			out = mustRun(t, cli, "tracking-domain", "add", "links.acme-mail.com")
			linksTarget := regexp.MustCompile(`v-[0-9a-f]{16}\.track\.waymark\.localhost`).FindString(out)
			waitRcode(t, srv.dns, linksTarget, dns.RcodeSuccess, "192.0.2.80")
			mustRun(t, cli, "tracking-domain", "delete", "links.acme-mail.com")
			waitRcode(t, srv.dns, linksTarget, dns.RcodeNameError, "")
			if _, errOut, exit := waymark(t, cli, "tracking-domain", "show", "links.acme-mail.com"); exit != 1 || !strings.Contains(errOut, "[not_found]") {
				t.Fatalf("show after delete: exit %d %s", exit, errOut)
			}
			// Without a key the CLI says where to get one; with a wrong API
			// address it says what to check.
			if _, errOut, exit := waymark(t, []string{"WAYMARK_API=" + srv.api}, "tracking-domain", "list"); exit != 2 || !strings.Contains(errOut, "WAYMARK_KEY") {
				t.Fatalf("no key: exit %d %s", exit, errOut)
			}
			if _, errOut, exit := waymark(t, []string{"WAYMARK_KEY=x"}, "tracking-domain", "list", "--api", "http://127.0.0.1:1"); exit != 1 || !strings.Contains(errOut, "waymark serve") {
				t.Fatalf("unreachable API: exit %d %s", exit, errOut)
			}

			// Restart on the same data: the key is not shown again, the data
			// is all there, and the old keys still work.
			srv.cmd.Process.Signal(syscall.SIGTERM)
			if err := srv.cmd.Wait(); err != nil {
				t.Fatalf("serve did not exit cleanly on SIGTERM: %v\n%s", err, srv.stderr)
			}
			srv = startServe(t, env)
			if strings.Contains(srv.banner, "wma_") || !strings.Contains(srv.banner, "set on first start") {
				t.Fatalf("second start shows an admin key:\n%s", srv.banner)
			}
			out = mustRun(t, cli, "tracking-domain", "list")
			if !strings.Contains(out, "track.acme-mail.com") || strings.Contains(out, "links.acme-mail.com") {
				t.Fatalf("after restart:\n%s", out)
			}
			mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}, "cluster", "list")
		})
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--roles", "api,web"}, `unknown role "web"`},
		{[]string{"--db", "mysql://x"}, "postgres://"},
		{[]string{"--platform-domain", "bad domain"}, "--platform-domain"},
		{[]string{"--admin-key", "short"}, "--admin-key must start with wma_"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--edge-ip", "192.0.2.300"}, `--edge-ip "192.0.2.300" is not an IP address`},
		// A real platform needs its public addresses and its senders.
		{[]string{"--platform-domain", "mail.example.net"}, "set --edge-ip"},
		{[]string{"--platform-domain", "mail.example.net", "--edge-ip", "192.0.2.1"}, "set --sending-ip"},
		{[]string{"--sending-ip", "nope"}, `--sending-ip "nope" is not an IP address`},
		{[]string{"--spf-include", "bad name!"}, "--spf-include"},
		{strings.Fields(strings.Repeat("--spf-include _spf.operator.net ", 10)), "10 DNS lookups"},
		{[]string{"--notify-from", "not an address", "--delivery", "smtp://127.0.0.1:25"}, `--notify-from "not an address" is not an email address`},
		{[]string{"--notify-from", "notices@waymark.localhost"}, "--notify-from needs --delivery"},
		{[]string{"--trusted-proxy", "10.0.0.0/99"}, "--trusted-proxy"},
		{[]string{"--abuse-contact", "http://abuse.example"}, "--abuse-contact"},
		{[]string{"--log-format", "xml"}, "--log-format must be text or json"},
		{[]string{"--event-retention", "ninety days"}, `"ninety days" is neither days (90d) nor a duration (36h)`},
		{[]string{"--event-retention", "-1h"}, `"-1h" is negative`},
		{[]string{"--event-retention", "1ns"}, `"1ns" is shorter than an hour`},
		{[]string{"--event-retention", "30d", "--stats-retention", "7d"}, "--stats-retention 7d is shorter than --event-retention 30d"},
		{[]string{"--event-retention", "0", "--stats-retention", "7d"}, "--stats-retention 7d is shorter than --event-retention for ever"},
	} {
		args := append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0"}, tc.args...)
		_, errOut, code := waymark(t, nil, args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want failure mentioning %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestSPFListsTheSenders: spf.<platform> lists --sending-ip and
// --spf-include (from the flags and from WAYMARK_SENDING_IP, comma
// separated), not the edge's addresses.
func TestSPFListsTheSenders(t *testing.T) {
	srv := startServe(t, []string{"WAYMARK_SENDING_IP=192.0.2.25,2001:db8::25"}, "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--dns", "127.0.0.1:0", "--edge-ip", "192.0.2.80", "--spf-include", "_spf.Operator.net")
	m := new(dns.Msg)
	m.SetQuestion("spf.waymark.localhost.", dns.TypeTXT)
	r, err := dns.Exchange(m, srv.dns)
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("spf.waymark.localhost TXT: %v %v", r, err)
	}
	if got := strings.Join(r.Answer[0].(*dns.TXT).Txt, ""); got != "v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 include:_spf.operator.net -all" {
		t.Fatalf("spf.waymark.localhost: %q", got)
	}
	// The zone's name server: ns1 answers with the edge's address unless
	// --ns-ip names the DNS nodes (what the parent's glue must say).
	nsA := func(srv *server) string {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion("ns1.waymark.localhost.", dns.TypeA)
		r, err := dns.Exchange(m, srv.dns)
		if err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("ns1 A: %v %v", r, err)
		}
		var ips []string
		for _, rr := range r.Answer {
			ips = append(ips, rr.(*dns.A).A.String())
		}
		return strings.Join(ips, ",")
	}
	if got := nsA(srv); got != "192.0.2.80" {
		t.Fatalf("ns1 without --ns-ip: %s", got)
	}
	split := startServe(t, []string{"WAYMARK_NS_IP=192.0.2.53,192.0.2.54"}, "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--dns", "127.0.0.1:0", "--edge-ip", "192.0.2.80")
	if got := nsA(split); got != "192.0.2.53,192.0.2.54" {
		t.Fatalf("ns1 with --ns-ip: %s", got)
	}
}

// TestServeRefusesAnotherPlatformDomain: the platform domain is pinned at
// first start; a node started on the database with another one refuses,
// naming both, instead of answering REFUSED for every customer's target.
func TestServeRefusesAnotherPlatformDomain(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, nil, "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0")
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	_, errOut, code := waymark(t, nil, "serve", "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0",
		"--platform-domain", "other.localhost")
	if code == 0 || !strings.Contains(errOut, "--platform-domain is other.localhost, but this database serves waymark.localhost") {
		t.Fatalf("serve with another platform domain: exit %d\n%s", code, errOut)
	}
	startServe(t, nil, "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0")
}

// TestFailedStartLeavesNothing: a start that fails (a port in use, a key
// file missing for a database that has keys) creates no data directory and
// no key file, and says the cause without ERROR lines from roles that were
// starting.
func TestFailedStartLeavesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, flag := range []string{"--http", "--bounce-smtp", "--smtp", "--milter"} {
		data := filepath.Join(t.TempDir(), "data")
		args := []string{"serve", "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
			"--bounce-smtp", "127.0.0.1:0", "--edge-http", "127.0.0.1:0", flag, busy.Addr().String()}
		_, errOut, code := waymark(t, nil, args...)
		if code == 0 || !strings.Contains(errOut, "address already in use") || strings.Contains(errOut, "level=ERROR") || strings.Contains(errOut, "level=WARN") {
			t.Errorf("%s in use: exit %d\n%s", flag, code, errOut)
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s in use: the failed start left %s (%v)", flag, data, err)
		}
	}
	// A database with keys, and its key file not given: no new file.
	data := t.TempDir()
	srv := startServe(t, nil, "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0")
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	missing := filepath.Join(t.TempDir(), "missing.key")
	_, errOut, code := waymark(t, nil, "serve", "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--secret-key-file", missing)
	if code == 0 || !strings.Contains(errOut, "restore it from backup") {
		t.Fatalf("a missing key file: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused start made %s", missing)
	}
}

// TestServeRefusesAnotherSecretKey: a node started on a database with a
// secret key file other than the one that sealed its keys stops at once,
// saying why, instead of failing to sign later.
func TestServeRefusesAnotherSecretKey(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, nil, "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0")
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	other := filepath.Join(t.TempDir(), "other.key")
	if _, _, err := secret.Load(other); err != nil { // a key file, but another one
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "serve", "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0",
		"--secret-key-file", other)
	cmd.Env = cleanEnv(nil)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "same --secret-key-file") {
		t.Fatalf("serve with another secret key file: %v\n%s", err, out)
	}
	// The right file still starts.
	startServe(t, nil, "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0")
}

func TestAdminKeyFlag(t *testing.T) {
	key := "wma_abcdefghijklmnopqrstuvwxyz234567"
	srv := startServe(t, nil, "--data", t.TempDir(), "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--admin-key", key)
	if !strings.Contains(srv.banner, "from --admin-key") || strings.Contains(srv.banner, key) {
		t.Fatalf("banner:\n%s", srv.banner)
	}
	out := mustRun(t, []string{"WAYMARK_API=" + srv.api}, "cluster", "create", "acme", "--key", key, "--json")
	if !strings.Contains(out, `"api_key": "wmk_`) {
		t.Fatalf("cluster create --json:\n%s", out)
	}
}

// TestTwoNodesShareZone runs two nodes on one PostgreSQL: a target added
// through one node's API resolves on the other node's DNS, and stops
// resolving there once deleted.
func TestTwoNodesShareZone(t *testing.T) {
	db := testenv.Postgres(t)
	key := "wma_abcdefghijklmnopqrstuvwxyz234567"
	// The nodes share the secret key file, as an operator's nodes do.
	env := []string{"WAYMARK_DB=" + db, "WAYMARK_ADMIN_KEY=" + key, "WAYMARK_HTTP=127.0.0.1:0", "WAYMARK_DNS=127.0.0.1:0",
		"WAYMARK_DATA=" + t.TempDir()}
	a := startServe(t, env, "--roles", "api")
	b := startServe(t, env, "--roles", "dns")
	if a.dns != "" || b.dns == "" {
		t.Fatalf("roles: node a dns %q, node b dns %q", a.dns, b.dns)
	}
	out := mustRun(t, []string{"WAYMARK_API=" + a.api, "WAYMARK_KEY=" + key}, "cluster", "create", "acme")
	ck := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	cli := []string{"WAYMARK_API=" + a.api, "WAYMARK_KEY=" + ck}
	out = mustRun(t, cli, "tracking-domain", "add", "track.acme-mail.com")
	target := regexp.MustCompile(`v-[0-9a-f]{16}\.track\.waymark\.localhost`).FindString(out)
	waitRcode(t, b.dns, target, dns.RcodeSuccess, "127.0.0.1")
	mustRun(t, cli, "tracking-domain", "delete", "track.acme-mail.com")
	waitRcode(t, b.dns, target, dns.RcodeNameError, "")
}

// hookReceiver is a webhook endpoint that checks signatures.
type hookReceiver struct {
	mu     sync.Mutex
	events []map[string]any
	bad    []string
}

func (h *hookReceiver) handler(secret string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.bad = append(h.bad, "reading the delivery: "+err.Error())
			w.WriteHeader(400)
			return
		}
		if err := webhook.Verify(r.Header.Get(webhook.SignatureHeader), secret, body, time.Now(), time.Minute); err != nil {
			h.bad = append(h.bad, err.Error())
			w.WriteHeader(400)
			return
		}
		var evs []map[string]any
		if err := json.Unmarshal(body, &evs); err != nil {
			h.bad = append(h.bad, "a delivery that is not a JSON array of events: "+err.Error())
			w.WriteHeader(400)
			return
		}
		var ids []string
		for _, ev := range evs {
			id, _ := ev["id"].(string)
			ids = append(ids, id)
		}
		if got := r.Header.Get("Waymark-Event-Id"); got != strings.Join(ids, ",") {
			h.bad = append(h.bad, fmt.Sprintf("Waymark-Event-Id %q, the events' ids are %v", got, ids))
		}
		h.events = append(h.events, evs...)
		w.WriteHeader(204)
	})
}

// count is how many events have been delivered (duplicates included).
func (h *hookReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

func (h *hookReceiver) wait(t *testing.T, event, name string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, ev := range h.events {
			data, _ := ev["data"].(map[string]any)
			td, _ := data["tracking_domain"].(map[string]any)
			if sd, ok := data["sending_domain"].(map[string]any); ok {
				td = sd
			}
			if ev["type"] == event && td["name"] == name {
				h.mu.Unlock()
				return ev
			}
		}
		h.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Fatalf("no %s webhook for %s; got %v, refused signatures %v", event, name, h.events, h.bad)
	return nil
}

// TestVerifyThroughUnbound is the DNS issue end to end: waymark serve with
// its DNS behind a real Unbound as the resolver, the CLI verifying, webhooks
// signed and delivered, dig seeing a deleted target vanish.
func TestVerifyThroughUnbound(t *testing.T) {
	dnsAddr, u := behindUnbound(t, testenv.StartUnbound, "acme-mail.com", "bravo-mail.com")
	srv := startServe(t, []string{"WAYMARK_DNS=" + dnsAddr, "WAYMARK_RESOLVER=" + u.Addr, "WAYMARK_HTTP=127.0.0.1:0",
		"WAYMARK_DATA=" + t.TempDir(), "WAYMARK_WEBHOOK_ALLOW_PRIVATE=true"})
	admin := srv.adminKey(t)
	key := func(name string) []string {
		out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}, "cluster", "create", name)
		return []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)}
	}
	acme, bravo := key("acme"), key("bravo")

	hooks := &hookReceiver{}
	receiver := httptest.NewServer(hooks.handler("0123456789abcdef0123"))
	defer receiver.Close()
	body := strings.NewReader(`{"url": "` + receiver.URL + `/hook", "events": ["*"], "secret": "0123456789abcdef0123"}`)
	req, err := http.NewRequest("POST", srv.api+"/v1/webhooks", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimPrefix(acme[1], "WAYMARK_KEY="))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("add webhook: %v %v", resp, err)
	}

	targetOf := func(out string) string {
		return regexp.MustCompile(`v-[0-9a-f]{16}\.track\.waymark\.localhost`).FindString(out)
	}
	target := targetOf(mustRun(t, acme, "tracking-domain", "add", "track.acme-mail.com", "--default"))
	// Before the CNAME exists: verify fails, saying what to add.
	out, _, code := waymark(t, acme, "tracking-domain", "verify", "track.acme-mail.com")
	if code != 1 || !strings.Contains(out, "does not exist in DNS: add a CNAME record track.acme-mail.com pointing to "+target) {
		t.Fatalf("verify without CNAME: exit %d\n%s", code, out)
	}
	// Three hops to the target: active, and the default as asked.
	u.Set("track.acme-mail.com. 300 IN CNAME a.acme-mail.com.", "a.acme-mail.com. 300 IN CNAME b.acme-mail.com.",
		"b.acme-mail.com. 300 IN CNAME "+target+".")
	out = mustRun(t, acme, "tracking-domain", "verify", "track.acme-mail.com")
	if !regexp.MustCompile(`STATUS\s+active`).MatchString(out) || !regexp.MustCompile(`DEFAULT\s+yes`).MatchString(out) ||
		!strings.Contains(out, "track.acme-mail.com -> a.acme-mail.com -> b.acme-mail.com -> "+target) {
		t.Fatalf("verify 3 hops:\n%s", out)
	}
	ev := hooks.wait(t, "tracking_domain.verified", "track.acme-mail.com")
	if !strings.HasPrefix(ev["id"].(string), "evt_") {
		t.Fatalf("event %v", ev)
	}
	// Another cluster cannot claim acme's target.
	mustRun(t, bravo, "tracking-domain", "add", "track.bravo-mail.com")
	u.Set("track.bravo-mail.com. 300 IN CNAME " + target + ".")
	out, _, code = waymark(t, bravo, "tracking-domain", "verify", "track.bravo-mail.com")
	if code != 1 || !strings.Contains(out, "not this domain's verification target") || !regexp.MustCompile(`STATUS\s+pending`).MatchString(out) {
		t.Fatalf("verify on another's target: exit %d\n%s", code, out)
	}
	// An orange-cloud record.
	mustRun(t, acme, "tracking-domain", "add", "links.acme-mail.com")
	u.Set("links.acme-mail.com. 300 IN A 104.16.1.1")
	out, _, _ = waymark(t, acme, "tracking-domain", "verify", "links.acme-mail.com", "--json")
	if !strings.Contains(out, `"code": "proxied"`) || !strings.Contains(out, "DNS only") {
		t.Fatalf("proxied:\n%s", out)
	}
	// Deleted: the target is NXDOMAIN for dig, and the webhook hears of it.
	if out := digStatus(t, dnsAddr, target); !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("dig before delete:\n%s", out)
	}
	mustRun(t, acme, "tracking-domain", "delete", "track.acme-mail.com")
	if out := digStatus(t, dnsAddr, target); !strings.Contains(out, "status: NXDOMAIN") {
		t.Fatalf("dig after delete:\n%s", out)
	}
	hooks.wait(t, "tracking_domain.deleted", "track.acme-mail.com")
	// The webhook list shows the last delivery.
	req, err = http.NewRequest("GET", srv.api+"/v1/webhooks", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimPrefix(acme[1], "WAYMARK_KEY="))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"status": "delivered"`) {
		t.Fatalf("webhook list: %s", raw)
	}
	// A sending domain verified: its webhook shows it as the API does,
	// every record active, the click host's among them.
	publishSendingDomain(t, u, acme, "acme-mail.com")
	ev = hooks.wait(t, "sending_domain.verified", "acme-mail.com")
	sd := ev["data"].(map[string]any)["sending_domain"].(map[string]any)
	recs, _ := sd["records"].([]any)
	click := false
	for _, r := range recs {
		r := r.(map[string]any)
		if r["status"] != "active" {
			t.Fatalf("sending_domain.verified with a record not active: %v", sd)
		}
		click = click || r["name"] == "clicks.acme-mail.com"
	}
	if sd["status"] != "active" || len(recs) < 4 || !click {
		t.Fatalf("sending_domain.verified: %v", sd)
	}
}

// digStatus asks waymark's DNS for name's A record with dig.
func digStatus(t *testing.T, server, name string) string {
	t.Helper()
	dig, err := exec.LookPath("dig")
	if err != nil {
		testenv.Missing(t, "dig (apt dnsutils)", err)
	}
	host, port, _ := strings.Cut(server, ":")
	out, err := exec.Command(dig, "@"+host, "-p", port, "+norecurse", "+time=2", "+tries=1", name, "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	return string(out)
}

// TestSendingDomainDNS: a sending domain added with the CLI has its DKIM
// keys, SPF, MX and DMARC served by waymark's DNS, as dig sees them, and
// nothing once deleted.
func TestSendingDomainDNS(t *testing.T) {
	srv := startServe(t, []string{"WAYMARK_HTTP=127.0.0.1:0", "WAYMARK_DATA=" + t.TempDir(), "WAYMARK_DNS=127.0.0.1:0",
		"WAYMARK_EDGE_IP=192.0.2.25", "WAYMARK_ROLES=api,dns"})
	out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + srv.adminKey(t)}, "cluster", "create", "acme")
	cli := []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)}
	out = mustRun(t, cli, "sending-domain", "add", "acme-mail.com", "--ed25519")
	label := regexp.MustCompile(`wm1\.([0-9a-f]{16})\.dkim\.waymark\.localhost`).FindStringSubmatch(out)
	if label == nil || !strings.Contains(out, "_dmarc.acme-mail.com") || !strings.Contains(out, "clicks.acme-mail.com") {
		t.Fatalf("add printed:\n%s", out)
	}
	l := label[1]
	dig := func(name, qtype string) string {
		host, port, _ := strings.Cut(srv.dns, ":")
		b, err := exec.Command("dig", "@"+host, "-p", port, "+short", "+norecurse", name, qtype).CombinedOutput()
		if err != nil {
			t.Fatalf("dig: %v %s", err, b)
		}
		return string(b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(dig("wm1."+l+".dkim.waymark.localhost", "TXT"), "v=DKIM1; k=rsa; p=") {
		if time.Now().After(deadline) {
			t.Fatalf("no DKIM TXT: %s", dig("wm1."+l+".dkim.waymark.localhost", "TXT"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tc := range []struct{ name, qtype, want string }{
		{"wm2." + l + ".dkim.waymark.localhost", "TXT", `"v=DKIM1; k=rsa; p=`},
		{"wme1." + l + ".dkim.waymark.localhost", "TXT", `"v=DKIM1; k=ed25519; p=`},
		{l + ".bounce.waymark.localhost", "MX", "10 mx.waymark.localhost."},
		{l + ".bounce.waymark.localhost", "TXT", `"v=spf1 include:spf.waymark.localhost -all"`},
		{"spf.waymark.localhost", "TXT", `"v=spf1 ip4:192.0.2.25 -all"`},
		{l + ".dmarc.waymark.localhost", "TXT", `"v=DMARC1; p=none; adkim=r; aspf=r"`},
	} {
		if got := dig(tc.name, tc.qtype); !strings.Contains(got, tc.want) {
			t.Errorf("dig %s %s = %q, want %q", tc.name, tc.qtype, got, tc.want)
		}
	}
	// The RSA key is more than one 255-byte string.
	if got := dig("wm1."+l+".dkim.waymark.localhost", "TXT"); strings.Count(got, `" "`) < 1 {
		t.Errorf("RSA TXT not split into strings: %s", got)
	}
	mustRun(t, cli, "sending-domain", "delete", "acme-mail.com")
	deadline = time.Now().Add(5 * time.Second)
	for dig("wm1."+l+".dkim.waymark.localhost", "TXT") != "" {
		if time.Now().After(deadline) {
			t.Fatal("DKIM key still served after delete")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSendingDomainThroughUnbound is the sending-domain issue end to end:
// the customer publishes the records add printed in their zone (Unbound),
// verify makes the domain active, a dry-run message comes back signed, and
// python3-dkim's dkimverify and OpenDKIM, reading DNS as a receiving server
// does, verify it; after a forced rotation, mail keeps verifying.
func TestSendingDomainThroughUnbound(t *testing.T) {
	dnsAddr, u := behindUnbound(t, testenv.StartUnboundForLibc, "acme-mail.com", "bravo-mail.com")
	srv := startServe(t, []string{"WAYMARK_DNS=" + dnsAddr, "WAYMARK_RESOLVER=" + u.Addr, "WAYMARK_HTTP=127.0.0.1:0",
		"WAYMARK_DATA=" + t.TempDir()})
	out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + srv.adminKey(t)}, "cluster", "create", "acme")
	apiKey := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	cli := []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + apiKey}

	publish := func(name string, args ...string) { publishSendingDomain(t, u, cli, name, args...) }
	publish("acme-mail.com", "--ed25519")
	publish("bravo-mail.com")

	dryRun := func(from string) string {
		t.Helper()
		msg := "From: News <news@" + from + ">\r\nTo: ann@example.org\r\nSubject: Spring\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
			"Message-ID: <1@" + from + ">\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
			"<p>Hello  there, <a href=\"https://shop.example/spring\">see the sale</a>.</p>\r\n"
		code, _, b := apiCall(t, "POST", srv.api+"/v1/messages?dry_run=1", apiKey, "message/rfc822", msg)
		if code != 200 {
			t.Fatalf("dry run: %d %s", code, b)
		}
		return b
	}
	verified := func(when, msg string, sigs int) {
		t.Helper()
		if n := strings.Count(msg, "DKIM-Signature:"); n != sigs {
			t.Fatalf("%s: %d signatures, want %d:\n%s", when, n, sigs, msg)
		}
		u.Flush("waymark.localhost")
		for name, err := range u.VerifyDKIM(t, msg) {
			if err != nil {
				t.Fatalf("%s: %s refuses: %v", when, name, err)
			}
		}
	}
	acme, bravo := dryRun("acme-mail.com"), dryRun("bravo-mail.com")
	// The links go through the sending domain's own click host.
	if !strings.Contains(acme, `href="https://clicks.acme-mail.com/c/`) || strings.Contains(acme, "t.waymark.localhost") {
		t.Fatalf("links not on clicks.acme-mail.com:\n%s", acme)
	}
	verified("RSA and Ed25519", acme, 2)
	verified("RSA, checked by OpenDKIM too", bravo, 1)
	for name, err := range u.VerifyDKIM(t, "Subject: Act now\r\n"+bravo) {
		if err == nil {
			t.Fatalf("%s accepts a header added after signing", name)
		}
	}

	// A forced rotation publishes new keys; until they sign (72 h later)
	// the current ones go on signing, and mail signed before still verifies.
	o := mustRun(t, cli, "sending-domain", "rotate", "bravo-mail.com", "--json")
	if !strings.Contains(o, `"next_rotation"`) {
		t.Fatalf("rotate:\n%s", o)
	}
	verified("after a forced rotation", dryRun("bravo-mail.com"), 1)
	verified("signed before the rotation", bravo, 1)
}

// publishSendingDomain adds a sending domain with the CLI, publishes the
// CNAMEs it prints in the customer's zone (Unbound), as a customer does,
// and verifies it.
func publishSendingDomain(t testing.TB, u *testenv.Unbound, cli []string, name string, args ...string) {
	t.Helper()
	var d struct {
		Records []struct{ Name, Type, Value, Purpose string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, cli, append([]string{"sending-domain", "add", name, "--json"}, args...)...)), &d); err != nil {
		t.Fatal(err)
	}
	// Not verified yet: nothing is published.
	if o, _, code := waymark(t, cli, "sending-domain", "verify", name); code != 1 || !strings.Contains(o, "pending") {
		t.Fatalf("verify before the records exist: exit %d\n%s", code, o)
	}
	var rrs []string
	for _, r := range d.Records {
		if r.Type != "CNAME" {
			t.Fatalf("record %+v: the customer only publishes CNAMEs", r)
		}
		rrs = append(rrs, r.Name+". 300 IN CNAME "+r.Value+".")
	}
	u.Set(rrs...)
	o := mustRun(t, cli, "sending-domain", "verify", name)
	if !regexp.MustCompile(`STATUS\s+active`).MatchString(o) {
		t.Fatalf("verify with the records published:\n%s", o)
	}
}

// behindUnbound picks a port for waymark's DNS and starts Unbound (with
// start: StartUnbound or StartUnboundForLibc) serving the customer zones
// and stubbing the platform zone to that port.
func behindUnbound(t testing.TB, start func(testing.TB, string, string, ...string) *testenv.Unbound, zones ...string) (string, *testenv.Unbound) {
	t.Helper()
	dnsPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	return dnsAddr, start(t, "waymark.localhost", dnsAddr, zones...)
}

// TestTrustedProxy: behind the operator's proxy (--trusted-proxy, here the
// loopback address the test connects from) the API throttles wrong keys by
// the client X-Forwarded-For names, so one client guessing does not lock
// out the others; a client that adds its own X-Forwarded-For cannot pick
// another address; without the flag the header is not read at all.
func TestTrustedProxy(t *testing.T) {
	get := func(srv *server, key string, xff ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.api+"/v1/tracking-domains?cluster=none", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	srv := startServe(t, []string{"WAYMARK_TRUSTED_PROXY=127.0.0.1,::1"}, "--data", t.TempDir(), "--http", "127.0.0.1:0",
		"--dns", "127.0.0.1:0", "--roles", "api")
	admin := srv.adminKey(t)
	for i := range 5 {
		if resp := get(srv, "wma_wrong", "203.0.113.5"); resp.StatusCode != 401 {
			t.Fatalf("wrong key %d: %d", i, resp.StatusCode)
		}
	}
	if resp := get(srv, admin, "198.51.100.1, 203.0.113.5"); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the guessing client, naming another address before its own: %d", resp.StatusCode)
	}
	if resp := get(srv, admin, "203.0.113.6"); resp.StatusCode == 429 || resp.StatusCode == 401 {
		t.Fatalf("another client behind the same proxy: %d", resp.StatusCode)
	}

	plain := startServe(t, nil, "--data", t.TempDir(), "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--roles", "api")
	for i := range 5 {
		get(plain, "wma_wrong", fmt.Sprintf("203.0.113.%d", i))
	}
	if resp := get(plain, plain.adminKey(t), "203.0.113.99"); resp.StatusCode != 429 {
		t.Fatalf("without --trusted-proxy, X-Forwarded-For changed the client: %d", resp.StatusCode)
	}
}

// metricValue scrapes /metrics of srv and returns the value of the first
// sample whose name and labels start with series (such as
// `waymark_deliveries_total{outcome="sent"`), and whether there is one.
func metricValue(t testing.TB, srv *server, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(srv.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, series) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// waitEvents polls GET /v1/events?query with key until it lists at least
// n events (the edge's reach the store from its journal a moment after
// their answer) and returns them.
func waitEvents(t testing.TB, api, key, query string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, body := apiCall(t, "GET", api+"/v1/events?"+query, key, "", "")
		var page struct{ Items []map[string]any }
		if err := json.Unmarshal([]byte(body), &page); err != nil || code != 200 {
			t.Fatalf("events: %d %v\n%s", code, err, body)
		}
		if len(page.Items) >= n {
			return page.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events of %s after 10 s, want %d:\n%s", len(page.Items), query, n, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantMetric fails unless a sample of series is at least min.
func wantMetric(t testing.TB, srv *server, series string, min float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, ok := metricValue(t, srv, series)
		if ok && v >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s = %v (present %v), want at least %v", series, v, ok, min)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLogFormatJSON: --log-format json writes one JSON object a line.
func TestLogFormatJSON(t *testing.T) {
	srv := startServe(t, nil, "--data", t.TempDir(), "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--roles", "api", "--log-format", "json")
	resp, err := http.Get(srv.api + "/v1/clusters") // a logged 401
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for strings.TrimSpace(srv.stderr.String()) == "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(srv.stderr.String()), "\n")
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil || v["msg"] == nil || v["level"] == nil {
			t.Fatalf("not a JSON log line: %q (%v)", l, err)
		}
	}
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("nothing logged")
	}
}

// TestOneProcessPerDatabase: a second serve on a SQLite data directory in
// use is refused, whatever its roles (the monitor's lock holds within a
// process only).
func TestOneProcessPerDatabase(t *testing.T) {
	data := t.TempDir()
	startServe(t, nil, "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--roles", "api")
	_, errOut, code := waymark(t, nil, "serve", "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--roles", "monitor")
	if code == 0 || !strings.Contains(errOut, "another waymark serve uses the database in "+data) {
		t.Fatalf("a second serve on the same database: exit %d\n%s", code, errOut)
	}
}
