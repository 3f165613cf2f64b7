package bounce

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var ctx = context.Background()

func TestServer(t *testing.T) {
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: now}, "h"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	var mails []store.Mail
	for _, rcpt := range []string{"nobody@example.org", "ann@example.org", "bob@example.org", "dan@example.org"} {
		id := relay.NewMailID()
		ids[rcpt] = id
		mails = append(mails, store.Mail{ID: id, ClusterID: "cl_a", MessageID: "msg_1", From: relay.VERP(id, "bounce.acme-mail.com"),
			Rcpt: rcpt, ServerURL: "smtp://x:25", Data: []byte("x"), NextAt: now, CreatedAt: now})
	}
	if err := st.EnqueueMail(ctx, mails); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hooked []store.Event
	srv := &Server{Store: st, Hostname: "mx.waymark.localhost", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Events: func(e []store.Event) {
			mu.Lock()
			hooked = append(hooked, e...)
			mu.Unlock()
		}}
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	addr, err := srv.Listen(c, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	send := func(rcpt, msg string) error {
		cl, err := smtp.Dial(addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Mail("", nil); err != nil {
			return err
		}
		if err := cl.Rcpt(rcpt, nil); err != nil {
			return err
		}
		w, err := cl.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(msg)); err != nil {
			return err
		}
		return w.Close()
	}
	// Only VERP addresses of mail it sent, on their own bounce host.
	for _, rcpt := range []string{"postmaster@bounce.acme-mail.com", relay.VERP(relay.NewMailID(), "bounce.acme-mail.com"),
		relay.VERP(ids["ann@example.org"], "bounce.other.example")} {
		var se *smtp.SMTPError
		if err := send(rcpt, "x"); !errors.As(err, &se) || se.Code != 550 {
			t.Errorf("RCPT %s: %v", rcpt, err)
		}
	}
	dsn := strings.ReplaceAll(string(read(t, "postfix-dsn.eml")), "abcdefghijklmnop", ids["nobody@example.org"])
	if err := send(strings.ToUpper(relay.VERP(ids["nobody@example.org"], "bounce.acme-mail.com")), dsn); err != nil {
		t.Fatal(err)
	}
	arf := strings.ReplaceAll(string(read(t, "arf.eml")), "abcdefghijklmnop", ids["ann@example.org"])
	if err := send(relay.VERP(ids["ann@example.org"], "bounce.acme-mail.com"), arf); err != nil {
		t.Fatal(err)
	}
	if err := send(relay.VERP(ids["bob@example.org"], "bounce.acme-mail.com"), "Subject: Out of office\r\n\r\nAway.\r\n"); err != nil {
		t.Fatalf("an auto-reply is taken (and dropped): %v", err)
	}
	// A line longer than the server reads is refused for good (550), not a
	// 451 the sender would retry for days.
	var se *smtp.SMTPError
	if err := send(relay.VERP(ids["bob@example.org"], "bounce.acme-mail.com"), "Subject: Long\r\n\r\n"+strings.Repeat("x", 6000)+"\r\n"); !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("a 6000-octet line: %v", err)
	}
	if err := send(relay.VERP(ids["bob@example.org"], "bounce.acme-mail.com"), "Subject: NUL\r\n\r\nx\x00y\r\n"); !errors.As(err, &se) || se.Code != 550 {
		t.Fatalf("a NUL: %v", err)
	}
	// A DSN about another address (dan's mail was auto-forwarded): a soft
	// bounce for dan, who is not suppressed.
	other := strings.ReplaceAll(strings.ReplaceAll(string(read(t, "postfix-dsn.eml")), "abcdefghijklmnop", ids["dan@example.org"]),
		"nobody@example.org", "dan.forwarded@elsewhere.example")
	if err := send(relay.VERP(ids["dan@example.org"], "bounce.acme-mail.com"), other); err != nil {
		t.Fatal(err)
	}
	// The same reports again (a replay, or a mailbox provider's retry):
	// taken, and not counted again.
	if err := send(relay.VERP(ids["nobody@example.org"], "bounce.acme-mail.com"), dsn); err != nil {
		t.Fatal(err)
	}
	if err := send(relay.VERP(ids["ann@example.org"], "bounce.acme-mail.com"), arf); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, "cl_a", store.EventQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(evs) != 3 || len(hooked) != 3 || evs[2].Class != "soft" || evs[2].Recipient != "dan@example.org" ||
		!strings.Contains(evs[2].Reason, "reported for dan.forwarded@elsewhere.example") {
		t.Fatalf("events: %+v (hooked %d)", evs, len(hooked))
	}
	evs = evs[:2]
	if len(evs) != 2 {
		t.Fatalf("events: %+v (hooked %d)", evs, len(hooked))
	}
	if e := evs[0]; e.Type != "bounce" || e.Class != "hard" || e.Recipient != "nobody@example.org" || e.MessageID != "msg_1" ||
		!strings.HasPrefix(e.Reason, "5.1.1 X-Postfix; mailbox unavailable") {
		t.Fatalf("bounce: %+v", e)
	}
	if e := evs[1]; e.Type != "complaint" || e.Recipient != "ann@example.org" || e.Reason != "abuse" {
		t.Fatalf("complaint: %+v", e)
	}
	for rcpt, want := range map[string]bool{"nobody@example.org": true, "ann@example.org": true, "bob@example.org": false, "dan@example.org": false} {
		if got, err := st.Suppressed(ctx, "cl_a", rcpt); err != nil || got != want {
			t.Errorf("%s suppressed: %v %v", rcpt, got, err)
		}
	}
}
