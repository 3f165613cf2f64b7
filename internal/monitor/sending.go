package monitor

import (
	"context"
	"errors"
	"log/slog"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/verify"
)

// dkimOutcome folds the DKIM records' results: pass when all pass, a
// transient failure when any could not be checked, otherwise a failure.
func dkimOutcome(results map[string]verify.Result, records []sending.Record) (Outcome, string) {
	out, diag := Pass, ""
	for _, r := range records {
		if r.Kind != sending.KindDKIM {
			continue
		}
		res := results[r.Name]
		switch {
		case res.Transient():
			return Transient, res.Diagnosis
		case !res.OK():
			out, diag = Fail, res.Diagnosis
		}
	}
	return out, diag
}

// CheckSendingDomain verifies every customer record of a sending domain,
// records each one's state, and applies the two-strike policy to the DKIM
// records, which decide whether the domain can sign. The click host is
// checked as the tracking domain it is.
func (m *Monitor) CheckSendingDomain(ctx context.Context, clusterID, id string) (store.SendingDomain, error) {
	d, err := m.Store.SendingDomain(ctx, clusterID, id)
	if err != nil {
		return d, err
	}
	click, err := m.CheckTrackingDomain(ctx, clusterID, d.ClickDomainID)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted before deletes checked who uses a domain (an old
		// database): the rest of the domain is still checked.
		click = store.TrackingDomain{Name: d.ClickHost, Status: domain.StatusPending,
			LastCheck: &store.Check{Code: "no_record", Diagnosis: "the click host's tracking domain was deleted: delete this sending domain and add it again"}}
	} else if err != nil {
		return d, err
	}
	records := sending.CustomerRecords(d, m.Platform, click.Target)
	results := map[string]verify.Result{}
	for _, r := range records {
		if r.Name == d.ClickHost {
			continue
		}
		results[r.Name] = m.Checker.Check(ctx, r.Name, r.Value)
	}
	o, diag := dkimOutcome(results, records)
	now := m.now()
	var dec Decision
	after, err := m.Store.UpdateSendingDomain(ctx, clusterID, id, func(cur store.SendingDomain) (store.SendingDomain, []store.DKIMKey, error) {
		dec = m.Policy.Decide(State{Status: cur.Status, FailedChecks: cur.FailedChecks, CreatedAt: cur.CreatedAt}, o, now)
		if cur.Records == nil {
			cur.Records = map[string]store.RecordState{}
		}
		for name, res := range results {
			st := domain.StatusPending
			if res.OK() {
				st = domain.StatusActive
			}
			cur.Records[name] = store.RecordState{Status: st, Code: string(res.Code), Diagnosis: res.Diagnosis, At: now}
		}
		cur.Records[d.ClickHost] = store.RecordState{Status: click.Status, At: now}
		if click.LastCheck != nil {
			cur.Records[d.ClickHost] = store.RecordState{Status: click.Status, Code: click.LastCheck.Code, Diagnosis: click.LastCheck.Diagnosis, At: now}
		}
		cur.Status, cur.FailedChecks, cur.NextCheck = dec.Status, dec.FailedChecks, dec.NextCheck
		cur.LastCheck = &store.Check{At: now, OK: o == Pass, Code: map[Outcome]string{Pass: "ok", Fail: "dkim_failed", Transient: "transient"}[o], Diagnosis: diag}
		m.Metrics.checked("sending", cur.LastCheck.Code)
		return cur, nil, nil
	}, func(after store.SendingDomain) (*store.Notice, error) {
		if dec.Change == Unchanged {
			return nil, nil
		}
		return m.Notice(Notification{Event: dec.Change.Notice(true), At: now, Sending: &after, Click: &click, Diagnosis: diag})
	})
	if err != nil {
		return after, err
	}
	m.log().Log(ctx, slog.LevelInfo, "sending domain checked", "cluster", clusterID, "id", id, "name", d.Name,
		"status", after.Status, "failed_checks", after.FailedChecks, "event", dec.Change.Notice(true), "diagnosis", diag)
	if dec.Change != Unchanged {
		m.notify(ctx, Notification{Event: dec.Change.Notice(true), At: now, Sending: &after, Click: &click, Diagnosis: diag})
	}
	return after, nil
}
