package sending

import (
	"errors"
	"strings"
	"testing"
)

func pct(n int) *int { return &n }

// TestDMARC: policies are checked tag by tag (RFC 7489 section 6.3), each
// refusal naming its tag; the record puts v and p first; a bare address
// becomes a mailto: URI; the zero policy is the default record.
func TestDMARC(t *testing.T) {
	good, err := DMARC{P: "Reject", SP: "quarantine", PCT: pct(25), ADKIM: "s", ASPF: "r", FO: "1:d",
		RUA: []string{"dmarc@acme.example", "MAILTO:agg@reports.example!10m"}, RUF: []string{"mailto:forensic@acme.example"}}.Check()
	if err != nil {
		t.Fatal(err)
	}
	want := "v=DMARC1; p=reject; sp=quarantine; pct=25; adkim=s; aspf=r; fo=1:d; rua=mailto:dmarc@acme.example,mailto:agg@reports.example!10m; ruf=mailto:forensic@acme.example"
	if got := good.Record(); got != want {
		t.Fatalf("record\n%s\nwant\n%s", got, want)
	}
	back, err := ParseDMARC(good.Stored())
	if err != nil || back.Record() != want {
		t.Fatalf("stored and read back: %v %s", err, back.Record())
	}
	if (DMARC{}).Record() != DefaultDMARC || (DMARC{}).Stored() != "" {
		t.Fatal("the zero policy is not the default")
	}
	if d, err := (DMARC{}).Check(); err != nil || d.Record() != "v=DMARC1; p=none" {
		t.Fatalf("an empty policy checked: %v %s", err, d.Record())
	}
	for tag, bad := range map[string]DMARC{
		"p":     {P: "drop"},
		"sp":    {SP: "maybe"},
		"pct":   {PCT: pct(101)},
		"adkim": {ADKIM: "strict"},
		"aspf":  {ASPF: "x"},
		"fo":    {FO: "1:x"},
		"rua":   {RUA: []string{"https://reports.example/"}},
		"ruf":   {RUF: []string{"mailto:not an address"}},
	} {
		var de *DMARCError
		if _, err := bad.Check(); !errors.As(err, &de) || de.Tag != tag || !strings.Contains(err.Error(), "dmarc."+tag) {
			t.Errorf("%s: %v", tag, err)
		}
	}
	for _, bad := range []string{"mailto:ü@x.example", "a@[1.2.3.4]", "a@x", "a@-x-.example", "a%2Cb@x.example"} {
		if _, err := (DMARC{RUA: []string{bad}}).Check(); err == nil {
			t.Errorf("rua %q accepted", bad)
		}
	}
	if _, err := (DMARC{RUA: []string{"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example", "f@x.example"}}).Check(); err == nil {
		t.Error("six report addresses accepted")
	}
}
