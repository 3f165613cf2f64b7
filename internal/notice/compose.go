package notice

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"text/template"
	"time"

	"github.com/emersion/go-message/mail"
)

// Kind is what a notice is about.
type Kind string

const (
	// Warning: an active domain failed a check; one more deactivates it.
	Warning Kind = "warning"
	// Deactivated: a domain failed twice in a row and went back to
	// pending.
	Deactivated Kind = "deactivated"
	// CertFailed: a tracking domain's certificate could not be obtained.
	CertFailed Kind = "certificate_failed"
)

// Record is one DNS record the customer publishes, as the fix shows it.
type Record struct {
	Name, Type, Value string
	// Problem is what its last check found wrong; empty when it passed.
	Problem string
}

// Notice is one notice about one domain of a cluster.
type Notice struct {
	Kind Kind
	At   time.Time
	// Cluster is the cluster's name; Platform the platform domain.
	Cluster, Platform string
	// What is "tracking domain" or "sending domain"; Name is the domain.
	What, Name string
	// Diagnosis is what the check (or the CA) said.
	Diagnosis string
	// Records are the domain's records; those with a Problem are the fix.
	Records []Record
}

// Subject is the notice's subject line.
func (n Notice) Subject() string {
	switch n.Kind {
	case Warning:
		return fmt.Sprintf("Action needed: the %s %s failed a check", n.What, n.Name)
	case Deactivated:
		return fmt.Sprintf("Deactivated: the %s %s", n.What, n.Name)
	case CertFailed:
		return fmt.Sprintf("No certificate for the %s %s", n.What, n.Name)
	}
	return fmt.Sprintf("About the %s %s", n.What, n.Name)
}

// Fix lists the records to publish: those that failed, or all of them if
// the check named none.
func (n Notice) Fix() []Record {
	var out []Record
	for _, r := range n.Records {
		if r.Problem != "" {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return n.Records
	}
	return out
}

// Compose writes the whole message from from to to, with the message id
// id (without angle brackets): plain text and HTML alternatives.
func Compose(from string, to []string, n Notice, id string) ([]byte, error) {
	var h mail.Header
	h.SetDate(n.At)
	h.SetAddressList("From", []*mail.Address{{Name: "waymark on " + n.Platform, Address: from}})
	rcpts := make([]*mail.Address, len(to))
	for i, a := range to {
		rcpts[i] = &mail.Address{Address: a}
	}
	h.SetAddressList("To", rcpts)
	h.SetSubject(n.Subject())
	h.SetMessageID(id)
	h.Set("MIME-Version", "1.0")
	// RFC 3834: an automatic message; vacation responders must not answer.
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Waymark-Notice", string(n.Kind))
	var buf bytes.Buffer
	w, err := mail.CreateInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	data := view{Notice: n, Subject: n.Subject(), Fix: n.Fix(), When: n.At.UTC().Format("2006-01-02 15:04 UTC")}
	for _, part := range []struct {
		ctype string
		exec  func(*bytes.Buffer) error
	}{
		{"text/plain", func(b *bytes.Buffer) error { return textBody.Execute(b, data) }},
		{"text/html", func(b *bytes.Buffer) error { return htmlBody.Execute(b, data) }},
	} {
		var ph mail.InlineHeader
		ph.Set("Content-Type", part.ctype+"; charset=utf-8")
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := w.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		var body bytes.Buffer
		if err := part.exec(&body); err != nil {
			return nil, err
		}
		if _, err := pw.Write(body.Bytes()); err != nil {
			return nil, err
		}
		if err := pw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// view is what the templates see.
type view struct {
	Notice
	Subject string
	Fix     []Record
	When    string
}

// Consequence says what the notice means for the cluster's mail.
func (v view) Consequence() string {
	switch v.Kind {
	case Warning:
		if v.What == "sending domain" {
			return "It still signs mail for now. If the next check fails too, it is deactivated: mail from it is refused (or, if your cluster relays unsigned mail, sent unsigned) until it verifies again."
		}
		return "Its links still work for now. If the next check fails too, it is deactivated: its links stop working until it verifies again."
	case Deactivated:
		if v.What == "sending domain" {
			return "It failed two checks in a row and is pending again: mail from it is refused (550 5.7.1), or, if your cluster relays unsigned mail, sent unsigned, until it verifies again. It is checked again only when you ask (Verify in the dashboard, or waymark sending-domain verify)."
		}
		return "It failed two checks in a row and is pending again: its links, in mail already sent too, answer 404 until it verifies again. It is checked again only when you ask (Verify in the dashboard, or waymark tracking-domain verify)."
	case CertFailed:
		return "Its links over HTTPS fail until a certificate is obtained; it is tried again on its own."
	}
	return ""
}

var textBody = template.Must(template.New("text").Parse(`{{.Subject}}

{{if eq .Kind "certificate_failed"}}No certificate could be obtained at {{.When}} for the {{.What}} {{.Name}}{{else}}The {{.What}} {{.Name}} failed its check at {{.When}}{{end}}
(your cluster {{.Cluster}} on {{.Platform}}).

What was found: {{.Diagnosis}}

{{.Consequence}}

The fix: publish {{if eq (len .Fix) 1}}this record{{else}}these records{{end}} at your DNS provider exactly as shown (DNS only: no proxy), then verify:
{{range .Fix}}
  Name:  {{.Name}}
  Type:  {{.Type}}
  Value: {{.Value}}{{if .Problem}}
  Found: {{.Problem}}{{end}}
{{end}}
This is an automatic message from waymark on {{.Platform}}, sent to the
addresses your cluster's notify_email lists.
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:system-ui,sans-serif;color:#1a1a1a;max-width:40rem">
<h1 style="font-size:1.25rem">{{.Subject}}</h1>
<p>{{if eq .Kind "certificate_failed"}}No certificate could be obtained at {{.When}} for the {{.What}} <strong>{{.Name}}</strong>{{else}}The {{.What}} <strong>{{.Name}}</strong> failed its check at {{.When}}{{end}} (your cluster <strong>{{.Cluster}}</strong> on {{.Platform}}).</p>
<p><strong>What was found:</strong> {{.Diagnosis}}</p>
<p>{{.Consequence}}</p>
<h2 style="font-size:1.1rem">The fix</h2>
<p>Publish {{if eq (len .Fix) 1}}this record{{else}}these records{{end}} at your DNS provider exactly as shown (DNS only: no proxy), then verify.</p>
<table style="border-collapse:collapse">
<thead><tr><th style="text-align:left;padding:4px 8px">Name</th><th style="text-align:left;padding:4px 8px">Type</th><th style="text-align:left;padding:4px 8px">Value</th><th style="text-align:left;padding:4px 8px">Found</th></tr></thead>
<tbody>{{range .Fix}}
<tr><td style="padding:4px 8px"><code>{{.Name}}</code></td><td style="padding:4px 8px">{{.Type}}</td><td style="padding:4px 8px"><code>{{.Value}}</code></td><td style="padding:4px 8px">{{.Problem}}</td></tr>{{end}}
</tbody></table>
<p style="color:#555;font-size:.9rem">This is an automatic message from waymark on {{.Platform}}, sent to the addresses your cluster's notify_email lists.</p>
</body></html>
`))
