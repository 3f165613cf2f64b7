package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/waymark-mail/waymark/internal/testenv"
)

// TestACMEWithPebble: a domain verified through DNS gets a certificate from
// Pebble, and curl over HTTPS with Pebble's root gets the 302; a random SNI
// and a pending domain get no certificate and cause no order.
func TestACMEWithPebble(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) { testACME(t, challenge) })
	}
}

func testACME(t *testing.T, challenge string) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		testenv.Missing(t, "curl", err)
	}
	dnsPort, _ := testenv.FreePort()
	httpPort, _ := testenv.FreePort()
	httpsPort, _ := testenv.FreePort()
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	u := testenv.StartUnbound(t, "waymark.localhost", dnsAddr, "acme-mail.com")
	// Pebble reaches only the port of the challenge under test: the other
	// one is a dead port, so issuance proves which challenge worked.
	dead, _ := testenv.FreePort()
	pebbleHTTP, pebbleTLS := httpPort, dead
	if challenge == "tls-alpn-01" {
		pebbleHTTP, pebbleTLS = dead, httpsPort
	}
	pebble := testenv.StartPebble(t, u.Addr, pebbleHTTP, pebbleTLS)
	srv := startServe(t, []string{"WAYMARK_DNS=" + dnsAddr, "WAYMARK_RESOLVER=" + u.Addr, "WAYMARK_HTTP=127.0.0.1:0",
		"WAYMARK_DATA=" + t.TempDir(), fmt.Sprintf("WAYMARK_EDGE_HTTP=127.0.0.1:%d", httpPort), fmt.Sprintf("WAYMARK_EDGE_HTTPS=127.0.0.1:%d", httpsPort),
		"WAYMARK_ACME_DIRECTORY=" + pebble.Directory, "WAYMARK_ACME_CA_ROOT=" + pebble.ListenerCA, "WAYMARK_ACME_EMAIL=ops@waymark.test",
		"WAYMARK_ACME_CHALLENGES=" + challenge, "WAYMARK_ABUSE_CONTACT=abuse@waymark.test"})
	if !strings.Contains(srv.banner, fmt.Sprintf("https://127.0.0.1:%d", httpsPort)) {
		t.Fatalf("banner shows no HTTPS edge:\n%s", srv.banner)
	}
	admin := srv.adminKey(t)
	out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}, "cluster", "create", "acme")
	key := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	cli := []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + key}

	// A random name and a pending domain: no certificate, no order.
	handshake := func(name string) error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort),
			&tls.Config{ServerName: name, InsecureSkipVerify: true}) // the certificate is checked by curl below
		if err == nil {
			conn.Close()
		}
		return err
	}
	// The platform's own host gets its certificate at start: links of a
	// cluster without a tracking domain of its own are https://t.<platform>.
	pool := x509.NewCertPool()
	deadline := time.Now().Add(90 * time.Second)
	for {
		pool.AppendCertsFromPEM(pebble.Root())
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort),
			&tls.Config{ServerName: "t.waymark.localhost", RootCAs: pool})
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate for t.waymark.localhost: %v\n%s\n%s", err, srv.stderr, pebble.Log())
		}
		time.Sleep(250 * time.Millisecond)
	}
	pendingTarget := regexp.MustCompile(`v-[0-9a-f]{16}\.track\.waymark\.localhost`).FindString(mustRun(t, cli, "tracking-domain", "add", "pending.acme-mail.com"))
	u.Set("pending.acme-mail.com. 300 IN CNAME " + pendingTarget + ".")
	for _, name := range []string{"random-" + fmt.Sprint(time.Now().UnixNano()) + ".example.com", "pending.acme-mail.com"} {
		if err := handshake(name); err == nil {
			t.Fatalf("TLS handshake for %s succeeded", name)
		}
	}
	// The decision is made inside the handshake, so no order can be on its
	// way now; that none comes later is checked once the next real order
	// has completed (below).
	if n := pebble.Orders(); n != 1 {
		t.Fatalf("%d ACME orders, want only the platform host's: names that are not active were ordered\n%s", n, pebble.Log())
	}

	// Verified through DNS: the certificate is requested at once.
	target := regexp.MustCompile(`v-[0-9a-f]{16}\.track\.waymark\.localhost`).FindString(mustRun(t, cli, "tracking-domain", "add", "track.acme-mail.com"))
	u.Set("track.acme-mail.com. 300 IN CNAME " + target + ".")
	mustRun(t, cli, "tracking-domain", "verify", "track.acme-mail.com")
	deadline = time.Now().Add(90 * time.Second)
	for {
		out := mustRun(t, cli, "tracking-domain", "show", "track.acme-mail.com", "--json")
		var d struct{ TLS struct{ Status string } }
		json.Unmarshal([]byte(out), &d)
		if d.TLS.Status == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate after 90s (tls %q)\nserve log:\n%s\npebble log:\n%s", d.TLS.Status, srv.stderr, pebble.Log())
		}
		time.Sleep(250 * time.Millisecond)
	}
	if n := pebble.Orders(); n != 2 {
		t.Fatalf("%d ACME orders once track.acme-mail.com has its certificate, want 2 (it and the platform host): a refused name was ordered later\n%s", n, pebble.Log())
	}
	root := filepath.Join(t.TempDir(), "pebble-root.pem")
	os.WriteFile(root, pebble.Root(), 0o644)

	_, _, msg := apiCall(t, "POST", srv.api+"/v1/messages?dry_run=1&sign=0", key, "message/rfc822",
		"To: ann@example.com\r\nX-Waymark-Tracking-Domain: track.acme-mail.com\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.example/tls\">x</a>\r\n")
	link := regexp.MustCompile(`https://track\.acme-mail\.com/c/[A-Za-z0-9_-]+`).FindString(msg)
	if link == "" {
		t.Fatalf("no link:\n%s", msg)
	}
	link = strings.Replace(link, "track.acme-mail.com", fmt.Sprintf("track.acme-mail.com:%d", httpsPort), 1)
	cout, err := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--cacert", root,
		"--resolve", fmt.Sprintf("track.acme-mail.com:%d:127.0.0.1", httpsPort), link).CombinedOutput()
	if err != nil || string(cout) != "302 https://shop.example/tls" {
		t.Fatalf("curl over HTTPS: %v %s", err, cout)
	}
	// The front door over HTTPS: the page, robots.txt, and the home URL
	// once set.
	front := func(path string) string {
		t.Helper()
		out, err := exec.Command(curl, "-sS", "-w", "\n%{http_code} %{redirect_url}", "--cacert", root,
			"--resolve", fmt.Sprintf("track.acme-mail.com:%d:127.0.0.1", httpsPort), fmt.Sprintf("https://track.acme-mail.com:%d%s", httpsPort, path)).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v %s", path, err, out)
		}
		return string(out)
	}
	if out := front("/"); !strings.Contains(out, "carries the links in email sent by <strong>acme</strong>") ||
		!strings.Contains(out, "mailto:abuse@waymark.test") || !strings.HasSuffix(out, "\n200 ") {
		t.Fatalf("front page over HTTPS:\n%s", out)
	}
	if out := front("/robots.txt"); out != "User-agent: *\nDisallow: /\n\n200 " {
		t.Fatalf("robots.txt over HTTPS: %q", out)
	}
	mustRun(t, cli, "tracking-domain", "set", "track.acme-mail.com", "--home-url", "https://www.acme-mail.com/")
	deadline = time.Now().Add(5 * time.Second)
	for out := front("/"); !strings.HasSuffix(out, "302 https://www.acme-mail.com/"); out = front("/") {
		if time.Now().After(deadline) {
			t.Fatalf("the front door does not redirect to the home URL:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The chain verifies for the name, by Go's verifier as well.
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: "track.acme-mail.com", RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS with Pebble's root: %v", err)
	}
	conn.Close()
	if n := pebble.Orders(); n != 2 {
		t.Fatalf("%d orders, want exactly 2 (platform host and the domain)", n)
	}
	wantMetric(t, srv, `waymark_certificates{state="active"}`, 2)
	wantMetric(t, srv, `waymark_certificate_expiry_seconds`, 3600)

	// Deleted: no longer served, on the next handshake.
	mustRun(t, cli, "tracking-domain", "delete", "track.acme-mail.com")
	deadline = time.Now().Add(5 * time.Second)
	for handshake("track.acme-mail.com") == nil {
		if time.Now().After(deadline) {
			t.Fatal("a deleted domain is still served over TLS")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestACMETwoNodesOneOrder: two nodes on one PostgreSQL both see a domain
// turn active and both get a first handshake at once: Pebble takes one
// order, and both nodes serve the certificate.
func TestACMETwoNodesOneOrder(t *testing.T) {
	db := testenv.Postgres(t)
	dnsPort, _ := testenv.FreePort()
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	u := testenv.StartUnbound(t, "waymark.localhost", dnsAddr, "acme-mail.com")
	var httpPorts, httpsPorts [2]int
	for i := range 2 {
		httpPorts[i], _ = testenv.FreePort()
		httpsPorts[i], _ = testenv.FreePort()
	}
	pebble := testenv.StartPebble(t, u.Addr, httpPorts[0], httpsPorts[0])
	key := "wma_abcdefghijklmnopqrstuvwxyz234567"
	var nodes [2]*server
	// Each node has its own data directory (its journal), and both the
	// secret key file, as an operator's nodes do.
	keyFile := filepath.Join(t.TempDir(), "secret.key")
	for i := range 2 {
		env := []string{"WAYMARK_DB=" + db, "WAYMARK_ADMIN_KEY=" + key, "WAYMARK_HTTP=127.0.0.1:0", "WAYMARK_RESOLVER=" + u.Addr,
			"WAYMARK_DATA=" + t.TempDir(), "WAYMARK_SECRET_KEY_FILE=" + keyFile,
			fmt.Sprintf("WAYMARK_EDGE_HTTP=127.0.0.1:%d", httpPorts[i]), fmt.Sprintf("WAYMARK_EDGE_HTTPS=127.0.0.1:%d", httpsPorts[i]),
			"WAYMARK_ACME_DIRECTORY=" + pebble.Directory, "WAYMARK_ACME_CA_ROOT=" + pebble.ListenerCA}
		roles := "WAYMARK_ROLES=api,edge"
		if i == 0 {
			roles, env = "WAYMARK_ROLES=api,edge,dns", append(env, "WAYMARK_DNS="+dnsAddr)
		}
		nodes[i] = startServe(t, append(env, roles))
	}
	out := mustRun(t, []string{"WAYMARK_API=" + nodes[0].api, "WAYMARK_KEY=" + key}, "cluster", "create", "acme")
	cli := []string{"WAYMARK_API=" + nodes[0].api, "WAYMARK_KEY=" + regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)}
	target := regexp.MustCompile(`v-[0-9a-f]{16}\.track\.waymark\.localhost`).FindString(mustRun(t, cli, "tracking-domain", "add", "track.acme-mail.com"))
	u.Set("track.acme-mail.com. 300 IN CNAME " + target + ".")
	mustRun(t, cli, "tracking-domain", "verify", "track.acme-mail.com")

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pebble.Root())
	deadline := time.Now().Add(90 * time.Second)
	for i := range 2 {
		for {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", httpsPorts[i]),
				&tls.Config{ServerName: "track.acme-mail.com", RootCAs: pool})
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d serves no valid certificate: %v\n%s\n%s", i, err, nodes[i].stderr, pebble.Log())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// One order for the domain and one for t.<platform>, though both
	// nodes wanted each.
	if n := pebble.Orders(); n != 2 {
		t.Fatalf("%d orders for two names on two nodes, want 2\n%s", n, pebble.Log())
	}

	// The admin deletes the cluster through the node without DNS: the
	// other node's DNS server answers NXDOMAIN for its target, neither
	// edge serves its certificate, its key opens nothing.
	admin := []string{"WAYMARK_API=" + nodes[1].api, "WAYMARK_KEY=" + key}
	clusterID := regexp.MustCompile(`cl_[0-9a-f]{16}`).FindString(out)
	if _, errOut, code := waymark(t, admin, "cluster", "delete", clusterID); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Fatalf("cluster delete without --yes: exit %d\n%s", code, errOut)
	}
	before := new(dns.Msg)
	before.SetQuestion(target+".", dns.TypeA)
	if in, err := dns.Exchange(before, dnsAddr); err != nil || in.Rcode != dns.RcodeSuccess || len(in.Answer) == 0 {
		t.Fatalf("the target before the delete: %v %v", in, err)
	}
	mustRun(t, admin, "cluster", "delete", clusterID, "--yes")
	deadline = time.Now().Add(10 * time.Second)
	for i := 0; i < 2; {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", httpsPorts[i]),
			&tls.Config{ServerName: "track.acme-mail.com", RootCAs: pool})
		if err != nil {
			i++
			continue
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("node %d still serves the deleted cluster's certificate", i)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		m := new(dns.Msg)
		m.SetQuestion(target+".", dns.TypeA)
		in, err := dns.Exchange(m, dnsAddr)
		if err == nil && in.Rcode == dns.RcodeNameError {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted cluster's target %s: %v %v", target, in, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, errOut, code := waymark(t, cli, "tracking-domain", "list"); code != 1 || !strings.Contains(errOut, "invalid API key") {
		t.Fatalf("the deleted cluster's key: exit %d\n%s", code, errOut)
	}
}

// TestACMERenewal: with certificates valid for a minute, a handshake late
// in the certificate's life renews it: a new certificate, a later expiry.
func TestACMERenewal(t *testing.T) {
	dnsPort, _ := testenv.FreePort()
	httpPort, _ := testenv.FreePort()
	httpsPort, _ := testenv.FreePort()
	dnsAddr := fmt.Sprintf("127.0.0.1:%d", dnsPort)
	u := testenv.StartUnbound(t, "waymark.localhost", dnsAddr, "acme-mail.com")
	pebble := testenv.StartPebbleValidity(t, u.Addr, httpPort, httpsPort, time.Minute)
	startServe(t, []string{"WAYMARK_DNS=" + dnsAddr, "WAYMARK_RESOLVER=" + u.Addr, "WAYMARK_HTTP=127.0.0.1:0", "WAYMARK_DATA=" + t.TempDir(),
		fmt.Sprintf("WAYMARK_EDGE_HTTP=127.0.0.1:%d", httpPort), fmt.Sprintf("WAYMARK_EDGE_HTTPS=127.0.0.1:%d", httpsPort),
		"WAYMARK_ACME_DIRECTORY=" + pebble.Directory, "WAYMARK_ACME_CA_ROOT=" + pebble.ListenerCA, "WAYMARK_ROLES=api,edge,dns"})
	pool := x509.NewCertPool()
	leaf := func() *x509.Certificate {
		pool.AppendCertsFromPEM(pebble.Root())
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort),
			&tls.Config{ServerName: "t.waymark.localhost", RootCAs: pool})
		if err != nil {
			return nil
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	deadline := time.Now().Add(60 * time.Second)
	first := leaf()
	for first == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no first certificate\n%s", pebble.Log())
		}
		time.Sleep(200 * time.Millisecond)
		first = leaf()
	}
	// Late in its life (a third of it left), the next handshakes renew it.
	deadline = time.Now().Add(90 * time.Second)
	for {
		time.Sleep(time.Second)
		c := leaf()
		if c != nil && c.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if !c.NotAfter.After(first.NotAfter) {
				t.Fatalf("renewed certificate expires %v, not after %v", c.NotAfter, first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate not renewed (first expires %v)\n%s", first.NotAfter, pebble.Log())
		}
	}
}
