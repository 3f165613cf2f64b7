package bounce

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), "\n", "\r\n"))
}

func TestParseDSN(t *testing.T) {
	rep, err := Parse(read(t, "postfix-dsn.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != DSN || len(rep.Recipients) != 1 || len(rep.QueueIDs) != 1 || rep.QueueIDs[0] != "abcdefghijklmnop" || rep.Reporter != "mta.localhost" {
		t.Fatalf("%+v", rep)
	}
	r := rep.Recipients[0]
	if r.Address != "nobody@example.org" || r.Action != "failed" || r.Status != "5.1.1" || r.Diagnostic != "X-Postfix; mailbox unavailable" || !r.Hard() {
		t.Fatalf("%+v", r)
	}
}

func TestParseARF(t *testing.T) {
	rep, err := Parse(read(t, "arf.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != ARF || rep.FeedbackType != "abuse" || rep.OriginalMailFrom != "b-abcdefghijklmnop@bounce.acme-mail.com" ||
		len(rep.QueueIDs) != 1 || rep.Reporter != "SomeGenerator/1.0" {
		t.Fatalf("%+v", rep)
	}
}

func TestParseRecipients(t *testing.T) {
	head := "From: MAILER-DAEMON\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsorry\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
	for _, tc := range []struct {
		name, fields string
		want         []Recipient
	}{
		{"two recipients, soft and hard",
			"Final-Recipient: rfc822; a@x.example\r\nAction: delayed\r\nStatus: 4.2.2 (mailbox full)\r\n\r\nFinal-Recipient: RFC822; <B@x.example>\r\nAction: Failed\r\nStatus: 5.2.1\r\n",
			[]Recipient{{Address: "a@x.example", Action: "delayed", Status: "4.2.2"}, {Address: "b@x.example", Action: "failed", Status: "5.2.1"}}},
		{"original recipient only, odd status",
			"Original-Recipient: rfc822;c@x.example\r\nAction: failed\r\nStatus: 5.x.1\r\n",
			[]Recipient{{Address: "c@x.example", Action: "failed", Status: ""}}},
	} {
		rep, err := Parse([]byte(head + tc.fields + "--b--\r\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(rep.Recipients) != len(tc.want) {
			t.Fatalf("%s: %+v", tc.name, rep.Recipients)
		}
		for i, w := range tc.want {
			if rep.Recipients[i] != w {
				t.Errorf("%s: %+v, want %+v", tc.name, rep.Recipients[i], w)
			}
		}
	}
	if r := (Recipient{Action: "delayed", Status: "4.2.2"}); r.Hard() || !r.Failed() {
		t.Fatal("delayed is a soft failure")
	}
}

func TestParseRefuses(t *testing.T) {
	for _, msg := range []string{
		"From: a@x\r\nSubject: out of office\r\n\r\nI am away.\r\n",
		"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--b--\r\n",
	} {
		if _, err := Parse([]byte(msg)); !errors.Is(err, ErrNotReport) {
			t.Errorf("%.40q: %v", msg, err)
		}
	}
	if _, err := Parse([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n")); err == nil {
		t.Error("a DSN without its delivery-status part")
	}
}

// FuzzParse: any message parses or fails without panicking, and what it
// returns keeps its invariants.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"postfix-dsn.eml", "arf.eml"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\r\n\r\nFinal-Recipient: x\r\n--b--"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		rep, err := Parse(msg)
		if err != nil {
			return
		}
		if rep.Kind != DSN && rep.Kind != ARF {
			t.Fatalf("kind %q", rep.Kind)
		}
		for _, r := range rep.Recipients {
			if r.Status != "" && !statusCode.MatchString(r.Status) {
				t.Fatalf("status %q", r.Status)
			}
			if r.Hard() && !strings.HasPrefix(r.Status, "5.") {
				t.Fatalf("hard without a 5.x.x status: %+v", r)
			}
		}
		if len(rep.Recipients) > maxFieldBlocks {
			t.Fatalf("%d recipients", len(rep.Recipients))
		}
	})
}
