package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending/sendingtest"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
	"github.com/waymark-mail/waymark/internal/testenv"
	"github.com/waymark-mail/waymark/internal/track"
	"github.com/waymark-mail/waymark/internal/uribl"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var ctx = context.Background()

// testKey is the API key of the test cluster.
const testKey = "wmk_testkeytestkeytestkeytestkey23"

func TestRetryPolicy(t *testing.T) {
	p := RetryPolicy{Base: time.Minute, Max: time.Hour, Expire: 5 * 24 * time.Hour}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now      time.Duration // after created
		attempts int
		wait     time.Duration
		ok       bool
	}{
		{0, 1, time.Minute, true},
		{0, 2, 2 * time.Minute, true},
		{0, 3, 4 * time.Minute, true},
		{0, 7, time.Hour, true},
		{0, 50, time.Hour, true},
		{5*24*time.Hour - time.Hour, 20, time.Hour, true},
		{5*24*time.Hour - 30*time.Minute, 20, 0, false},
		{6 * 24 * time.Hour, 1, 0, false},
	} {
		now := created.Add(tc.now)
		next, ok := p.Next(created, now, tc.attempts)
		if ok != tc.ok || (ok && next.Sub(now) != tc.wait) {
			t.Errorf("at +%v after %d attempts: %v %v; want wait %v %v", tc.now, tc.attempts, next.Sub(now), ok, tc.wait, tc.ok)
		}
	}
}

func TestVERP(t *testing.T) {
	id := NewMailID()
	addr := VERP(id, "bounce.example.com")
	if len(addr[:strings.IndexByte(addr, '@')]) > 64 {
		t.Fatalf("local part over 64 octets: %s", addr)
	}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{addr, true},
		{strings.ToUpper(addr), true}, // an MTA changed the case
		{"b-short@bounce.example.com", false},
		{"x-" + id + "@bounce.example.com", false},
		{"b-" + id, false},
		{"b-" + strings.Repeat("1", 16) + "@h", false}, // not base32
	} {
		got, ok := ParseVERP(tc.addr)
		if ok != tc.ok || (ok && got != id) {
			t.Errorf("%q: %q %v", tc.addr, got, ok)
		}
	}
}

// sink is a delivery server: a real SMTP server (go-smtp) on loopback
// that keeps what it is sent, or answers with reply.
type sink struct {
	mu    sync.Mutex
	got   []received
	reply *smtp.SMTPError // refuse RCPT with this
	addr  string
}

type received struct {
	from, rcpt string
	data       []byte
}

func startSink(t *testing.T) *sink {
	t.Helper()
	k := &sink{}
	srv := smtp.NewServer(k)
	srv.Domain = "sink.localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	k.addr = ln.Addr().String()
	return k
}

func (k *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{k: k}, nil }

type sinkSession struct {
	k          *sink
	from, rcpt string
}

func (s *sinkSession) AuthMechanisms() []string { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.reply != nil {
		return s.k.reply
	}
	s.rcpt = to
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.k.mu.Lock()
	s.k.got = append(s.k.got, received{s.from, s.rcpt, b})
	s.k.mu.Unlock()
	return nil
}
func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }

func (k *sink) received() []received {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]received(nil), k.got...)
}

type fixture struct {
	st    store.Store
	relay *Relay
	keys  map[string]string // selector._domainkey.<domain> -> TXT
}

