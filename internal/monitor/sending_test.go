package monitor

import (
	"testing"

	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/verify"
)

// TestDKIMOutcome: the DKIM records alone decide a sending domain's
// check; a record that could not be checked makes it transient, whatever
// the others say.
func TestDKIMOutcome(t *testing.T) {
	d := store.SendingDomain{ID: "sd_1", Name: "acme-mail.com", Label: "l1", Algorithms: []string{"rsa", "ed25519"},
		BounceHost: "bounce.acme-mail.com", ClickHost: "clicks.acme-mail.com", ClickDomainID: "td_1"}
	records := sending.CustomerRecords(d, "waymark.localhost", "v-1.track.waymark.localhost")
	const (
		wm1, wm2, wme1, wme2 = "wm1._domainkey.acme-mail.com", "wm2._domainkey.acme-mail.com", "wme1._domainkey.acme-mail.com", "wme2._domainkey.acme-mail.com"
		bounce, dmarc        = "bounce.acme-mail.com", "_dmarc.acme-mail.com"
	)
	ok := verify.Result{Code: verify.OK, Diagnosis: "ok"}
	missing := func(name string) verify.Result {
		return verify.Result{Code: verify.NoRecord, Diagnosis: name + " does not exist"}
	}
	transient := verify.Result{Code: verify.Transient, Diagnosis: "resolver timed out"}
	allOK := func(changes map[string]verify.Result) map[string]verify.Result {
		out := map[string]verify.Result{wm1: ok, wm2: ok, wme1: ok, wme2: ok, bounce: ok, dmarc: ok}
		for k, v := range changes {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		results   map[string]verify.Result
		records   []sending.Record
		outcome   Outcome
		diagnosis string
	}{
		{"every record passes", allOK(nil), records, Pass, ""},
		{"bounce and DMARC fail: not DKIM records", allOK(map[string]verify.Result{bounce: missing(bounce), dmarc: missing(dmarc)}), records, Pass, ""},
		{"one DKIM record fails", allOK(map[string]verify.Result{wme2: missing(wme2)}), records, Fail, wme2 + " does not exist"},
		{"several fail: the last one's diagnosis", allOK(map[string]verify.Result{wm1: missing(wm1), wme1: missing(wme1)}), records, Fail, wme1 + " does not exist"},
		{"points elsewhere", allOK(map[string]verify.Result{wm2: {Code: verify.Elsewhere, Diagnosis: "elsewhere"}}), records, Fail, "elsewhere"},
		{"proxied", allOK(map[string]verify.Result{wm2: {Code: verify.Proxied, Diagnosis: "proxied"}}), records, Fail, "proxied"},
		{"one transient", allOK(map[string]verify.Result{wme1: transient}), records, Transient, "resolver timed out"},
		{"transient after a failure", allOK(map[string]verify.Result{wm1: missing(wm1), wme1: transient}), records, Transient, "resolver timed out"},
		{"transient before a failure", allOK(map[string]verify.Result{wm1: transient, wme2: missing(wme2)}), records, Transient, "resolver timed out"},
		{"a DKIM record without a result fails", map[string]verify.Result{wm1: ok, wm2: ok, wme1: ok}, records, Fail, ""},
		{"a domain without DKIM records passes", map[string]verify.Result{bounce: missing(bounce)},
			sending.CustomerRecords(store.SendingDomain{Name: "acme-mail.com", BounceHost: bounce}, "waymark.localhost", ""), Pass, ""},
	} {
		o, diag := dkimOutcome(tc.results, tc.records)
		if o != tc.outcome || diag != tc.diagnosis {
			t.Errorf("%s: %v %q; want %v %q", tc.name, o, diag, tc.outcome, tc.diagnosis)
		}
	}
}
