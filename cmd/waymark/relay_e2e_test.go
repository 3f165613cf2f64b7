package main

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/miekg/dns"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/waymark-mail/waymark/internal/testenv"
)

// relaySetup is waymark serve with a verified sending domain, a real
// Postfix as its delivery server, and the customer's DNS in Unbound.
type relaySetup struct {
	srv          *server
	postfix      *testenv.Postfix
	unbound      *testenv.Unbound
	cli          []string
	cluster, key string
	smtp         string
	env          []string
}

// startRelay starts it; postfixMain adds to Postfix's main.cf, extraEnv
// to waymark's environment.
func startRelay(t testing.TB, postfixMain []string, extraEnv ...string) *relaySetup {
	t.Helper()
	if _, err := exec.LookPath("swaks"); err != nil {
		testenv.Missing(t, "swaks (apt swaks libnet-ssleay-perl)", err)
	}
	pf := testenv.StartPostfix(t, testenv.PostfixOptions{MainCF: postfixMain})
	dnsAddr, u := behindUnbound(t, testenv.StartUnboundForLibc, "acme-mail.com", "dbl.example")
	env := append([]string{"WAYMARK_DNS=" + dnsAddr, "WAYMARK_RESOLVER=" + u.Addr, "WAYMARK_HTTP=127.0.0.1:0",
		"WAYMARK_DATA=" + t.TempDir(), "WAYMARK_DELIVERY=smtp://" + pf.Addr, "WAYMARK_RELAY_RETRY=1s"}, extraEnv...)
	srv := startServe(t, env)
	out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + srv.adminKey(t)}, "cluster", "create", "acme")
	r := &relaySetup{srv: srv, postfix: pf, unbound: u, env: env,
		cluster: regexp.MustCompile(`cl_[0-9a-f]{16}`).FindString(out), key: regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out),
		smtp: regexp.MustCompile(`smtp\s+(\S+) submission`).FindStringSubmatch(srv.banner)[1]}
	r.cli = []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + r.key}
	publishSendingDomain(t, u, r.cli, "acme-mail.com")
	return r
}

const relayMessage = "From: News <news@acme-mail.com>\r\nTo: ann@example.org\r\nSubject: Spring\r\n" +
	"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s@acme-mail.com>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello, <a href=\"https://shop.example/spring\">see the sale</a>.</p>\r\n" +
	"<p><a href=\"{{forward}}\">Forward to a friend</a></p>\r\n"