func newFixture(t testing.TB, server string) *fixture {
	t.Helper()
	st := storetest.SQLite(t)
	box, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.CreateCluster(ctx, store.Cluster{ID: "cl_00000000000000aa", Name: "acme", CreatedAt: now}, apikey.Hash(testKey)); err != nil {
		t.Fatal(err)
	}
	d := sendingtest.Domain(t, st, box, "cl_00000000000000aa", "sd_1", "l1", "acme-mail.com", domain.StatusActive, []string{"rsa", "ed25519"}, now)
	stored, err := st.DKIMKeys(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, k := range stored {
		sel := map[string][2]string{"rsa": {"wm1", "wm2"}, "ed25519": {"wme1", "wme2"}}[k.Algorithm][k.Slot]
		keys[sel+"._domainkey.acme-mail.com"] = k.TXT
	}
	r := &Relay{Store: st, Hostname: "relay.localhost", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Retry:    RetryPolicy{Base: time.Second, Max: time.Minute, Expire: time.Hour},
		Composer: &Composer{Store: st, Tokens: track.NewKeys(st, box), Box: box, Platform: "waymark.localhost", DefaultServer: server}}
	return &fixture{st: st, relay: r, keys: keys}
}

// The fixture's store and queue, read or run with errors failing the test.

func (f *fixture) deliver(t testing.TB) int {
	t.Helper()
	n, err := f.relay.DeliverDue(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) mail(t testing.TB, id string) store.Mail {
	t.Helper()
	m, err := f.st.MailByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) events(t testing.TB, typ string) []store.Event {
	t.Helper()
	evs, err := f.st.Events(ctx, "cl_00000000000000aa", store.EventQuery{Type: event.Type(typ), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (f *fixture) suppress(t testing.TB, addr, reason string) {
	t.Helper()
	if err := f.st.Suppress(ctx, "cl_00000000000000aa", addr, event.Reason(reason), "test", time.Now()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) suppressed(t testing.TB, addr string) bool {
	t.Helper()
	ok, err := f.st.Suppressed(ctx, "cl_00000000000000aa", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

const newsletter = "From: News <news@acme-mail.com>\r\nTo: ann@example.org\r\nSubject: Spring\r\n" +
	"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@acme-mail.com>\r\nX-Waymark-Secret-Note: strip me\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p><a href=\"https://shop.example/\">Shop</a></p>\r\n"

func (f *fixture) verify(t *testing.T, data []byte) {
	t.Helper()
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(data), &msgauth.VerifyOptions{LookupTXT: func(d string) ([]string, error) {
		if v, ok := f.keys[d]; ok {
			return []string{v}, nil
		}
		return nil, errors.New("no key at " + d)
	}})
	if err != nil || len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Fatalf("signatures: %v %+v\n%s", err, vs, data)
	}
}

func TestSubmitAndDeliver(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	f.suppress(t, "gone@example.org", "unsubscribe")
	res, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(newsletter), []string{"ann@example.org", "bob@example.org", "Gone@example.org"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Queued) != 2 || len(res.Dropped) != 1 || res.Dropped[0].Rcpt != "Gone@example.org" || !strings.HasPrefix(res.MessageID, "msg_") {
		t.Fatalf("submit: %+v", res)
	}
	if n, err := f.relay.DeliverDue(ctx, 10); n != 2 || err != nil {
		t.Fatalf("deliver: %d %v", n, err)
	}
	got := k.received()
	if len(got) != 2 {
		t.Fatalf("sink got %d messages", len(got))
	}
	for _, m := range got { // one connection, in the order claimed
		i := slices.IndexFunc(res.Queued, func(q Queued) bool { return q.Rcpt == m.rcpt })
		if i < 0 {
			t.Fatalf("delivered to %s, who was not queued", m.rcpt)
		}
		q := res.Queued[i]
		data := string(m.data)
		if m.rcpt != q.Rcpt || m.from != VERP(q.ID, "bounce.acme-mail.com") {
			t.Fatalf("envelope %s -> %s; want %s", m.from, m.rcpt, q.Rcpt)
		}
		if !strings.Contains(data, QueueIDHeader+": "+q.ID+"\r\n") || strings.Contains(data, "X-Waymark-Secret-Note") ||
			!strings.Contains(data, "https://t.waymark.localhost/c/") || strings.Contains(data, `href="https://shop.example/"`) {
			t.Fatalf("message to %s:\n%s", q.Rcpt, data)
		}
		f.verify(t, m.data)
	}
	if got[0].data[0] == got[1].data[0] && bytes.Equal(got[0].data, got[1].data) {
		t.Fatal("both recipients got the same copy: tokens are per recipient")
	}
	evs := f.events(t, "relayed")
	if len(evs) != 2 || evs[0].MessageID != res.MessageID || evs[0].Reason == "" {
		t.Fatalf("relayed events: %+v", evs)
	}
	if m := f.mail(t, res.Queued[0].ID); m.Status != store.MailSent {
		t.Fatalf("queue row: %+v", m)
	}
}

func TestDeliveryFailures(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	submit := func(rcpt string) string {
		res, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(newsletter), []string{rcpt}, "")
		if err != nil {
			t.Fatal(err)
		}
		return res.Queued[0].ID
	}
	// A temporary refusal waits for its retry, and not a moment less.
	clk := testenv.NewClock(time.Now())
	f.relay.Now = clk.Now
	k.reply = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	id := submit("ann@example.org")
	f.deliver(t)
	m := f.mail(t, id)
	if m.Status != store.MailQueued || m.Attempts != 1 || !strings.Contains(m.LastError, "451 4.3.0 try later") || m.NextAt.Sub(clk.Now()) < 500*time.Millisecond {
		t.Fatalf("after 451: %+v", m)
	}
	// It goes once the server takes it again, at its time.
	k.mu.Lock()
	k.reply = nil
	k.mu.Unlock()
	clk.Set(m.NextAt.Add(-time.Millisecond))
	if n := f.deliver(t); n != 0 || len(k.received()) != 0 {
		t.Fatalf("before its retry: %d tried, %d received", n, len(k.received()))
	}
	clk.Set(m.NextAt)
	if n := f.deliver(t); n != 1 || len(k.received()) != 1 {
		t.Fatalf("retry: %d tried, %d received", n, len(k.received()))
	}
	// A permanent refusal bounces, and suppresses the address.
	k.mu.Lock()
	k.reply = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	k.mu.Unlock()
	clk.Set(clk.Now().Add(time.Minute)) // events sort by time
	id = submit("nobody@example.org")
	f.deliver(t)
	if m := f.mail(t, id); m.Status != store.MailFailed {
		t.Fatalf("after 550: %+v", m)
	}
	evs := f.events(t, "bounce")
	if len(evs) != 1 || evs[0].Class != "hard" || evs[0].Recipient != "nobody@example.org" || !strings.Contains(evs[0].Reason, "5.1.1 no such user") {
		t.Fatalf("bounce events: %+v", evs)
	}
	if !f.suppressed(t, "nobody@example.org") {
		t.Fatal("hard bounce not suppressed")
	}
	// A refusal that is not about the mailbox (a misconfigured delivery
	// server) fails the message without suppressing the recipient.
	k.mu.Lock()
	k.reply = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
	k.mu.Unlock()
	clk.Set(clk.Now().Add(time.Minute))
	id = submit("carol@example.org")
	f.deliver(t)
	if m := f.mail(t, id); m.Status != store.MailFailed {
		t.Fatalf("after 554 5.7.1: %+v", m)
	}
	if f.suppressed(t, "carol@example.org") {
		t.Fatal("a relay refusal suppressed the recipient")
	}
	evs = f.events(t, "bounce")
	if len(evs) != 2 || evs[1].Class != "failed" {
		t.Fatalf("bounce events: %+v", evs)
	}
}

func TestServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here
	f := newFixture(t, "smtp://"+addr)
	clk := testenv.NewClock(time.Now())
	f.relay.Now = clk.Now
	f.relay.Retry = RetryPolicy{Base: time.Minute, Max: time.Hour, Expire: 5 * time.Hour}
	res, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(newsletter), []string{"ann@example.org"}, "")
	if err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	if m := f.mail(t, res.Queued[0].ID); m.Status != store.MailQueued || !strings.Contains(m.LastError, "refused") {
		t.Fatalf("server down: %+v", m)
	}
	// Retried until its expiry, then it bounces, soft: the address is not
	// suppressed.
	for attempts := 1; ; attempts++ {
		m := f.mail(t, res.Queued[0].ID)
		if m.Status != store.MailQueued {
			// It gives up at the last attempt before its expiry: the
			// next would fall after it.
			if age := clk.Now().Sub(m.CreatedAt); age < f.relay.Retry.Expire-f.relay.Retry.Max || age > f.relay.Retry.Expire {
				t.Fatalf("ended %s after submission, expiry %s: %+v", age, f.relay.Retry.Expire, m)
			}
			break
		}
		if attempts > 20 {
			t.Fatalf("still queued after %d attempts: %+v", attempts, m)
		}
		clk.Set(m.NextAt)
		f.deliver(t)
	}
	evs := f.events(t, "bounce")
	if len(evs) != 1 || evs[0].Class != "soft" || !strings.HasPrefix(evs[0].Reason, "4.4.7") {
		t.Fatalf("expiry: %+v", evs)
	}
	if f.suppressed(t, "ann@example.org") {
		t.Fatal("an expired message suppressed its recipient")
	}
}

func TestSubmitRefusals(t *testing.T) {
	f := newFixture(t, "")
	for _, tc := range []struct {
		msg, code string
		smtp      int
	}{
		{newsletter, "no_delivery_server", 451},
		{strings.Replace(newsletter, "acme-mail.com>", "other.example>", 1), "from_domain_not_verified", 550},
		{"To: a@example.org\r\n\r\nhi\r\n", "from_missing", 550},
		{"X-Waymark-Delivery-Server: nope\r\n" + newsletter, "delivery_server_unknown", 550},
		{"X-Waymark-Tracking: maybe\r\n" + newsletter, "invalid_header", 550},
		{"X-Waymark-Tracking-Domain: track.other.example\r\n" + newsletter, "tracking_domain_not_active", 550},
		{newsletter + strings.Repeat("x", 1<<20), "too_many_recipients", 552}, // 1 MB to 300 recipients
	} {
		rcpts := []string{"ann@example.org"}
		if len(tc.msg) > 1<<20 {
			for i := range 300 {
				rcpts = append(rcpts, fmt.Sprintf("r%d@example.org", i))
			}
		}
		_, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(tc.msg), rcpts, "")
		var ref *Refusal
		if !errors.As(err, &ref) || ref.Code != tc.code || ref.SMTP != tc.smtp || ref.Message == "" {
			t.Errorf("%.40q: %v; want %s", tc.msg, err, tc.code)
		}
	}
}

func TestTrackingOff(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	if _, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte("X-Waymark-Tracking: off\r\n"+newsletter), []string{"ann@example.org"}, ""); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	got := k.received()
	if len(got) != 1 || !strings.Contains(string(got[0].data), `href="https://shop.example/"`) || strings.Contains(string(got[0].data), "X-Waymark-Tracking:") {
		t.Fatalf("tracking off:\n%s", got[0].data)
	}
	f.verify(t, got[0].data)
}

// TestForward: a forward sends what that recipient got (copies sharing a
// message id may differ), To the friend, without a forward link of its
// own, at most MaxForwards times per recipient.
func TestForward(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	const cl = "cl_00000000000000aa"
	personal := func(who string) []byte {
		return []byte(strings.Replace(newsletter, "<p>", "<p>Dear "+who+", <a href=\"{{forward}}\">forward</a> ", 1))
	}
	for _, who := range []string{"ann", "bob"} {
		if _, err := f.relay.Submit(ctx, cl, "", personal(who), []string{who + "@example.org"}, "msg_campaign"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.relay.Forward(ctx, cl, "msg_campaign", "bob@example.org", "friend@example.net"); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	var fwd string
	for _, m := range k.received() {
		if m.rcpt == "friend@example.net" {
			fwd = string(m.data)
		}
	}
	if !strings.Contains(fwd, "Dear bob") || strings.Contains(fwd, "Dear ann") || !strings.Contains(fwd, "To: friend@example.net\r\n") ||
		strings.Contains(fwd, "/f/") || strings.Contains(fwd, "{{forward}}") {
		t.Fatalf("forwarded copy:\n%s", fwd)
	}
	f.verify(t, []byte(fwd))
	for i := 1; i < MaxForwards; i++ {
		if _, err := f.relay.Forward(ctx, cl, "msg_campaign", "bob@example.org", "friend@example.net"); err != nil {
			t.Fatal(err)
		}
	}
	var ref *Refusal
	if _, err := f.relay.Forward(ctx, cl, "msg_campaign", "bob@example.org", "friend@example.net"); !errors.As(err, &ref) || ref.Code != "forward_limit" {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := f.relay.Forward(ctx, cl, "msg_other", "bob@example.org", "friend@example.net"); !errors.As(err, &ref) || ref.Code != "forward_unavailable" {
		t.Fatalf("unknown message: %v", err)
	}
}

// TestAddsDateAndMessageID: a submission without them gets both, signed.
func TestAddsDateAndMessageID(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	msg := "From: news@acme-mail.com\r\nTo: ann@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"
	if _, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(msg), []string{"ann@example.org"}, ""); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	got := k.received()
	if len(got) != 1 || !regexp.MustCompile(`(?m)^Date: .+\r\nMessage-ID: <msg_[0-9a-f]+\.[a-z2-7]{16}@acme-mail\.com>\r$`).Match(got[0].data) {
		t.Fatalf("delivered:\n%s", got[0].data)
	}
	f.verify(t, got[0].data)
}

// TestTenantServerMustBePublic: a cluster's own delivery server on a
// private address is not dialled (unless the operator allows it).
func TestTenantServerMustBePublic(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "")
	if err := f.st.CreateDeliveryServer(ctx, store.DeliveryServer{ID: "ds_1", ClusterID: "cl_00000000000000aa", Name: "mine", URL: "smtp://" + k.addr,
		Default: true, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	res, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(newsletter), []string{"ann@example.org"}, "")
	if err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	if m := f.mail(t, res.Queued[0].ID); m.Status != store.MailQueued || !strings.Contains(m.LastError, "private address") {
		t.Fatalf("private tenant server: %+v", m)
	}
	f.relay.AllowPrivate = true
	if _, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(newsletter), []string{"bob@example.org"}, ""); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	if got := k.received(); len(got) != 1 || got[0].rcpt != "bob@example.org" {
		t.Fatalf("allowed: %+v", got)
	}
}

// TestUnsignedMail: mail from a domain that is not a verified sending
// domain is refused by default, naming the setting that would let it
// through; with unsigned_mail relay it is rewritten for tracking, sent
// without a signature and with the client's envelope sender (the From
// address when none was given), and its relayed event says so. Mail from
// the verified domain is still signed, with its VERP sender.
func TestUnsignedMail(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	other := strings.ReplaceAll(newsletter, "news@acme-mail.com", "news@partner.example")
	_, err := f.relay.Submit(ctx, "cl_00000000000000aa", "bounces@partner.example", []byte(other), []string{"ann@example.org"}, "")
	if !errors.Is(err, ErrFromNotVerified) || !strings.Contains(err.Error(), `"unsigned_mail": "relay"`) {
		t.Fatalf("refused by default: %v", err)
	}
	if _, err := f.st.UpdateCluster(ctx, "cl_00000000000000aa", func(c store.Cluster) (store.Cluster, error) {
		c.UnsignedMail = string(UnsignedRelay)
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	// What unsigned mail may not use: another cluster's sending domain or
	// its bounce host, the platform's domain, an envelope sender of
	// another domain, one that would inject SMTP parameters.
	box, _ := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err := f.st.CreateCluster(ctx, store.Cluster{ID: "cl_00000000000000bb", Name: "bravo", CreatedAt: time.Now()}, "hash-bravo"); err != nil {
		t.Fatal(err)
	}
	sendingtest.Domain(t, f.st, box, "cl_00000000000000bb", "sd_9", "l9", "victim-mail.com", domain.StatusActive, []string{"rsa"}, time.Now())
	for _, tc := range []struct{ from, header, want string }{
		{"b-abcdefghijklmnop@bounce.victim-mail.com", "news@partner.example", "must be of its From domain"},
		{"news@victim-mail.com", "news@victim-mail.com", "another cluster's sending domain"},
		{"x@bounce.victim-mail.com", "x@bounce.victim-mail.com", "another cluster's sending domain"},
		{"notices@waymark.localhost", "notices@waymark.localhost", "the platform's own domain"},
		{`"x> RET=FULL ENVID=y"@partner.example`, "news@partner.example", "not a plain address"},
	} {
		msg := strings.ReplaceAll(newsletter, "news@acme-mail.com", tc.header)
		_, err := f.relay.Submit(ctx, "cl_00000000000000aa", tc.from, []byte(msg), []string{"ann@example.org"}, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("unsigned from %s (From %s): %v", tc.from, tc.header, err)
		}
	}
	withSender, err := f.relay.Submit(ctx, "cl_00000000000000aa", "bounces@partner.example", []byte(other), []string{"ann@example.org"}, "")
	if err != nil {
		t.Fatal(err)
	}
	noSender, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(strings.Replace(other, "Message-ID: <1@acme-mail.com>\r\n", "", 1)), []string{"bob@example.org"}, "")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := f.relay.Submit(ctx, "cl_00000000000000aa", "ignored@acme-mail.com", []byte(newsletter), []string{"cy@example.org"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := f.deliver(t); n != 3 {
		t.Fatalf("%d delivered", n)
	}
	byRcpt := map[string]received{}
	for _, m := range k.received() {
		byRcpt[m.rcpt] = m
	}
	for rcpt, from := range map[string]string{"ann@example.org": "bounces@partner.example", "bob@example.org": "news@partner.example"} {
		m := byRcpt[rcpt]
		data := string(m.data)
		if m.from != from || strings.Contains(data, "DKIM-Signature") || !strings.Contains(data, "https://t.waymark.localhost/c/") ||
			strings.Contains(data, `href="https://shop.example/"`) || !strings.Contains(data, "List-Unsubscribe: <https://t.waymark.localhost/u/") {
			t.Fatalf("unsigned copy to %s from %s:\n%s", rcpt, m.from, data)
		}
	}
	if !regexp.MustCompile(`(?m)^Message-ID: <msg_[0-9a-z]+\.[a-z2-7]+@partner\.example>\r$`).MatchString(string(byRcpt["bob@example.org"].data)) {
		t.Fatalf("no Message-ID added on the From domain:\n%s", byRcpt["bob@example.org"].data)
	}
	cy := byRcpt["cy@example.org"]
	if cy.from != VERP(signed.Queued[0].ID, "bounce.acme-mail.com") {
		t.Fatalf("signed copy's sender: %s", cy.from)
	}
	f.verify(t, cy.data)
	evs := f.events(t, "relayed")
	reasons := map[string]string{}
	for _, e := range evs {
		reasons[e.MessageID] = e.Reason
	}
	if !strings.HasPrefix(reasons[withSender.MessageID], UnsignedReason) || !strings.HasPrefix(reasons[noSender.MessageID], UnsignedReason) ||
		strings.HasPrefix(reasons[signed.MessageID], UnsignedReason) {
		t.Fatalf("relayed reasons: %q", reasons)
	}
}

// TestQueueNotice: a notice from the platform's own active sending domain
// is signed by it with a VERP sender; from another domain it goes
// unsigned from its address; suppressed addresses are left out; its
// delivery makes no relayed event; without --delivery it is refused.
func TestQueueNotice(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	f.suppress(t, "gone@example.org", "bounce")
	raw := []byte("From: notices@acme-mail.com\r\nTo: ops@example.org\r\nSubject: x\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <n1@waymark.localhost>\r\n\r\nhello\r\n")
	ids, err := f.relay.QueueNotice(ctx, "cl_00000000000000aa", NewNoticeID(), "notices@acme-mail.com", raw, []string{"ops@example.org", "gone@example.org"})
	if err != nil || len(ids) != 1 {
		t.Fatalf("queue: %v %v", ids, err)
	}
	other := bytes.Replace(raw, []byte("notices@acme-mail.com"), []byte("notices@elsewhere.example"), 1)
	if _, err := f.relay.QueueNotice(ctx, "cl_00000000000000aa", NewNoticeID(), "notices@elsewhere.example", other, []string{"ann@example.org"}); err != nil {
		t.Fatal(err)
	}
	if n := f.deliver(t); n != 2 {
		t.Fatalf("%d delivered", n)
	}
	for _, m := range k.received() {
		switch m.rcpt {
		case "ops@example.org":
			if m.from != VERP(ids[0], "bounce.acme-mail.com") {
				t.Fatalf("signed notice's sender %s", m.from)
			}
			vs, err := msgauth.VerifyWithOptions(bytes.NewReader(m.data), &msgauth.VerifyOptions{LookupTXT: func(d string) ([]string, error) {
				return []string{f.keys[d]}, nil
			}})
			if err != nil || len(vs) != 2 || vs[0].Err != nil {
				t.Fatalf("notice signatures: %v %+v", err, vs)
			}
		case "ann@example.org":
			if m.from != "notices@elsewhere.example" || bytes.Contains(m.data, []byte("DKIM-Signature")) {
				t.Fatalf("unsigned notice from %s:\n%s", m.from, m.data)
			}
		default:
			t.Fatalf("delivered to %s", m.rcpt)
		}
	}
	if evs := f.events(t, "relayed"); len(evs) != 0 {
		t.Fatalf("notices made relayed events: %+v", evs)
	}
	f.relay.Composer.DefaultServer = ""
	if _, err := f.relay.QueueNotice(ctx, "cl_00000000000000aa", NewNoticeID(), "notices@acme-mail.com", raw, []string{"ops@example.org"}); !errors.Is(err, ErrNoNoticeServer) {
		t.Fatalf("without --delivery: %v", err)
	}
}

// TestListedLinks: a message with a link to a blocked domain is refused
// naming the link's domain and the list; with UntrackListed it goes, that
// link left as it is and the others tracked.
func TestListedLinks(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	checker := uribl.New(nil, nil, f.relay.Log, nil)
	checker.SetBlocked(map[string]string{"phish.example": "reported"})
	f.relay.Composer.Links = checker
	msg := strings.Replace(newsletter, `<p><a href="https://shop.example/">Shop</a></p>`,
		`<p><a href="https://shop.example/">Shop</a> <a href="https://login.phish.example/x">Log in</a></p>`, 1)
	_, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(msg), []string{"ann@example.org"}, "")
	if !errors.Is(err, ErrLinkListed) || !strings.Contains(err.Error(), "phish.example is listed on the platform's blocklist (reported)") {
		t.Fatalf("refused: %v", err)
	}
	f.relay.Composer.UntrackListed = true
	if _, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(msg), []string{"ann@example.org"}, ""); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	data := string(k.received()[0].data)
	if !strings.Contains(data, `href="https://login.phish.example/x"`) || strings.Contains(data, `href="https://shop.example/"`) ||
		strings.Count(data, "https://t.waymark.localhost/c/") < 2 {
		t.Fatalf("untracked:\n%s", data)
	}
	// Tracking off: nothing is looked up, nothing refused.
	f.relay.Composer.UntrackListed = false
	if _, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte("X-Waymark-Tracking: off\r\n"+msg), []string{"bob@example.org"}, ""); err != nil {
		t.Fatalf("untracked message: %v", err)
	}
}

// TestTrackSwitches: each setting comes from the header, then the sending
// domain, then the cluster, then opens on and clicks all; clicks off
// leaves links alone but still writes the unsubscribe link; a bad header
// is refused naming it.
func TestTrackSwitches(t *testing.T) {
	k := startSink(t)
	f := newFixture(t, "smtp://"+k.addr)
	set := func(cluster, domain store.Tracking) {
		t.Helper()
		if _, err := f.st.UpdateCluster(ctx, "cl_00000000000000aa", func(c store.Cluster) (store.Cluster, error) {
			c.Tracking = cluster
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.UpdateSendingDomain(ctx, "cl_00000000000000aa", "sd_1", func(d store.SendingDomain) (store.SendingDomain, []store.DKIMKey, error) {
			d.Tracking = domain
			return d, nil, nil
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	msg := strings.Replace(newsletter, "</p>\r\n", "</p><p><a href=\"{{unsubscribe}}\">u</a></p></body>\r\n", 1)
	send := func(header string) string {
		t.Helper()
		raw := msg
		if header != "" {
			raw = TrackHeader + ": " + header + "\r\n" + msg
		}
		before := len(k.received())
		if _, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(raw), []string{"ann@example.org"}, ""); err != nil {
			t.Fatal(err)
		}
		f.deliver(t)
		got := string(k.received()[before].data)
		if strings.Contains(got, TrackHeader) {
			t.Fatalf("the control header was relayed:\n%s", got)
		}
		return got
	}
	tracked := func(s string) bool { return !strings.Contains(s, `href="https://shop.example/"`) }
	pixel := func(s string) bool { return strings.Contains(s, `<img src="https://t.waymark.localhost/o/`) }
	unsub := func(s string) bool {
		return strings.Contains(s, `<a href="https://t.waymark.localhost/u/`) && strings.Contains(s, "List-Unsubscribe: <")
	}
	for _, tc := range []struct {
		name            string
		cluster, domain store.Tracking
		header          string
		links, opens    bool
	}{
		{"built-in", store.Tracking{}, store.Tracking{}, "", true, true},
		{"cluster", store.Tracking{Opens: "off", Clicks: "off"}, store.Tracking{}, "", false, false},
		{"domain over cluster", store.Tracking{Opens: "off", Clicks: "off"}, store.Tracking{Clicks: "html"}, "", true, false},
		{"header over both", store.Tracking{Opens: "off", Clicks: "off"}, store.Tracking{Clicks: "html"}, "opens=on, clicks=text", false, true},
	} {
		set(tc.cluster, tc.domain)
		got := send(tc.header)
		if tracked(got) != tc.links || pixel(got) != tc.opens || !unsub(got) {
			t.Errorf("%s: links %v opens %v unsubscribe %v, want %v %v true\n%s", tc.name, tracked(got), pixel(got), unsub(got), tc.links, tc.opens, got)
		}
	}
	for _, bad := range []string{"opens=maybe", "clicks=some", "pixels=off", "opens"} {
		_, err := f.relay.Submit(ctx, "cl_00000000000000aa", "", []byte(TrackHeader+": "+bad+"\r\n"+msg), []string{"ann@example.org"}, "")
		var ref *Refusal
		if !errors.As(err, &ref) || ref.Code != "invalid_header" || ref.Field != TrackHeader {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestWebVersionSanitized: the web version page loses <meta http-equiv>
// (a refresh would redirect anywhere) and <base>, and keeps the rest.
func TestWebVersionSanitized(t *testing.T) {
	page := string(sanitize([]byte(`<html><head><meta charset="utf-8"><META HTTP-EQUIV="refresh" content="0;url=https://bad.example/">` +
		`<base href="https://bad.example/"></head><body><p>Hi <a href="https://t.example/c/x">x</a></p></body></html>`)))
	if strings.Contains(strings.ToLower(page), "refresh") || strings.Contains(page, "<base") || !strings.Contains(page, `<meta charset="utf-8">`) ||
		!strings.Contains(page, `<p>Hi <a href="https://t.example/c/x">x</a></p>`) {
		t.Fatalf("sanitized: %s", page)
	}
}
