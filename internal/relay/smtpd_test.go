package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func startSubmission(t *testing.T, f *fixture, rateLimit float64) (addr, key string) {
	t.Helper()
	key = testKey
	c, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	s := &SMTPServer{Relay: f.relay, Store: f.st, Hostname: "smtp.waymark.localhost", Rate: rateLimit, Burst: 1, Log: f.relay.Log,
		MaxBytes: 64 << 10}
	a, err := s.Listen(c, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return a.String(), key
}

func smtpCode(err error) (int, string) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, se.Message
	}
	return 0, ""
}

func TestSMTPSubmission(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	addr, key := startSubmission(t, f, 0)
	dial := func() *smtp.Client {
		c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// No AUTH: MAIL is refused.
	c := dial()
	if code, _ := smtpCode(c.Mail("x@example.com", nil)); code != 530 {
		t.Fatalf("MAIL without AUTH: %d", code)
	}
	// A wrong key, or another cluster's id with this key.
	for _, user := range []string{"cl_00000000000000aa:wmk_wrong", "cl_00000000000000bb:" + key} {
		u, p, _ := strings.Cut(user, ":")
		if code, _ := smtpCode(dial().Auth(sasl.NewPlainClient("", u, p))); code != 535 {
			t.Fatalf("AUTH as %s: %d", u, code)
		}
	}
	c = dial()
	if err := c.Auth(sasl.NewPlainClient("", "cl_00000000000000aa", key)); err != nil {
		t.Fatal(err)
	}
	f.suppress(t, "gone@example.org", "complaint")
	if err := c.Mail("whatever@client.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ann@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if code, msg := smtpCode(c.Rcpt("gone@example.org", nil)); code != 550 || !strings.Contains(msg, "suppression list") {
		t.Fatalf("suppressed RCPT: %d %s", code, msg)
	}
	// A quoted local part would be unquoted into the relayed RCPT TO,
	// smuggling a parameter (and a suppressed address) through.
	if code, _ := smtpCode(c.Rcpt(`"gone@example.org> NOTIFY=NEVER"@x.example`, nil)); code < 500 {
		t.Fatalf("quoted local part: %d", code)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(newsletter)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil || resp.StatusText[:len("2.0.0 queued as msg_")] != "2.0.0 queued as msg_" {
		t.Fatalf("DATA: %+v %v", resp, err)
	}
	// The From domain must be a verified sending domain of the cluster.
	w = startData(t, c)
	if _, err := w.Write([]byte(strings.ReplaceAll(newsletter, "news@acme-mail.com", "news@unverified.example"))); err != nil {
		t.Fatal(err)
	}
	if code, msg := smtpCode(w.Close()); code != 550 || !strings.Contains(msg, "unverified.example is not a verified sending domain") {
		t.Fatalf("unverified From: %d %s", code, msg)
	}
	// A bare CR (SMTP smuggling's way in) is refused.
	w = startData(t, c)
	if _, err := w.Write([]byte(strings.Replace(newsletter, "Subject: Spring", "Subject: Spring\r.\rMAIL FROM:<x@y>", 1))); err != nil {
		t.Fatal(err)
	}
	if code, msg := smtpCode(w.Close()); code != 550 || !strings.Contains(msg, "CRLF") {
		t.Fatalf("bare CR: %d %s", code, msg)
	}
	// A NUL is refused for good, with a sentence.
	w = startData(t, c)
	if _, err := w.Write([]byte(strings.Replace(newsletter, "Spring", "Spr\x00ing", 1))); err != nil {
		t.Fatal(err)
	}
	if code, msg := smtpCode(w.Close()); code != 550 || !strings.Contains(msg, "NUL") {
		t.Fatalf("NUL: %d %s", code, msg)
	}
	// A line longer than the server reads is a permanent refusal, never a
	// 451 that the client would retry for days (it breaks the session: a
	// connection of its own).
	long := dial()
	if err := long.Auth(sasl.NewPlainClient("", "cl_00000000000000aa", key)); err != nil {
		t.Fatal(err)
	}
	w = startData(t, long)
	if _, err := w.Write([]byte(strings.Replace(newsletter, "Subject: Spring", "Subject: Spring"+strings.Repeat(" x", 3000), 1))); err != nil {
		t.Fatal(err)
	}
	if code, msg := smtpCode(w.Close()); code != 550 || !strings.Contains(msg, "998") {
		t.Fatalf("a 6000-octet line: %d %s", code, msg)
	}
	f.deliver(t)
	if got := k.received(); len(got) != 1 || got[0].rcpt != "ann@example.org" {
		t.Fatalf("delivered: %+v", got)
	}
}

// startData opens a message to ann@example.org on an authenticated
// client: MAIL, RCPT and DATA must be accepted.
func startData(t *testing.T, c *smtp.Client) *smtp.DataCommand {
	t.Helper()
	if err := c.Mail("x@client.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ann@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestBareLineBreak(t *testing.T) {
	for in, want := range map[string]bool{"a\r\nb\r\n": false, "": false, "a\rb": true, "a\nb": true, "a\r": true, "\nb": true, "a\r\r\n": true} {
		if got := bareLineBreak([]byte(in)); got != want {
			t.Errorf("%q: %v", in, got)
		}
	}
}

func TestSMTPRateLimit(t *testing.T) {
	f := newFixture(t, "smtp://127.0.0.1:9")
	addr, key := startSubmission(t, f, 0.001)
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "cl_00000000000000aa", key)); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if code, _ := smtpCode(c.Mail("", nil)); code != 450 {
		t.Fatalf("second message within the rate: %d", code)
	}
}

func TestSMTPSizeLimit(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	addr, key := startSubmission(t, f, 0)
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "cl_00000000000000aa", key)); err != nil {
		t.Fatal(err)
	}
	if size, ok := c.MaxMessageSize(); !ok || size != 64<<10 {
		t.Fatalf("SIZE %d %v", size, ok)
	}
	w := startData(t, c)
	if _, err := w.Write([]byte(newsletter + strings.Repeat("<p>padding padding padding padding</p>\r\n", 2000))); err != nil {
		t.Fatal(err)
	}
	if code, msg := smtpCode(w.Close()); code != 552 {
		t.Fatalf("oversized message: %d %s", code, msg)
	}
	f.deliver(t)
	if n := len(k.received()); n != 0 {
		t.Fatalf("an oversized message was relayed: %d", n)
	}
}