// swaks submits one message through waymark's SMTP submission with
// STARTTLS and AUTH PLAIN, and returns its transcript and exit code.
func (r *relaySetup) swaks(t *testing.T, to, data string, extra ...string) (string, int) {
	t.Helper()
	args := append([]string{"--server", r.smtp, "--tls", "--auth", "PLAIN", "--auth-user", r.cluster, "--auth-password", r.key,
		"--from", "sender@client.example", "--to", to, "--data", "-", "--timeout", "30"}, extra...)
	cmd := exec.Command("swaks", args...)
	cmd.Stdin = strings.NewReader(data)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestRelayThroughPostfix is the relay end to end: swaks submits through
// waymark (STARTTLS, AUTH PLAIN), waymark rewrites, signs and relays to a
// real Postfix, which delivers to a Maildir; the delivered message
// verifies with python3-dkim and OpenDKIM through the customer's DNS, its
// links go through the click host, its envelope sender is a VERP address.
// With Postfix stopped, mail waits and arrives after it is back.
func TestRelayThroughPostfix(t *testing.T) {
	r := startRelay(t, nil)
	out, code := r.swaks(t, "ann@example.org", fmt.Sprintf(relayMessage, "m1"))
	if code != 0 || !regexp.MustCompile(`250 2\.0\.0 queued as msg_[0-9a-f]+`).MatchString(out) {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	got := r.postfix.WaitDelivered(1, 30*time.Second)
	msg := string(got[0])
	if !regexp.MustCompile(`(?m)^Return-Path: <b-[a-z2-7]{16}@bounce\.acme-mail\.com>`).MatchString(msg) ||
		!strings.Contains(msg, `href="https://clicks.acme-mail.com/c/`) || strings.Contains(msg, "https://shop.example/spring") ||
		!regexp.MustCompile(`(?m)^X-Waymark-Queue-Id: [a-z2-7]{16}\r?$`).MatchString(msg) {
		t.Fatalf("delivered:\n%s", msg)
	}
	r.unbound.Flush("waymark.localhost")
	for name, err := range r.unbound.VerifyDKIM(t, msg) {
		if err != nil {
			t.Fatalf("%s refuses the delivered message: %v\n%s", name, err, msg)
		}
	}
	// No link tells who got the mail, which message it was or where it
	// goes, and the unsubscribe page masks the address.
	msgID := regexp.MustCompile(`msg_[0-9a-f]+`).FindString(out)
	links := regexp.MustCompile(`https://clicks\.acme-mail\.com/([couf])/([A-Za-z0-9_-]+)`).FindAllStringSubmatch(msg, -1)
	if len(links) < 4 {
		t.Fatalf("%d tracking links:\n%s", len(links), msg)
	}
	for _, l := range links {
		raw, err := base64.RawURLEncoding.DecodeString(l[2])
		if err != nil {
			t.Fatalf("token %s: %v", l[2], err)
		}
		for _, field := range []string{"ann@example.org", "example.org", msgID, "shop.example"} {
			if bytes.Contains(raw, []byte(field)) {
				t.Fatalf("%q can be read in the token of %s", field, l[0])
			}
		}
		if l[1] == "u" {
			req, _ := http.NewRequest("GET", r.srv.edge+"/u/"+l[2], nil)
			req.Host = "clicks.acme-mail.com"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(page), "a•••@example.org") || strings.Contains(string(page), "ann@") {
				t.Fatalf("unsubscribe page: %d\n%s", resp.StatusCode, page)
			}
		}
	}
	// The relayed event, for the message and recipient.
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", r.srv.api+"/v1/events?type=relayed", nil)
		req.Header.Set("Authorization", "Bearer "+r.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"recipient": "ann@example.org"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no relayed event: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The stats count it under the sending domain it was signed for.
	if out := mustRun(t, r.cli, "stats", "--interval", "day", "--group-by", "sending_domain"); !regexp.MustCompile(`(?m)acme-mail\.com(\s+\d+){9}\s+1\s*$`).MatchString(out) {
		t.Fatalf("stats by sending domain:\n%s", out)
	}

	// Forward to a friend: the edge's form sends it on through the relay,
	// To the friend, with the friend's own links, signed.
	fwd := regexp.MustCompile(`https://clicks\.acme-mail\.com(/f/[A-Za-z0-9_-]+)`).FindStringSubmatch(msg)
	if fwd == nil {
		t.Fatalf("no forward link:\n%s", msg)
	}
	req, _ := http.NewRequest("POST", r.srv.edge+fwd[1], strings.NewReader("to=friend%40example.org"))
	req.Host = "clicks.acme-mail.com"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Sent to <strong>friend@example.org</strong>") {
		t.Fatalf("forward form: %d\n%s", resp.StatusCode, page)
	}
	got = r.postfix.WaitDelivered(2, 30*time.Second)
	friend := ""
	for _, m := range got {
		if strings.Contains(string(m), "Delivered-To: friend@example.org") {
			friend = string(m)
		}
	}
	if !regexp.MustCompile(`(?m)^To: friend@example\.org\r?$`).MatchString(friend) || strings.Contains(friend, "ann@example.org") ||
		!strings.Contains(friend, `href="https://clicks.acme-mail.com/c/`) {
		t.Fatalf("forwarded copy:\n%s", friend)
	}
	for name, err := range r.unbound.VerifyDKIM(t, friend) {
		if err != nil {
			t.Fatalf("%s refuses the forwarded copy: %v", name, err)
		}
	}
	r.waitEvent(t, "forward", `"recipient": "ann@example.org"`)

	// The log follows the message as Postfix's does: queued, then the
	// delivery with its status, delay and the server's reply.
	logs := r.srv.stderr.String()
	for _, re := range []string{
		`msg="relay: queued" queue_id=[a-z2-7]{16} cluster=cl_[0-9a-f]{16} message=msg_[0-9a-f]+ from=b-[a-z2-7]{16}@bounce\.acme-mail\.com to=ann@example\.org server=smtp://`,
		`msg="relay: delivery" queue_id=[a-z2-7]{16} cluster=cl_[0-9a-f]{16} message=msg_[0-9a-f]+ from=\S+ to=ann@example\.org server=smtp://\S+ status=sent delay=\S+ attempts=1 reply="2\.0\.0 Ok`,
	} {
		if !regexp.MustCompile(re).MatchString(logs) {
			t.Fatalf("no log line %s in:\n%s", re, logs)
		}
	}
	// What an operator watches, after real mail: deliveries, their delay,
	// sessions, checks, the (empty) queue.
	wantMetric(t, r.srv, `waymark_deliveries_total{outcome="sent",server="smtp://`, 2)
	wantMetric(t, r.srv, `waymark_delivery_delay_seconds_count`, 2)
	wantMetric(t, r.srv, `waymark_delivery_attempt_seconds_count`, 2)
	wantMetric(t, r.srv, `waymark_smtp_sessions_total{service="submission"}`, 1)
	wantMetric(t, r.srv, `waymark_domain_checks_total{kind="sending",result="ok"}`, 1)
	wantMetric(t, r.srv, `waymark_queue_stats_up`, 1)
	wantMetric(t, r.srv, `waymark_queue_oldest_seconds{state="queued"}`, 0)

	// Postfix down: the message is accepted, waits, and arrives after.
	r.postfix.Stop()
	bobOut, code := r.swaks(t, "bob@example.org", fmt.Sprintf(relayMessage, "m2"))
	if code != 0 {
		t.Fatalf("swaks while Postfix is down: exit %d\n%s", code, bobOut)
	}
	bobMsg := regexp.MustCompile(`queued as (msg_[0-9a-f]+)`).FindStringSubmatch(bobOut)[1]
	// Wait for the failed attempt itself (serve's log says it will retry),
	// not for a while: then nothing may have arrived.
	retried := regexp.MustCompile(`relay: delivery.* to=bob@example\.org .*status=deferred`)
	for deadline := time.Now().Add(30 * time.Second); !retried.MatchString(r.srv.stderr.String()); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no failed delivery attempt for bob logged in 30s:\n%s", r.srv.stderr)
		}
	}
	if n := len(r.postfix.Delivered()); n != 2 {
		t.Fatalf("%d messages delivered while Postfix was down", n-2)
	}
	wantMetric(t, r.srv, `waymark_deliveries_total{outcome="deferred",server="smtp://`, 1)
	// The operator asks where it is: deferred, with the reason and the
	// next attempt; the queue has it.
	if out := mustRun(t, r.cli, "message", "show", bobMsg); !regexp.MustCompile(`bob@example\.org\s+[a-z2-7]{16}\s+deferred\s+1\s+\d{4}-`).MatchString(out) {
		t.Fatalf("message show:\n%s", out)
	}
	if out := mustRun(t, r.cli, "queue"); !regexp.MustCompile(`smtp://\S+\s+deferred\s+1`).MatchString(out) {
		t.Fatalf("queue:\n%s", out)
	}
	wantMetric(t, r.srv, `waymark_queue_messages{server="smtp://`, 1)
	r.postfix.Start()
	got = r.postfix.WaitDelivered(3, 30*time.Second)
	if !strings.Contains(string(got[0])+string(got[1])+string(got[2]), "Delivered-To: bob@example.org") {
		t.Fatal("bob's message did not arrive")
	}
	deadline = time.Now().Add(10 * time.Second)
	for out := mustRun(t, r.cli, "message", "show", bobMsg); !regexp.MustCompile(`bob@example\.org\s+\S+\s+sent\s+[2-9]\s+2\.0\.0`).MatchString(out); out = mustRun(t, r.cli, "message", "show", bobMsg) {
		if time.Now().After(deadline) {
			t.Fatalf("message show after delivery:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRelayRefusals: what the SMTP submission refuses, as swaks sees it.
func TestRelayRefusals(t *testing.T) {
	r := startRelay(t, nil)
	for _, tc := range []struct {
		name, data, want string
		extra            []string
	}{
		{"unverified From", strings.Replace(fmt.Sprintf(relayMessage, "x"), "news@acme-mail.com", "news@other.example", 1),
			"550 5.7.1 other.example is not a verified sending domain", nil},
		{"no From", "To: ann@example.org\r\nSubject: x\r\n\r\nhi\r\n", "550 5.6.0 the message has no From header", nil},
		{"bad password", fmt.Sprintf(relayMessage, "x"), "535 5.7.8 authentication failed", []string{"--auth-password", "wmk_wrong"}},
	} {
		out, code := r.swaks(t, "ann@example.org", tc.data, tc.extra...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %q in\n%s", tc.name, code, tc.want, out)
		}
	}
	// Without AUTH: MAIL is refused.
	cmd := exec.Command("swaks", "--server", r.smtp, "--tls", "--from", "a@client.example", "--to", "ann@example.org", "--timeout", "30")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "530 5.7.0 authentication required") {
		t.Errorf("no AUTH: %v\n%s", err, out)
	}
	if n := len(r.postfix.Delivered()); n != 0 {
		t.Fatalf("refused messages were delivered: %d", n)
	}
}

// events returns the cluster's events of a type, as the API lists them.
func (r *relaySetup) events(t *testing.T, typ string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", r.srv.api+"/v1/events?type="+typ, nil)
	req.Header.Set("Authorization", "Bearer "+r.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (r *relaySetup) waitEvent(t *testing.T, typ, contains string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := r.events(t, typ)
		if strings.Contains(got, contains) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event with %s: %s\nPostfix log:\n%s", typ, contains, got, r.postfix.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBounces: Postfix accepts a message it then cannot deliver and sends
// its own DSN to the VERP address, through waymark's bounce host SMTP: a
// hard bounce event, and the address is suppressed. A complaint (ARF)
// sent with swaks to another message's VERP address suppresses its
// recipient too; the relay then refuses both addresses.
func TestBounces(t *testing.T) {
	bouncePort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, []string{fmt.Sprintf("transport_maps = inline:{ bounce.acme-mail.com=smtp:[127.0.0.1]:%d, "+
		"{ bounceme@example.org = error:5.1.1 mailbox unavailable } }", bouncePort)},
		fmt.Sprintf("WAYMARK_BOUNCE_SMTP=127.0.0.1:%d", bouncePort))
	if out, code := r.swaks(t, "bounceme@example.org", fmt.Sprintf(relayMessage, "b1")); code != 0 {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	r.waitEvent(t, "bounce", `"recipient": "bounceme@example.org"`)
	if got := r.events(t, "bounce"); !strings.Contains(got, `"class": "hard"`) || !strings.Contains(got, "5.1.1") {
		t.Fatalf("bounce event: %s", got)
	}

	if out, code := r.swaks(t, "ann@example.org", fmt.Sprintf(relayMessage, "c1")); code != 0 {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	delivered := string(r.postfix.WaitDelivered(1, 30*time.Second)[0])
	verp := regexp.MustCompile(`(?m)^Return-Path: <(b-[a-z2-7]{16}@bounce\.acme-mail\.com)>`).FindStringSubmatch(delivered)
	if verp == nil {
		t.Fatalf("no VERP Return-Path:\n%s", delivered)
	}
	arf := "From: abuse@mailbox.example\r\nTo: " + verp[1] + "\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" +
		"An abuse report.\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: test/1\r\nVersion: 1\r\n" +
		"Original-Mail-From: <" + verp[1] + ">\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n" +
		headersOf(delivered) + "\r\n--b--\r\n"
	cmd := exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", bouncePort), "--from", "<>", "--to", verp[1], "--data", "-", "--timeout", "30")
	cmd.Stdin = strings.NewReader(arf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swaks ARF: %v\n%s", err, out)
	}
	r.waitEvent(t, "complaint", `"recipient": "ann@example.org"`)
	// A DSN written by hand and sent with swaks, as a remote MTA would.
	if out, code := r.swaks(t, "carol@example.org", fmt.Sprintf(relayMessage, "d1")); code != 0 {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	var carol []string
	for _, m := range r.postfix.WaitDelivered(2, 30*time.Second) {
		if strings.Contains(string(m), "Delivered-To: carol@example.org") {
			carol = regexp.MustCompile(`(?m)^Return-Path: <(b-[a-z2-7]{16}@bounce\.acme-mail\.com)>`).FindStringSubmatch(string(m))
		}
	}
	if carol == nil {
		t.Fatal("no message to carol with a VERP Return-Path")
	}
	dsn := "From: MAILER-DAEMON@mx.example.net\r\nTo: " + carol[1] + "\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\r\n\r\n" +
		"--x\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
		"--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; carol@example.org\r\nAction: failed\r\nStatus: 5.2.1\r\n" +
		"Diagnostic-Code: smtp; 550 5.2.1 mailbox disabled\r\n\r\n--x--\r\n"
	cmd = exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", bouncePort), "--from", "<>", "--to", carol[1], "--data", "-", "--timeout", "30")
	cmd.Stdin = strings.NewReader(dsn)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swaks DSN: %v\n%s", err, out)
	}
	r.waitEvent(t, "bounce", `"recipient": "carol@example.org"`)
	// An address that is not a VERP address of relayed mail is refused.
	cmd = exec.Command("swaks", "--server", fmt.Sprintf("127.0.0.1:%d", bouncePort), "--from", "<>", "--to", "b-aaaaaaaaaaaaaaaa@bounce.acme-mail.com", "--timeout", "30")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "550 5.1.1") {
		t.Fatalf("unknown VERP address: %v\n%s", err, out)
	}
	// Both addresses are now refused by the relay, per recipient.
	for _, rcpt := range []string{"bounceme@example.org", "ann@example.org", "carol@example.org"} {
		out, code := r.swaks(t, rcpt, fmt.Sprintf(relayMessage, "again"))
		if code == 0 || !strings.Contains(out, "550 5.7.1 "+rcpt+" is on this cluster's suppression list") {
			t.Fatalf("suppressed %s: exit %d\n%s", rcpt, code, out)
		}
	}

	// The operator's view of the list, and its changes, through the CLI.
	list := mustRun(t, r.cli, "suppression", "list")
	for _, want := range []string{`bounceme@example\.org\s+hard_bounce\s+message msg_[0-9a-f]+`, `ann@example\.org\s+complaint\s+message msg_[0-9a-f]+`, `carol@example\.org\s+hard_bounce\s+message msg_`} {
		if !regexp.MustCompile(want).MatchString(list) {
			t.Fatalf("suppression list lacks %s:\n%s", want, list)
		}
	}
	if out := mustRun(t, r.cli, "suppression", "list", "--reason", "complaint"); strings.Contains(out, "carol") || !strings.Contains(out, "ann@example.org") {
		t.Fatalf("--reason complaint:\n%s", out)
	}
	mustRun(t, r.cli, "suppression", "delete", "carol@example.org")
	if out, code := r.swaks(t, "carol@example.org", fmt.Sprintf(relayMessage, "e1")); code != 0 {
		t.Fatalf("carol after her suppression was removed: exit %d\n%s", code, out)
	}
	csvFile := filepath.Join(t.TempDir(), "list.csv")
	if err := os.WriteFile(csvFile, []byte("email\ndave@example.org\nnot-an-address\nann@example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, r.cli, "suppression", "import", csvFile); !strings.Contains(out, "added 1, already suppressed 1, not addresses 1") || !strings.Contains(out, `line 3: "not-an-address"`) {
		t.Fatalf("import:\n%s", out)
	}
	mustRun(t, r.cli, "suppression", "add", "Erin@Example.org")
	mustRun(t, r.cli, "suppression", "add", "zoe@bücher.example") // kept as the relay reads the RCPT below
	for _, rcpt := range []string{"dave@example.org", "erin@example.org", "Zoe@xn--bcher-kva.example"} {
		if out, code := r.swaks(t, rcpt, fmt.Sprintf(relayMessage, "f1")); code == 0 || !strings.Contains(out, "550 5.7.1") {
			t.Fatalf("%s added by the operator: exit %d\n%s", rcpt, code, out)
		}
	}
}

// headersOf returns the header block of a message.
func headersOf(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	head, _, _ := strings.Cut(msg, "\n\n")
	return strings.ReplaceAll(head, "\n", "\r\n") + "\r\n"
}

// TestKillNineKeepsAcceptedMail: waymark is killed with SIGKILL while
// clients submit and while Postfix is down, so that everything accepted
// is still queued (some of it claimed by a delivery attempt); after both
// are back, every message that got 250 reaches Postfix (at least once:
// the queue id header tells duplicates apart).
func TestKillNineKeepsAcceptedMail(t *testing.T) {
	r := startRelay(t, nil, "WAYMARK_RELAY_LEASE=2s")
	r.postfix.Stop()
	var mu sync.Mutex
	accepted := map[string]bool{} // queue ids that got 250
	queueID := regexp.MustCompile(`queued as msg_[0-9a-f]+ \(([a-z2-7]{16})\)`)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := smtp.DialStartTLS(r.smtp, &tls.Config{InsecureSkipVerify: true})
				if err != nil {
					return // killed
				}
				err = c.Auth(sasl.NewPlainClient("", r.cluster, r.key))
				if err == nil {
					err = c.Mail("client@client.example", nil)
				}
				if err == nil {
					err = c.Rcpt(fmt.Sprintf("load%d-%d@example.org", w, i), nil)
				}
				var d *smtp.DataCommand
				if err == nil {
					d, err = c.Data()
				}
				if err == nil {
					d.Write([]byte(fmt.Sprintf(relayMessage, fmt.Sprintf("k%d-%d", w, i))))
					var resp *smtp.DataResponse
					if resp, err = d.CloseWithResponse(); err == nil {
						if m := queueID.FindStringSubmatch(resp.StatusText); m != nil {
							mu.Lock()
							accepted[m[1]] = true
							mu.Unlock()
						}
					}
				}
				c.Close()
				if err != nil {
					return
				}
			}
		}()
	}
	// Kill once some mail is accepted, while the rest is in flight.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n >= 25 || time.Now().After(deadline) {
			break
		}
	}
	if err := r.srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	r.srv.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(accepted) < 25 {
		t.Fatalf("only %d messages accepted before the kill", len(accepted))
	}
	if n := len(r.postfix.Delivered()); n != 0 {
		t.Fatalf("%d delivered while Postfix was down", n)
	}
	r.postfix.Start()
	startServe(t, r.env) // same database; the queue survives
	deadline := time.Now().Add(60 * time.Second)
	for {
		seen := map[string]bool{}
		for _, m := range r.postfix.Delivered() {
			if id := regexp.MustCompile(`(?m)^X-Waymark-Queue-Id: ([a-z2-7]{16})`).FindSubmatch(m); id != nil {
				seen[string(id[1])] = true
			}
		}
		missing := 0
		for id := range accepted {
			if !seen[id] {
				missing++
			}
		}
		if missing == 0 {
			t.Logf("%d accepted before kill -9, all delivered (%d distinct copies seen)", len(accepted), len(seen))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted messages never arrived", missing, len(accepted))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMilterInPostfix: Postfix with waymark as its milter (one line of
// main.cf) delivers mail from a sending domain rewritten and signed, with
// a VERP envelope sender; python3-dkim and OpenDKIM verify it. Mail from
// other domains passes untouched. Without --milter-cluster (and no SASL
// login) nothing is signed: the From header alone says nothing.
func TestMilterInPostfix(t *testing.T) {
	milterPort, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	milterEnv := fmt.Sprintf("WAYMARK_MILTER=127.0.0.1:%d", milterPort)
	r := startRelay(t, []string{fmt.Sprintf("smtpd_milters = inet:127.0.0.1:%d", milterPort), "milter_default_action = tempfail"}, milterEnv)
	cmd := exec.Command("swaks", "--server", r.postfix.Addr, "--from", "news@acme-mail.com", "--to", "ann@example.org", "--data", "-", "--timeout", "30")
	cmd.Stdin = strings.NewReader(fmt.Sprintf(relayMessage, "anon"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if anon := string(r.postfix.WaitDelivered(1, 30*time.Second)[0]); strings.Contains(anon, "DKIM-Signature") {
		t.Fatalf("signed without a cluster:\n%s", anon)
	}
	// The operator names the cluster this Postfix sends for.
	r.srv.cmd.Process.Signal(syscall.SIGTERM)
	r.srv.cmd.Wait()
	r.srv = startServe(t, append(r.env, "WAYMARK_MILTER_CLUSTER="+r.cluster))
	send := func(from, body string) {
		t.Helper()
		cmd := exec.Command("swaks", "--server", r.postfix.Addr, "--from", from, "--to", "ann@example.org", "--data", "-", "--timeout", "30")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("swaks to Postfix: %v\n%s\nPostfix log:\n%s", err, out, r.postfix.Log())
		}
	}
	send("news@acme-mail.com", "X-Waymark-Note: internal\r\n"+fmt.Sprintf(relayMessage, "milter1"))
	msg := string(r.postfix.WaitDelivered(2, 30*time.Second)[1])
	if !regexp.MustCompile(`(?m)^Return-Path: <b-[a-z2-7]{16}@bounce\.acme-mail\.com>`).MatchString(msg) ||
		!strings.Contains(msg, `href="https://clicks.acme-mail.com/c/`) || strings.Contains(msg, "https://shop.example/spring") ||
		strings.Contains(msg, "X-Waymark-Note") || !strings.Contains(msg, "List-Unsubscribe: <https://clicks.acme-mail.com/u/") {
		t.Fatalf("delivered through the milter:\n%s", msg)
	}
	r.unbound.Flush("waymark.localhost")
	for name, err := range r.unbound.VerifyDKIM(t, msg) {
		if err != nil {
			t.Fatalf("%s refuses the milter's signature: %v\n%s", name, err, msg)
		}
	}
	other := "From: someone@elsewhere.example\r\nTo: ann@example.org\r\nSubject: plain\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n"
	send("someone@elsewhere.example", other)
	got := r.postfix.WaitDelivered(3, 30*time.Second)
	if plain := string(got[2]); strings.Contains(plain, "DKIM-Signature") || !strings.Contains(plain, "https://x.example/") {
		t.Fatalf("mail of another domain was changed:\n%s", plain)
	}
	// Two recipients in one transaction: signed, links left alone (one
	// link cannot carry two recipients).
	cmd = exec.Command("swaks", "--server", r.postfix.Addr, "--from", "news@acme-mail.com", "--to", "ann@example.org,bob@example.org",
		"--data", "-", "--timeout", "30")
	cmd.Stdin = strings.NewReader(fmt.Sprintf(relayMessage, "milter2"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	got = r.postfix.WaitDelivered(5, 30*time.Second)
	for _, m := range got[3:] {
		if !strings.Contains(string(m), "https://shop.example/spring") {
			t.Fatalf("links rewritten for two recipients:\n%s", m)
		}
		for name, err := range r.unbound.VerifyDKIM(t, string(m)) {
			if err != nil {
				t.Fatalf("%s refuses: %v\n%s", name, err, m)
			}
		}
	}
	// Ann unsubscribes (her one-click link): the milter then keeps her
	// off the envelope, and refuses a message for her alone.
	u := regexp.MustCompile(`List-Unsubscribe: <https://clicks\.acme-mail\.com(/u/[A-Za-z0-9_-]+)>`).FindStringSubmatch(msg)
	req, _ := http.NewRequest("POST", r.srv.edge+u[1], strings.NewReader("List-Unsubscribe=One-Click"))
	req.Host = "clicks.acme-mail.com"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("unsubscribe: %v %v", resp, err)
	}
	cmd = exec.Command("swaks", "--server", r.postfix.Addr, "--from", "news@acme-mail.com", "--to", "ann@example.org", "--data", "-", "--timeout", "30")
	cmd.Stdin = strings.NewReader(fmt.Sprintf(relayMessage, "milter3"))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "suppression list") {
		t.Fatalf("a message for a suppressed recipient alone: %v\n%s", err, out)
	}
	cmd = exec.Command("swaks", "--server", r.postfix.Addr, "--from", "news@acme-mail.com", "--to", "ann@example.org,bob@example.org",
		"--data", "-", "--timeout", "30")
	cmd.Stdin = strings.NewReader(fmt.Sprintf(relayMessage, "milter4"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	r.postfix.WaitDelivered(6, 30*time.Second)
	time.Sleep(time.Second) // time for a copy to ann to arrive, if one were sent
	got = r.postfix.Delivered()
	if len(got) != 6 || !strings.Contains(string(got[5]), "Delivered-To: bob@example.org") {
		t.Fatalf("%d delivered; the last:\n%s", len(got), got[len(got)-1])
	}
}

// TestUnsignedMailThroughPostfix: a cluster whose delivery servers sign
// for themselves. Mail from a domain that is not one of its sending
// domains is refused until the cluster sets unsigned_mail to relay (with
// the CLI); then swaks submits it through waymark, and Postfix delivers it
// without a DKIM signature, with the envelope sender swaks gave, and with
// its links on the delivery server's tracking domain; the relayed event
// says it went unsigned.
func TestUnsignedMailThroughPostfix(t *testing.T) {
	r := startRelay(t, nil, "WAYMARK_DELIVERY_ALLOW_PRIVATE=true")
	msg := strings.ReplaceAll(fmt.Sprintf(relayMessage, "u1"), "news@acme-mail.com", "news@partner.example")
	if out, code := r.swaks(t, "ann@example.org", msg); code == 0 || !strings.Contains(out, "550 5.7.1") || !strings.Contains(out, "unsigned_mail") {
		t.Fatalf("before the setting: exit %d\n%s", code, out)
	}
	if out := mustRun(t, r.cli, "cluster", "set", r.cluster, "--unsigned-mail", "relay"); !regexp.MustCompile(`UNSIGNED MAIL\s+relay`).MatchString(out) {
		t.Fatalf("cluster set:\n%s", out)
	}
	// The delivery server's own tracking domain, verified in the
	// customer's DNS.
	var td struct {
		ID    string
		CNAME struct{ Value string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, r.cli, "tracking-domain", "add", "links.acme-mail.com", "--json")), &td); err != nil {
		t.Fatal(err)
	}
	r.unbound.Set("links.acme-mail.com. 300 IN CNAME " + td.CNAME.Value + ".")
	if out := mustRun(t, r.cli, "tracking-domain", "verify", "links.acme-mail.com"); !regexp.MustCompile(`STATUS\s+active`).MatchString(out) {
		t.Fatalf("verify the tracking domain:\n%s", out)
	}
	body, _ := json.Marshal(map[string]any{"name": "postfix", "url": "smtp://" + r.postfix.Addr, "tracking_domain_id": td.ID, "default": true})
	req, _ := http.NewRequest("POST", r.srv.api+"/v1/delivery-servers", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("delivery server: %d %s", resp.StatusCode, b)
	}

	out, code := r.swaks(t, "ann@example.org", msg, "--from", "bounces@partner.example")
	if code != 0 || !strings.Contains(out, "250 2.0.0 queued as msg_") {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	got := string(r.postfix.WaitDelivered(1, 30*time.Second)[0])
	if !regexp.MustCompile(`(?m)^Return-Path: <bounces@partner\.example>\r?$`).MatchString(got) || strings.Contains(got, "DKIM-Signature") ||
		!strings.Contains(got, `href="https://links.acme-mail.com/c/`) || strings.Contains(got, "https://shop.example/spring") ||
		!strings.Contains(got, "List-Unsubscribe: <https://links.acme-mail.com/u/") {
		t.Fatalf("delivered:\n%s", got)
	}
	r.waitEvent(t, "relayed", `unsigned (its From domain is not a verified sending domain of the cluster)`)
	if !strings.Contains(r.srv.stderr.String(), "relay: queued unsigned") {
		t.Fatalf("no log line for the unsigned message:\n%s", r.srv.stderr)
	}
	// Mail from the verified sending domain is still signed, with VERP.
	if out, code := r.swaks(t, "bob@example.org", fmt.Sprintf(relayMessage, "s1")); code != 0 {
		t.Fatalf("signed: exit %d\n%s", code, out)
	}
	for _, m := range r.postfix.WaitDelivered(2, 30*time.Second) {
		if s := string(m); strings.Contains(s, "Delivered-To: bob@example.org") &&
			(!strings.Contains(s, "DKIM-Signature") || !regexp.MustCompile(`(?m)^Return-Path: <b-[a-z2-7]{16}@bounce\.acme-mail\.com>`).MatchString(s)) {
			t.Fatalf("the signed message:\n%s", s)
		}
	}
}

// readNotice parses a delivered notice: its subject and its parts' text
// by content type.
func readNotice(t *testing.T, msg string) (string, map[string]string) {
	t.Helper()
	r, err := gomail.CreateReader(strings.NewReader(msg))
	if err != nil {
		t.Fatalf("notice does not parse: %v\n%s", err, msg)
	}
	subject, _ := r.Header.Subject()
	parts := map[string]string{}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h, ok := p.Header.(*gomail.InlineHeader)
		if !ok {
			continue
		}
		ct, _, _ := h.ContentType()
		b, _ := io.ReadAll(p.Body)
		parts[ct] = string(b)
	}
	return subject, parts
}

// notices returns the notices Postfix has delivered, oldest first.
func (r *relaySetup) notices() []string {
	var out []string
	for _, m := range r.postfix.Delivered() {
		if strings.Contains(string(m), "X-Waymark-Notice: ") {
			out = append(out, string(m))
		}
	}
	return out
}

// waitNotices waits until Postfix has n notices, and a moment more for
// any that should not come.
func (r *relaySetup) waitNotices(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(r.notices()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notices arrived; Postfix log:\n%s\nwaymark:\n%s", len(r.notices()), n, r.postfix.Log(), r.srv.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // a notice is queued before verify answers: time for an extra one to arrive
	got := r.notices()
	if len(got) != n {
		t.Fatalf("%d notices, want %d:\n%s", len(got), n, strings.Join(got, "\n-----\n"))
	}
	return got
}

// TestNoticesByEmail: with --notify-from on the platform's own sending
// domain and the cluster's notify_email set, a tracking domain's two
// strikes against Unbound make exactly two emails at Postfix (the
// warning, then the deactivation), each naming the record to publish,
// signed by the platform's domain (python3-dkim and OpenDKIM verify them);
// a check that passes in between makes none.
func TestNoticesByEmail(t *testing.T) {
	r := startRelay(t, nil, "WAYMARK_NOTIFY_FROM=notices@acme-mail.com")
	if out := mustRun(t, r.cli, "cluster", "set", r.cluster, "--notify-email", "ops@example.org"); !regexp.MustCompile(`NOTIFY EMAIL\s+ops@example\.org`).MatchString(out) {
		t.Fatalf("cluster set:\n%s", out)
	}
	add := func(name string) string {
		var td struct{ CNAME struct{ Value string } }
		if err := json.Unmarshal([]byte(mustRun(t, r.cli, "tracking-domain", "add", name, "--json")), &td); err != nil {
			t.Fatal(err)
		}
		r.unbound.Set(name + ". 300 IN CNAME " + td.CNAME.Value + ".")
		if out := mustRun(t, r.cli, "tracking-domain", "verify", name); !regexp.MustCompile(`STATUS\s+active`).MatchString(out) {
			t.Fatalf("verify %s:\n%s", name, out)
		}
		return td.CNAME.Value
	}
	verify := func(name, want string) {
		t.Helper()
		o, _, _ := waymark(t, r.cli, "tracking-domain", "verify", name)
		if !regexp.MustCompile(`STATUS\s+` + want).MatchString(o) {
			t.Fatalf("verify %s: want %s\n%s", name, want, o)
		}
	}
	target := add("links.acme-mail.com")
	r.waitNotices(t, 0) // becoming active is no notice

	r.unbound.Remove("links.acme-mail.com")
	verify("links.acme-mail.com", "active") // the first strike
	warning := r.waitNotices(t, 1)[0]
	verify("links.acme-mail.com", "pending") // the second
	got := r.waitNotices(t, 2)
	deactivated := got[1]
	for _, tc := range []struct{ msg, subject, says string }{
		{warning, "Action needed: the tracking domain links.acme-mail.com failed a check", "If the next check fails too, it is deactivated"},
		{deactivated, "Deactivated: the tracking domain links.acme-mail.com", "failed two checks in a row"},
	} {
		subject, parts := readNotice(t, tc.msg)
		text := parts["text/plain"]
		if subject != tc.subject || !strings.Contains(tc.msg, "To: <ops@example.org>") ||
			!strings.Contains(text, "Value: "+target) || !strings.Contains(text, "Name:  links.acme-mail.com") ||
			!strings.Contains(text, "links.acme-mail.com does not exist in DNS") || !strings.Contains(text, tc.says) ||
			!strings.Contains(parts["text/html"], "<code>"+target+"</code>") ||
			!regexp.MustCompile(`(?m)^Return-Path: <b-[a-z2-7]{16}@bounce\.acme-mail\.com>`).MatchString(tc.msg) {
			t.Fatalf("notice %q:\n%s\n%s", subject, text, tc.msg)
		}
		for name, err := range r.unbound.VerifyDKIM(t, tc.msg) {
			if err != nil {
				t.Fatalf("%s refuses the notice: %v\n%s", name, err, tc.msg)
			}
		}
	}

	// Another domain fails once, then passes: the pass sends nothing.
	target = add("pass.acme-mail.com")
	r.unbound.Remove("pass.acme-mail.com")
	verify("pass.acme-mail.com", "active")
	r.waitNotices(t, 3)
	r.unbound.Set("pass.acme-mail.com. 300 IN CNAME " + target + ".")
	verify("pass.acme-mail.com", "active")
	verify("pass.acme-mail.com", "active")
	r.waitNotices(t, 3)
	if strings.Contains(r.events(t, "relayed"), "ops@example.org") {
		t.Fatal("notices are in the cluster's relayed events")
	}
}

// TestLinkSafety: with --uribl on a blocklist zone Unbound serves, a
// message with a link to a listed domain is refused over SMTP (550 5.7.1
// naming the domain, the list and the decoded code), one with clean links
// goes; the admin's own blocklist refuses too; and a link already
// delivered stops redirecting once its domain is blocked.
func TestLinkSafety(t *testing.T) {
	r := startRelay(t, nil, "WAYMARK_URIBL=dbl.example")
	r.unbound.Set("bad-shop.example.dbl.example. 300 IN A 127.0.1.2")
	withLink := func(id, href string) string {
		return strings.Replace(fmt.Sprintf(relayMessage, id), "https://shop.example/spring", href, 1)
	}
	out, code := r.swaks(t, "ann@example.org", withLink("l1", "https://www.bad-shop.example/deal"))
	if code == 0 || !strings.Contains(out, "550 5.7.1") || !strings.Contains(out, "bad-shop.example is listed on dbl.example (spam domain)") {
		t.Fatalf("a listed link: exit %d\n%s", code, out)
	}
	if out, code := r.swaks(t, "ann@example.org", withLink("l2", "https://later.example/offer")); code != 0 {
		t.Fatalf("a clean link: exit %d\n%s", code, out)
	}
	delivered := string(r.postfix.WaitDelivered(1, 30*time.Second)[0])
	status, _, body := apiCall(t, "POST", r.srv.api+"/v1/blocked-domains", r.srv.adminKey(t), "application/json", `{"domain": "www.later.example", "reason": "reported phishing"}`)
	if status != 201 || !strings.Contains(body, `"domain": "later.example"`) {
		t.Fatalf("block: %d %s", status, body)
	}
	out, code = r.swaks(t, "bob@example.org", withLink("l3", "https://later.example/offer"))
	if code == 0 || !strings.Contains(out, "later.example is listed on the platform's blocklist (reported phishing)") {
		t.Fatalf("a link to a blocked domain: exit %d\n%s", code, out)
	}
	// The link delivered before the block: no redirect any more.
	link := regexp.MustCompile(`https://clicks\.acme-mail\.com(/c/[A-Za-z0-9_-]+)`).FindAllStringSubmatch(delivered, -1)
	if len(link) == 0 {
		t.Fatalf("no link:\n%s", delivered)
	}
	refused := false
	for _, l := range link {
		req, _ := http.NewRequest("GET", r.srv.edge+l[1], nil)
		req.Host = "clicks.acme-mail.com"
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 403 && strings.Contains(string(page), "later.example is listed on the platform") {
			refused = true
		}
		if resp.StatusCode == 302 && strings.Contains(resp.Header.Get("Location"), "later.example") {
			t.Fatalf("a blocked destination was redirected to: %s", resp.Header.Get("Location"))
		}
	}
	if !refused {
		t.Fatal("no click on the blocked link was refused")
	}
}

// TestDMARCPolicyServed: a customer's own DMARC policy, set with the CLI,
// is what a resolver finds at _dmarc.<domain> from the next query on
// (through the customer's CNAME and waymark's zone, asked of Unbound);
// set back to the default, the default is served.
func TestDMARCPolicyServed(t *testing.T) {
	r := startRelay(t, nil)
	txt := func() string {
		t.Helper()
		r.unbound.Flush("waymark.localhost")
		r.unbound.Flush("acme-mail.com")
		m := new(dns.Msg)
		m.SetQuestion("_dmarc.acme-mail.com.", dns.TypeTXT)
		resp, err := dns.Exchange(m, r.unbound.Addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, rr := range resp.Answer {
			if t, ok := rr.(*dns.TXT); ok {
				return strings.Join(t.Txt, "")
			}
		}
		return fmt.Sprint(resp)
	}
	if got := txt(); got != "v=DMARC1; p=none; adkim=r; aspf=r" {
		t.Fatalf("the default policy: %q", got)
	}
	out := mustRun(t, r.cli, "sending-domain", "set", "acme-mail.com", "--dmarc", "p=reject; pct=50; rua=dmarc@acme-mail.com; adkim=s")
	want := "v=DMARC1; p=reject; pct=50; adkim=s; rua=mailto:dmarc@acme-mail.com"
	if !strings.Contains(out, "DMARC: "+want) {
		t.Fatalf("sending-domain set:\n%s", out)
	}
	if got := txt(); got != want {
		t.Fatalf("served after the change: %q, want %q", got, want)
	}
	if _, errOut, code := waymark(t, r.cli, "sending-domain", "set", "acme-mail.com", "--dmarc", "p=drop"); code != 1 || !strings.Contains(errOut, "dmarc.p must be none, quarantine or reject") {
		t.Fatalf("a bad policy: exit %d %s", code, errOut)
	}
	mustRun(t, r.cli, "sending-domain", "set", "acme-mail.com", "--dmarc", "default")
	if got := txt(); got != "v=DMARC1; p=none; adkim=r; aspf=r" {
		t.Fatalf("back to the default: %q", got)
	}
}

// TestWebVersion: {{webversion}} becomes the recipient's /v/ link; the
// edge shows their own copy (their tracked links, images as they were, no
// pixel) as a page that runs no script, and records a view event.
func TestWebVersion(t *testing.T) {
	r := startRelay(t, nil)
	msg := strings.Replace(fmt.Sprintf(relayMessage, "w1"), "<p><a href=\"{{forward}}\">Forward to a friend</a></p>",
		"<p><a href=\"{{webversion}}\">View in your browser</a> <img src=\"https://cdn.example/logo.png\" alt=\"logo\"></p>"+
			"<meta http-equiv=\"refresh\" content=\"1;url=https://elsewhere.example/\"><a href=\"https://raw.example/\" data-waymark=\"off\">raw</a>", 1)
	if out, code := r.swaks(t, "ann@example.org", msg); code != 0 {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	delivered := string(r.postfix.WaitDelivered(1, 30*time.Second)[0])
	v := regexp.MustCompile(`https://clicks\.acme-mail\.com(/v/[A-Za-z0-9_-]+)`).FindStringSubmatch(delivered)
	if v == nil || strings.Contains(delivered, "{{webversion}}") {
		t.Fatalf("no web version link:\n%s", delivered)
	}
	req, _ := http.NewRequest("GET", r.srv.edge+v[1], nil)
	req.Host = "clicks.acme-mail.com"
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `href="https://clicks.acme-mail.com/c/`) ||
		!strings.Contains(string(page), `<img src="https://cdn.example/logo.png"`) || strings.Contains(string(page), "/o/") ||
		strings.Contains(string(page), "display:none") || strings.Contains(string(page), "refresh") || strings.Contains(string(page), `href="https://raw.example/"`) ||
		strings.Contains(string(page), "https://shop.example/spring") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("web version: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	r.waitEvent(t, "view", `"recipient": "ann@example.org"`)
	// Another tracking host of no cluster, or a bad token: 404.
	req, _ = http.NewRequest("GET", r.srv.edge+v[1]+"x", nil)
	req.Host = "clicks.acme-mail.com"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
		t.Fatalf("an altered token: %v %v", resp, err)
	}
}

// TestTrackSwitchesThroughPostfix: the cluster turns link tracking off
// (CLI): delivered links stay as written but the unsubscribe link is
// there; a message's X-Waymark-Track header turns links back on and the
// pixel off, and is not delivered.
func TestTrackSwitchesThroughPostfix(t *testing.T) {
	r := startRelay(t, nil)
	if out := mustRun(t, r.cli, "cluster", "set", r.cluster, "--track-clicks", "off"); !regexp.MustCompile(`TRACKING\s+opens on, clicks off`).MatchString(out) {
		t.Fatalf("cluster set:\n%s", out)
	}
	msg := strings.Replace(fmt.Sprintf(relayMessage, "t1"), "<p><a href=\"{{forward}}\">Forward to a friend</a></p>", "<p><a href=\"{{unsubscribe}}\">Unsubscribe</a></p></body>", 1)
	if out, code := r.swaks(t, "ann@example.org", msg); code != 0 {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	off := string(r.postfix.WaitDelivered(1, 30*time.Second)[0])
	if !strings.Contains(off, `href="https://shop.example/spring"`) || !strings.Contains(off, `href="https://clicks.acme-mail.com/u/`) ||
		!strings.Contains(off, "List-Unsubscribe: <https://clicks.acme-mail.com/u/") || !strings.Contains(off, `/o/`) {
		t.Fatalf("clicks off:\n%s", off)
	}
	if out, code := r.swaks(t, "bob@example.org", "X-Waymark-Track: clicks=all, opens=off\r\n"+strings.Replace(msg, "t1@", "t2@", 1)); code != 0 {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	var on string
	for _, m := range r.postfix.WaitDelivered(2, 30*time.Second) {
		if strings.Contains(string(m), "Delivered-To: bob@example.org") {
			on = string(m)
		}
	}
	if strings.Contains(on, `href="https://shop.example/spring"`) || !strings.Contains(on, `href="https://clicks.acme-mail.com/c/`) ||
		strings.Contains(on, "/o/") || strings.Contains(on, "X-Waymark-Track") {
		t.Fatalf("the header's switches:\n%s", on)
	}
	for name, err := range r.unbound.VerifyDKIM(t, on) {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// TestKeyRevokedThroughSMTP: a second key made with the CLI submits
// through waymark to Postfix; revoked with the CLI, it is refused at once:
// at the next MAIL FROM of the session it opened, at AUTH (swaks), by the
// API; the cluster's first key goes on working.
func TestKeyRevokedThroughSMTP(t *testing.T) {
	r := startRelay(t, nil)
	out := mustRun(t, r.cli, "key", "create", "--label", "newsletter server")
	second := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	id := regexp.MustCompile(`key_[0-9a-f]{16}`).FindString(out)
	if second == "" || id == "" {
		t.Fatalf("key create:\n%s", out)
	}
	if list := mustRun(t, r.cli, "key", "list"); !regexp.MustCompile(`newsletter server\s+\S+ \S+ UTC\s+`+id).MatchString(list) ||
		!regexp.MustCompile(`created with the cluster \(this key\)\s+\S+ \S+ UTC\s+key_`).MatchString(list) {
		t.Fatalf("key list:\n%s", list)
	}
	c, err := smtp.DialStartTLS(r.smtp, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", r.cluster, second)); err != nil {
		t.Fatalf("AUTH with the second key: %v", err)
	}
	if err := c.SendMail("client@client.example", []string{"ann@example.org"}, strings.NewReader(fmt.Sprintf(relayMessage, "k1"))); err != nil {
		t.Fatalf("mail with the second key: %v", err)
	}
	r.postfix.WaitDelivered(1, 30*time.Second)

	// Revoked between RCPT and DATA: the message being sent is refused at
	// the end of DATA, and the session's next MAIL FROM too.
	if err := c.Mail("client@client.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ann@example.org", nil); err != nil {
		t.Fatal(err)
	}
	mustRun(t, r.cli, "key", "revoke", id)
	d, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(d, relayMessage, "k1b")
	err = d.Close()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 530 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 0}) || !strings.Contains(se.Message, "revoked") {
		t.Fatalf("DATA after the key was revoked: %v", err)
	}
	err = c.Mail("client@client.example", nil)
	if !errors.As(err, &se) || se.Code != 530 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 0}) {
		t.Fatalf("MAIL FROM after the key was revoked: %v", err)
	}
	out, code := r.swaks(t, "ann@example.org", fmt.Sprintf(relayMessage, "k2"), "--auth-password", second)
	if code == 0 || !strings.Contains(out, "535 5.7.8") {
		t.Fatalf("AUTH with a revoked key: exit %d\n%s", code, out)
	}
	if _, errOut, code := waymark(t, []string{"WAYMARK_API=" + r.srv.api, "WAYMARK_KEY=" + second}, "tracking-domain", "list"); code != 1 || !strings.Contains(errOut, "invalid API key") {
		t.Fatalf("the API with a revoked key: exit %d\n%s", code, errOut)
	}
	if out, code := r.swaks(t, "ann@example.org", fmt.Sprintf(relayMessage, "k3")); code != 0 {
		t.Fatalf("the first key after the second was revoked: exit %d\n%s", code, out)
	}
}
