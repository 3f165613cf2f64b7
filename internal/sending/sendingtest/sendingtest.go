// Package sendingtest makes sending domains with real keys in a store, for
// tests of the packages that sign.
package sendingtest

import (
	"context"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
)

// Domain stores a sending domain of clusterID named name with the status
// given, both key slots for each algorithm, the schedule started at start,
// and its click host clicks.<name> (pending) as a tracking domain. Its
// label is label, its bounce host bounce.<name>.
func Domain(t testing.TB, st store.SendingDomains, box *secret.Box, clusterID, id, label, name string, status domain.Status, algs []string, start time.Time) store.SendingDomain {
	t.Helper()
	r := dkim.DefaultRotation
	d := store.SendingDomain{ID: id, ClusterID: clusterID, Name: name, Label: label, ClickHost: "clicks." + name,
		BounceHost: "bounce." + name, ClickDomainID: "td_" + label, Algorithms: algs, Status: status,
		CreatedAt: start, UpdatedAt: start}
	rot := map[string]dkim.KeyState{}
	var keys []store.DKIMKey
	for _, alg := range algs {
		rot[alg] = r.NewKeyState(start)
		for slot := range 2 {
			k, err := sending.NewKey(box, id, alg, slot, start)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
	}
	if err := sending.SetRotations(&d, rot, r); err != nil {
		t.Fatal(err)
	}
	click := store.TrackingDomain{ID: d.ClickDomainID, ClusterID: clusterID, Name: d.ClickHost, Target: "v-" + label,
		Status: domain.StatusPending, CreatedAt: start, UpdatedAt: start}
	if err := st.CreateSendingDomain(context.Background(), d, keys, click, store.Limits{}); err != nil {
		t.Fatal(err)
	}
	return d
}