// TestQueuedText: the reply to DATA names every copy that fits on one
// reply line of 512 octets (RFC 5321 section 4.5.3.1.5), then says how
// many more; a thousand recipients used to make a 17 KB line.
func TestQueuedText(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%016d", i)
		}
		return out
	}
	if got := queuedText("msg_1", ids(2)); got != "queued as msg_1 (0000000000000000 0000000000000001)" {
		t.Fatalf("two copies: %q", got)
	}
	for _, n := range []int{0, 1, 26, 27, 28, 1000} {
		got := queuedText("msg_0123456789abcdef", ids(n))
		if line := "250 2.0.0 " + got + "\r\n"; len(line) > 512 {
			t.Errorf("%d copies: a %d-octet reply line", n, len(line))
		}
		listed := 0
		for _, f := range strings.FieldsFunc(got, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
			if len(f) == 16 {
				listed++
			}
		}
		if more := strings.Contains(got, " more)"); more != (listed < n) {
			t.Errorf("%d copies: %d listed, %q", n, listed, got)
		}
		if listed < n && !strings.HasSuffix(got, fmt.Sprintf("and %d more)", n-listed)) {
			t.Errorf("%d copies: %d listed, %q", n, listed, got)
		}
	}
}

// TestAuthThrottled: after five failed AUTHs in a session, the sixth gets
// 454 4.7.0 after a delay, even with the right key, and the connection
// ends; the client's next connections are refused at once (421 4.7.0).
func TestAuthThrottled(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	addr, key := startSubmission(t, f, 0)
	dial := func() (*smtp.Client, error) {
		return smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	}
	guess := func(c *smtp.Client, n int) {
		t.Helper()
		if code, _ := smtpCode(c.Auth(sasl.NewPlainClient("", "cl_00000000000000aa", "wmk_wrong"))); code != 535 {
			t.Fatalf("guess %d: %d", n, code)
		}
	}
	first, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		guess(first, i+1)
	}
	first.Close()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	guess(c, 5)
	start := time.Now()
	code, msg := smtpCode(c.Auth(sasl.NewPlainClient("", "cl_00000000000000aa", key)))
	if code != 454 || !strings.Contains(msg, "try again in") || time.Since(start) < authDelay {
		t.Fatalf("the right key after five failures: %d %q after %v", code, msg, time.Since(start))
	}
	time.Sleep(400 * time.Millisecond) // closeSoon's moment
	if err := c.Noop(); err == nil {
		t.Fatal("the connection stayed open")
	}
	if _, err := dial(); err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("a new connection from the throttled address: %v", err)
	}
}

// TestClusterNotLockedOut: five wrong keys for a cluster id from one
// address slow wrong keys for it from others, but its right key, from
// another address, still gets in: failing in a cluster's name cannot lock
// the cluster out.
func TestClusterNotLockedOut(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	addr, key := startSubmission(t, f, 0)
	from := func(ip string) *smtp.Client {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for i := range 5 {
		c := from("127.0.0.20")
		if code, _ := smtpCode(c.Auth(sasl.NewPlainClient("", "cl_00000000000000aa", "wmk_wrong"))); code != 535 {
			t.Fatalf("guess %d: %d", i+1, code)
		}
	}
	if code, _ := smtpCode(from("127.0.0.21").Auth(sasl.NewPlainClient("", "cl_00000000000000aa", "wmk_wrong"))); code != 454 {
		t.Fatalf("a wrong key for the guessed cluster from elsewhere: %d, want 454", code)
	}
	if err := from("127.0.0.22").Auth(sasl.NewPlainClient("", "cl_00000000000000aa", key)); err != nil {
		t.Fatalf("the cluster's right key from another address: %v", err)
	}
}
