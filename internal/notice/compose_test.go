package notice

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

var warning = Notice{Kind: Warning, At: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), Cluster: "acme", Platform: "waymark.localhost",
	What: "sending domain", Name: "acme-mail.com", Diagnosis: "wm1._domainkey.acme-mail.com has no CNAME record",
	Records: []Record{
		{Name: "wm1._domainkey.acme-mail.com", Type: "CNAME", Value: "wm1.l1.dkim.waymark.localhost", Problem: "no CNAME record"},
		{Name: "bounce.acme-mail.com", Type: "CNAME", Value: "l1.bounce.waymark.localhost"},
	}}

// TestCompose: the message parses, has both alternatives, and each says
// what happened, what follows and the exact record to publish (only the
// failing one), in both forms; HTML is escaped.
func TestCompose(t *testing.T) {
	n := warning
	n.Diagnosis += " <script>"
	raw, err := Compose("notices@waymark.localhost", []string{"ops@acme.example", "ann@acme.example"}, n, "ntc_1@waymark.localhost")
	if err != nil {
		t.Fatal(err)
	}
	r, err := mail.CreateReader(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := r.Header.Subject(); s != "Action needed: the sending domain acme-mail.com failed a check" {
		t.Fatalf("subject %q", s)
	}
	if to, _ := r.Header.AddressList("To"); len(to) != 2 || to[1].Address != "ann@acme.example" {
		t.Fatalf("to %v", to)
	}
	if r.Header.Get("Auto-Submitted") != "auto-generated" || r.Header.Get("MIME-Version") != "1.0" || !strings.Contains(string(raw), "\r\n\r\n") {
		t.Fatalf("header:\n%s", raw)
	}
	parts := map[string]string{}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := p.Header.(*mail.InlineHeader).ContentType()
		b, _ := io.ReadAll(p.Body)
		parts[ct] = string(b)
	}
	text, html := parts["text/plain"], parts["text/html"]
	if !strings.Contains(text, "The sending domain acme-mail.com failed its check at 2026-12-01 09:30 UTC\r\n(your cluster acme on waymark.localhost).") ||
		!strings.Contains(html, "your cluster <strong>acme</strong>") {
		t.Errorf("the cluster is not named:\n%s\n%s", text, html)
	}
	for _, want := range []string{"acme-mail.com", "wm1._domainkey.acme-mail.com", "wm1.l1.dkim.waymark.localhost",
		"no CNAME record", "If the next check fails too, it is deactivated"} {
		if !strings.Contains(text, want) || !strings.Contains(html, want) {
			t.Errorf("%q missing from\ntext %s\nhtml %s", want, text, html)
		}
	}
	if strings.Contains(text, "bounce.acme-mail.com") || strings.Contains(html, "bounce.acme-mail.com") {
		t.Error("a record that passed is listed as the fix")
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;") || !strings.Contains(text, "<script>") {
		t.Errorf("escaping:\n%s", html)
	}
}

func TestSubjects(t *testing.T) {
	for kind, want := range map[Kind]string{
		Warning:     "Action needed: the tracking domain track.acme.example failed a check",
		Deactivated: "Deactivated: the tracking domain track.acme.example",
		CertFailed:  "No certificate for the tracking domain track.acme.example",
	} {
		n := Notice{Kind: kind, What: "tracking domain", Name: "track.acme.example"}
		if got := n.Subject(); got != want {
			t.Errorf("%s: %q", kind, got)
		}
	}
	// No record named as failing: all are the fix.
	n := Notice{Records: []Record{{Name: "a"}, {Name: "b"}}}
	if len(n.Fix()) != 2 {
		t.Fatalf("fix %v", n.Fix())
	}
}
