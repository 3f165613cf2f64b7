package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/stats"
	"github.com/waymark-mail/waymark/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// backends opens a fresh store of each implementation; the conformance
// tests below run unchanged against every one.
var backends = map[string]func(t testing.TB) Store{
	"sqlite": func(t testing.TB) Store {
		s, err := OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
	"postgres": func(t testing.TB) Store {
		s, err := OpenPostgres(context.Background(), testenv.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
}

func forEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			s := backends[name](t)
			t.Cleanup(func() { s.Close() })
			if s.Backend() != name {
				t.Fatalf("Backend() = %q, want %q", s.Backend(), name)
			}
			test(t, s)
		})
	}
}

var ctx = context.Background()

func mustCluster(t *testing.T, s Store, id, name string) Cluster {
	t.Helper()
	c := Cluster{ID: id, Name: name, CreatedAt: time.Now().UTC().Truncate(time.Microsecond), UnsignedMail: "refuse"}
	if err := s.CreateCluster(ctx, c, "hash-"+id); err != nil {
		t.Fatalf("create cluster %s: %v", id, err)
	}
	return c
}

func newDomain(clusterID, id, name string) TrackingDomain {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return TrackingDomain{ID: id, ClusterID: clusterID, Name: name, Target: "v-" + id + ".track.waymark.localhost",
		Status: domain.StatusPending, CreatedAt: now, UpdatedAt: now}
}

func mustDomain(t *testing.T, s Store, clusterID, id, name string) TrackingDomain {
	t.Helper()
	d := newDomain(clusterID, id, name)
	if err := s.CreateTrackingDomain(ctx, d, Limits{}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return d
}

func TestClusters(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		a := mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		if err := s.CreateCluster(ctx, Cluster{ID: "cl_c", Name: "acme", CreatedAt: time.Now()}, "hash-c"); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate cluster name: err = %v, want ErrDuplicate", err)
		}
		// The failed create must not have left its key behind.
		if _, err := s.ClusterByKey(ctx, "hash-c"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("key of refused cluster: err = %v, want ErrNotFound", err)
		}
		got, err := s.Cluster(ctx, "cl_a")
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("Cluster = %+v, %v; want %+v", got, err, a)
		}
		if _, err := s.Cluster(ctx, "cl_zz"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing cluster: err = %v", err)
		}
		byKey, err := s.ClusterByKey(ctx, "hash-cl_b")
		if err != nil || byKey.ID != "cl_b" {
			t.Fatalf("ClusterByKey = %+v, %v", byKey, err)
		}
		all, err := s.Clusters(ctx)
		if err != nil || len(all) != 2 {
			t.Fatalf("Clusters = %v, %v", all, err)
		}
		// Settings change under the row lock; id, name and creation stay.
		up, err := s.UpdateCluster(ctx, "cl_a", func(c Cluster) (Cluster, error) {
			c.UnsignedMail, c.Name = "relay", "renamed"
			c.NotifyEmail = []string{"ops@acme.example", "Ann.Lee@acme.example"}
			return c, nil
		})
		if err != nil || up.UnsignedMail != "relay" || up.Name != "acme" {
			t.Fatalf("UpdateCluster = %+v, %v", up, err)
		}
		if got, err := s.ClusterByKey(ctx, "hash-cl_a"); err != nil || got.UnsignedMail != "relay" ||
			!slices.Equal(got.NotifyEmail, []string{"ops@acme.example", "Ann.Lee@acme.example"}) {
			t.Fatalf("after the update, by key: %+v %v", got, err)
		}
		if got, _ := s.Cluster(ctx, "cl_b"); got.NotifyEmail != nil {
			t.Fatalf("another cluster's addresses: %q", got.NotifyEmail)
		}
		refused := errors.New("no")
		if _, err := s.UpdateCluster(ctx, "cl_a", func(c Cluster) (Cluster, error) {
			c.UnsignedMail = "refuse"
			return c, refused
		}); !errors.Is(err, refused) {
			t.Fatalf("a refused change: %v", err)
		}
		if got, _ := s.Cluster(ctx, "cl_a"); got.UnsignedMail != "relay" {
			t.Fatalf("a refused change was stored: %+v", got)
		}
		if _, err := s.UpdateCluster(ctx, "cl_zz", func(c Cluster) (Cluster, error) { return c, nil }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update of a missing cluster: %v", err)
		}
	})
}

func TestSettings(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		if _, err := s.Setting(ctx, "admin"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing setting: %v", err)
		}
		if ok, err := s.PutSetting(ctx, "admin", "one", false); !ok || err != nil {
			t.Fatalf("first put: %v %v", ok, err)
		}
		if ok, err := s.PutSetting(ctx, "admin", "two", false); ok || err != nil {
			t.Fatalf("second put without overwrite: stored=%v err=%v", ok, err)
		}
		if v, err := s.Setting(ctx, "admin"); err != nil || v != "one" {
			t.Fatalf("value = %q, want one (err %v)", v, err)
		}
		if ok, err := s.PutSetting(ctx, "admin", "three", true); !ok || err != nil {
			t.Fatalf("overwrite: %v %v", ok, err)
		}
		if v, err := s.Setting(ctx, "admin"); err != nil || v != "three" {
			t.Fatalf("value = %q, want three (err %v)", v, err)
		}
	})
}

func TestTrackingDomainsCRUD(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		d := mustDomain(t, s, "cl_a", "td_1", "track.example.com")
		d.TLS = "none"

		// Same name in the same cluster: duplicate. In another cluster: fine.
		if err := s.CreateTrackingDomain(ctx, newDomain("cl_a", "td_2", "track.example.com"), Limits{}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate name: err = %v", err)
		}
		mustDomain(t, s, "cl_b", "td_3", "track.example.com")
		// A target can be issued only once, whatever the cluster.
		dup := newDomain("cl_b", "td_4", "links.example.com")
		dup.Target = d.Target
		if err := s.CreateTrackingDomain(ctx, dup, Limits{}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate target: err = %v", err)
		}

		got, err := s.TrackingDomain(ctx, "cl_a", "td_1")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(d) {
			t.Fatalf("read back\n got %+v\nwant %+v", got, d)
		}
		byName, err := s.TrackingDomainByName(ctx, "cl_a", "track.example.com")
		if err != nil || byName.ID != "td_1" {
			t.Fatalf("by name: %+v %v", byName, err)
		}
		if _, err := s.TrackingDomainByName(ctx, "cl_a", "nope.example.com"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("by unknown name: %v", err)
		}
		// Isolation: cluster B cannot read, change or delete A's domain.
		if _, err := s.TrackingDomain(ctx, "cl_b", "td_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cross-cluster read: %v", err)
		}
		if _, err := setStatus(ctx, s, "cl_b", "td_1", domain.StatusActive); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cross-cluster status: %v", err)
		}
		if _, err := s.SetTrackingDomainDefault(ctx, "cl_b", "td_1", true); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cross-cluster default: %v", err)
		}
		if err := s.DeleteTrackingDomain(ctx, "cl_b", "td_1", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cross-cluster delete: %v", err)
		}

		mustDomain(t, s, "cl_a", "td_5", "links.example.com")
		list, err := s.TrackingDomains(ctx, "cl_a")
		if err != nil || len(list) != 2 || list[0].ID != "td_1" || list[1].ID != "td_5" {
			t.Fatalf("list = %+v, %v", list, err)
		}
		if err := s.DeleteTrackingDomain(ctx, "cl_a", "td_1", nil); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteTrackingDomain(ctx, "cl_a", "td_1", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := s.TrackingDomain(ctx, "cl_a", "td_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("read after delete: %v", err)
		}
		// B's domain of the same name is untouched, and the name is free again in A.
		if _, err := s.TrackingDomain(ctx, "cl_b", "td_3"); err != nil {
			t.Fatal(err)
		}
		mustDomain(t, s, "cl_a", "td_6", "track.example.com")
		empty, err := s.TrackingDomains(ctx, "cl_zz")
		if err != nil || empty == nil || len(empty) != 0 {
			t.Fatalf("list of unknown cluster = %#v, %v; want empty non-nil", empty, err)
		}
	})
}

func TestDefaultRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		mustDomain(t, s, "cl_a", "td_1", "one.example.com")
		mustDomain(t, s, "cl_a", "td_2", "two.example.com")
		mustDomain(t, s, "cl_b", "td_9", "nine.example.com")

		if _, err := s.SetTrackingDomainDefault(ctx, "cl_a", "td_1", true); !errors.Is(err, ErrNotActive) {
			t.Fatalf("default on pending: err = %v, want ErrNotActive", err)
		}
		for _, id := range []string{"td_1", "td_2"} {
			if d, err := setStatus(ctx, s, "cl_a", id, domain.StatusActive); err != nil || d.Status != domain.StatusActive {
				t.Fatalf("activate %s: %+v %v", id, d, err)
			}
		}
		if d, err := setStatus(ctx, s, "cl_b", "td_9", domain.StatusActive); err != nil || d.Status != domain.StatusActive {
			t.Fatalf("activate td_9 (err %v)", err)
		}
		if _, err := s.SetTrackingDomainDefault(ctx, "cl_b", "td_9", true); err != nil {
			t.Fatal(err)
		}
		d, err := s.SetTrackingDomainDefault(ctx, "cl_a", "td_1", true)
		if err != nil || !d.Default {
			t.Fatalf("set default: %+v %v", d, err)
		}
		d, err = s.SetTrackingDomainDefault(ctx, "cl_a", "td_2", true)
		if err != nil || !d.Default {
			t.Fatalf("set default 2: %+v %v", d, err)
		}
		assertDefaults(t, s, "cl_a", "td_2")
		assertDefaults(t, s, "cl_b", "td_9") // another cluster's default is untouched
		if d, err := s.SetTrackingDomainDefault(ctx, "cl_a", "td_2", false); err != nil || d.Default {
			t.Fatalf("unset: %+v %v", d, err)
		}
		assertDefaults(t, s, "cl_a")
		// Unsetting a domain that is not the default is harmless.
		if _, err := s.SetTrackingDomainDefault(ctx, "cl_a", "td_1", false); err != nil {
			t.Fatal(err)
		}

		// Dropping to pending loses the default flag.
		if _, err := s.SetTrackingDomainDefault(ctx, "cl_a", "td_1", true); err != nil {
			t.Fatal(err)
		}
		if d, err := setStatus(ctx, s, "cl_a", "td_1", domain.StatusPending); err != nil || d.Default || d.Status != domain.StatusPending {
			t.Fatalf("to pending: %+v %v", d, err)
		}
		assertDefaults(t, s, "cl_a")

		// Added with the default toggle: becomes default when it turns active,
		// taking the flag from the current default.
		if _, err := s.SetTrackingDomainDefault(ctx, "cl_a", "td_2", true); err != nil {
			t.Fatal(err)
		}
		wants := newDomain("cl_a", "td_3", "three.example.com")
		wants.DefaultOnActive = true
		if err := s.CreateTrackingDomain(ctx, wants, Limits{}); err != nil {
			t.Fatal(err)
		}
		assertDefaults(t, s, "cl_a", "td_2")
		if d, err := setStatus(ctx, s, "cl_a", "td_3", domain.StatusActive); err != nil || !d.Default || d.DefaultOnActive {
			t.Fatalf("activated with toggle: %+v (err %v)", d, err)
		}
		assertDefaults(t, s, "cl_a", "td_3")

		// An explicit default cancels another domain's wish from its add:
		// td_4 verifying later does not take the flag back.
		later := newDomain("cl_a", "td_4", "four.example.com")
		later.DefaultOnActive = true
		if err := s.CreateTrackingDomain(ctx, later, Limits{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetTrackingDomainDefault(ctx, "cl_a", "td_2", true); err != nil {
			t.Fatal(err)
		}
		if d, err := setStatus(ctx, s, "cl_a", "td_4", domain.StatusActive); err != nil || d.Default || d.DefaultOnActive {
			t.Fatalf("wish survived an explicit default: %+v (err %v)", d, err)
		}
		assertDefaults(t, s, "cl_a", "td_2")
		if _, err := setStatus(ctx, s, "cl_a", "td_3", "gone"); err == nil {
			t.Fatal("unknown status accepted")
		}
	})
}

func assertDefaults(t *testing.T, s Store, clusterID string, want ...string) {
	t.Helper()
	list, err := s.TrackingDomains(ctx, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range list {
		if d.Default {
			got = append(got, d.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("defaults of %s = %v, want %v", clusterID, got, want)
	}
}

// Two requests adding the same name at once: exactly one wins, on both
// databases, and the other sees ErrDuplicate.
func TestConcurrentAddSameName(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		const n = 8
		for round := range 5 {
			name := fmt.Sprintf("race%d.example.com", round)
			var wg sync.WaitGroup
			errs := make([]error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = s.CreateTrackingDomain(ctx, newDomain("cl_a", fmt.Sprintf("td_%d_%d", round, i), name), Limits{})
				}()
			}
			close(start)
			wg.Wait()
			ok, dup := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrDuplicate):
					dup++
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if ok != 1 || dup != n-1 {
				t.Fatalf("round %d: %d created, %d duplicates; want 1 and %d", round, ok, dup, n-1)
			}
		}
	})
}

// Concurrent set-default calls on different domains leave exactly one default.
func TestConcurrentSetDefault(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		const n = 6
		for i := range n {
			id := fmt.Sprintf("td_%d", i)
			mustDomain(t, s, "cl_a", id, fmt.Sprintf("d%d.example.com", i))
			if _, err := setStatus(ctx, s, "cl_a", id, domain.StatusActive); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.SetTrackingDomainDefault(ctx, "cl_a", fmt.Sprintf("td_%d", i), true); err != nil {
					t.Errorf("set default td_%d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		list, err := s.TrackingDomains(ctx, "cl_a")
		if err != nil {
			t.Fatal(err)
		}
		defaults := 0
		for _, d := range list {
			if d.Default {
				defaults++
			}
		}
		if defaults != 1 {
			t.Fatalf("%d defaults after concurrent sets, want 1", defaults)
		}
	})
}

// The zone serial moves with every change to the served names, and only then.
func TestZoneSerialAndTargets(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		serial := func() int64 {
			t.Helper()
			v, err := s.ZoneSerial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		mustCluster(t, s, "cl_a", "acme")
		s0 := serial()
		d := mustDomain(t, s, "cl_a", "td_1", "one.example.com")
		s1 := serial()
		if s1 <= s0 {
			t.Fatalf("serial did not move on add: %d -> %d", s0, s1)
		}
		if err := s.CreateTrackingDomain(ctx, newDomain("cl_a", "td_2", "one.example.com"), Limits{}); !errors.Is(err, ErrDuplicate) {
			t.Fatal(err)
		}
		if serial() != s1 {
			t.Fatal("serial moved on a refused add")
		}
		if _, err := setStatus(ctx, s, "cl_a", "td_1", domain.StatusActive); err != nil {
			t.Fatal(err)
		}
		mustDomain(t, s, "cl_a", "td_3", "three.example.com")
		targets, err := s.VerificationTargets(ctx)
		if err != nil || len(targets) != 2 || (targets[0] != d.Target && targets[1] != d.Target) {
			t.Fatalf("targets = %v, %v", targets, err)
		}
		s2 := serial()
		if err := s.DeleteTrackingDomain(ctx, "cl_a", "td_1", nil); err != nil {
			t.Fatal(err)
		}
		if serial() <= s2 {
			t.Fatal("serial did not move on delete")
		}
		targets, err = s.VerificationTargets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(targets) != 1 || targets[0] == d.Target {
			t.Fatalf("targets after delete = %v", targets)
		}
	})
}

func TestLastCheckRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		d := newDomain("cl_a", "td_1", "track.example.com")
		d.LastCheck = &Check{At: time.Unix(1700000000, 0).UTC(), OK: false, Diagnosis: "no CNAME", Chain: []string{"track.example.com"}}
		d.FailedChecks = 1
		if err := s.CreateTrackingDomain(ctx, d, Limits{}); err != nil {
			t.Fatal(err)
		}
		got, err := s.TrackingDomain(ctx, "cl_a", "td_1")
		if err != nil || got.LastCheck == nil || fmt.Sprint(*got.LastCheck) != fmt.Sprint(*d.LastCheck) || got.FailedChecks != 1 {
			t.Fatalf("got %+v (%v), want check %+v", got, err, d.LastCheck)
		}
	})
}

// A data directory with URI metacharacters in its name holds the database
// itself, with the pragmas applied.
func TestSQLiteOddPath(t *testing.T) {
	for _, name := range []string{"d?x", "a%20b", "h#1", "sp ace"} {
		dir := filepath.Join(t.TempDir(), name)
		s, err := OpenSQLite(ctx, dir)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		mustCluster(t, s, "cl_a", "acme")
		var mode string
		if err := s.(*sqlStore).db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%q: journal_mode %q %v", name, mode, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "waymark.db")); err != nil {
			t.Errorf("%q: database not in the directory: %v", name, err)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	mustCluster(t, s, "cl_a", "acme")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(ctx, dir) // migrations already applied: a no-op
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Cluster(ctx, "cl_a"); err != nil {
		t.Fatal(err)
	}
}

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"},
	} {
		if got := rebind(tc.in, true); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := rebind(tc.in, false); got != tc.in {
			t.Errorf("rebind unnumbered changed %q", tc.in)
		}
	}
}

func TestApplyCheck(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		d := newDomain("cl_a", "td_1", "one.example.com")
		d.DefaultOnActive = true
		d.NextCheck = time.Unix(1000, 0).UTC()
		if err := s.CreateTrackingDomain(ctx, d, Limits{}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.TrackingDomain(ctx, "cl_a", "td_1"); err != nil || !got.NextCheck.Equal(d.NextCheck) {
			t.Fatalf("next check %v, want %v (err %v)", got.NextCheck, d.NextCheck, err)
		}
		at := time.Unix(2000, 0).UTC()
		pass := Check{At: at, OK: true, Code: "ok", Diagnosis: "fine", Chain: []string{"one.example.com", "v-1"}}
		got, err := s.ApplyCheck(ctx, "cl_a", "td_1", func(cur TrackingDomain) CheckUpdate {
			if cur.Status != domain.StatusPending {
				t.Errorf("decide saw %s", cur.Status)
			}
			return CheckUpdate{Check: pass, Status: domain.StatusActive, NextCheck: at.Add(time.Hour)}
		})
		if err != nil || got.Status != domain.StatusActive || !got.Default || got.LastCheck == nil || got.LastCheck.Code != "ok" ||
			!got.NextCheck.Equal(at.Add(time.Hour)) || got.FailedChecks != 0 {
			t.Fatalf("after pass: %+v %v", got, err)
		}
		// Back to pending: the default flag goes; next check cleared.
		got, err = s.ApplyCheck(ctx, "cl_a", "td_1", func(TrackingDomain) CheckUpdate {
			return CheckUpdate{Check: Check{At: at, Code: "no_record"}, Status: domain.StatusPending, FailedChecks: 2}
		})
		if err != nil || got.Status != domain.StatusPending || got.Default || got.FailedChecks != 2 || !got.NextCheck.IsZero() {
			t.Fatalf("after deactivation: %+v %v", got, err)
		}
		if _, err := s.ApplyCheck(ctx, "cl_b", "td_1", func(TrackingDomain) CheckUpdate { return CheckUpdate{Status: domain.StatusActive} }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other cluster: %v", err)
		}
		if _, err := s.ApplyCheck(ctx, "cl_a", "td_1", func(TrackingDomain) CheckUpdate { return CheckUpdate{Status: "bogus"} }); err == nil {
			t.Fatal("bogus status accepted")
		}
	})
}

// Concurrent checks of one domain never lose a strike: decide runs under
// the row lock and sees the other's result.
func TestApplyCheckSerialises(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustDomain(t, s, "cl_a", "td_1", "one.example.com")
		const n = 10
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.ApplyCheck(ctx, "cl_a", "td_1", func(cur TrackingDomain) CheckUpdate {
					return CheckUpdate{Status: cur.Status, FailedChecks: cur.FailedChecks + 1}
				}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got, err := s.TrackingDomain(ctx, "cl_a", "td_1"); err != nil || got.FailedChecks != n {
			t.Fatalf("failed checks %d after %d concurrent increments (err %v)", got.FailedChecks, n, err)
		}
	})
}

func TestDueTrackingDomains(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		for i, c := range []struct {
			cluster string
			next    int64 // 0: none
		}{{"cl_a", 300}, {"cl_b", 100}, {"cl_a", 0}, {"cl_a", 200}, {"cl_b", 900}} {
			d := newDomain(c.cluster, fmt.Sprintf("td_%d", i), fmt.Sprintf("d%d.example.com", i))
			if c.next > 0 {
				d.NextCheck = time.Unix(c.next, 0)
			}
			if err := s.CreateTrackingDomain(ctx, d, Limits{}); err != nil {
				t.Fatal(err)
			}
		}
		due, err := s.DueTrackingDomains(ctx, time.Unix(300, 0), 10)
		var ids []string
		for _, d := range due {
			ids = append(ids, d.ID)
		}
		if err != nil || fmt.Sprint(ids) != "[td_1 td_3 td_0]" {
			t.Fatalf("due = %v, %v", ids, err)
		}
		if due, err := s.DueTrackingDomains(ctx, time.Unix(300, 0), 2); err != nil || len(due) != 2 {
			t.Fatalf("limit: %d (err %v)", len(due), err)
		}
	})
}

func TestTryLock(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		unlock, ok, err := s.TryLock(ctx, "monitor")
		if err != nil || !ok {
			t.Fatalf("first lock: %v %v", ok, err)
		}
		if _, ok, err := s.TryLock(ctx, "monitor"); ok || err != nil {
			t.Fatalf("second lock taken: %v %v", ok, err)
		}
		other, ok, err := s.TryLock(ctx, "other")
		if !ok || err != nil {
			t.Fatalf("other name: %v %v", ok, err)
		}
		other()
		unlock()
		unlock() // harmless twice
		again, ok, err := s.TryLock(ctx, "monitor")
		if !ok || err != nil {
			t.Fatalf("after unlock: %v %v", ok, err)
		}
		again()
	})
}

// Two PostgreSQL nodes: only one holds the lock; it passes on when the
// holder lets go or its connection dies.
func TestTryLockAcrossNodes(t *testing.T) {
	url := testenv.Postgres(t)
	a, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	unlock, ok, err := a.TryLock(ctx, "monitor")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("a did not get the lock")
	}
	if _, ok, err := b.TryLock(ctx, "monitor"); err != nil || ok {
		t.Fatalf("b got the lock a holds (err %v)", err)
	}
	unlock()
	unlockB, ok, err := b.TryLock(ctx, "monitor")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("b did not get the released lock")
	}
	defer unlockB()
	// The node dies: its session ends (here, killed from outside), and the
	// lock is free without anyone unlocking it.
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if u, ok, _ := a.TryLock(ctx, "monitor"); ok {
			u()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lock of a closed node never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebhookQueue(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		now := time.Unix(1_000_000, 0).UTC()
		for _, w := range []Webhook{
			{ID: "wh_1", ClusterID: "cl_a", URL: "https://a.example/1", Events: []string{"tracking_domain.verified"}, Secret: "s1", CreatedAt: now},
			{ID: "wh_2", ClusterID: "cl_a", URL: "https://a.example/2", Events: []string{"*"}, Secret: "s2", CreatedAt: now.Add(time.Second)},
			{ID: "wh_3", ClusterID: "cl_b", URL: "https://b.example/3", Events: []string{"*"}, Secret: "s3", CreatedAt: now},
		} {
			if err := s.CreateWebhook(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		hooks, err := s.Webhooks(ctx, "cl_a")
		if err != nil || len(hooks) != 2 || hooks[0].ID != "wh_1" || hooks[0].Events[0] != "tracking_domain.verified" || hooks[0].Last != nil {
			t.Fatalf("webhooks: %+v %v", hooks, err)
		}
		// One event reaches every subscribed webhook of its cluster only.
		if n, err := enqueue(s, "cl_a", "tracking_domain.deleted", []byte(`{"x":1}`), now); n != 1 || err != nil {
			t.Fatalf("enqueue deleted: %d %v", n, err)
		}
		if n, err := enqueue(s, "cl_a", "tracking_domain.verified", []byte(`{"x":2}`), now); err != nil || n != 2 {
			t.Fatalf("enqueue verified: %d (err %v)", n, err)
		}
		if n, oldest, err := s.WebhookBacklog(ctx); err != nil || n != 3 || !oldest.Equal(now) {
			t.Fatalf("backlog %d %v %v", n, oldest, err)
		}
		got, err := s.ClaimDeliveries(ctx, now, time.Minute, 10)
		if err != nil || len(got) != 3 {
			t.Fatalf("claim: %d %v", len(got), err)
		}
		for _, d := range got {
			if d.URL == "https://b.example/3" {
				t.Fatal("cluster b's webhook got cluster a's event")
			}
		}
		// Claimed deliveries are leased: not claimed again before the lease ends.
		if again, err := s.ClaimDeliveries(ctx, now.Add(30*time.Second), time.Minute, 10); err != nil || len(again) != 0 {
			t.Fatalf("claimed twice within the lease: %d (err %v)", len(again), err)
		}
		// One delivered, one to retry, one failed for good.
		if err := s.FinishDelivery(ctx, got[0], Attempt{At: now, Status: "delivered", Code: 200}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishDelivery(ctx, got[1], Attempt{At: now, Status: "retrying", Code: 503, Error: "503 Service Unavailable"}, now.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishDelivery(ctx, got[2], Attempt{At: now, Status: "failed", Code: 410}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if again, err := s.ClaimDeliveries(ctx, now.Add(time.Minute), time.Minute, 10); err != nil || len(again) != 0 {
			t.Fatalf("due before the retry time: %d (err %v)", len(again), err)
		}
		retry, err := s.ClaimDeliveries(ctx, now.Add(2*time.Minute), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(retry) != 1 || retry[0].ID != got[1].ID || retry[0].Attempts != 1 || string(retry[0].Payload) != string(got[1].Payload) {
			t.Fatalf("retry: %+v", retry)
		}
		hooks, err = s.Webhooks(ctx, "cl_a")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range hooks {
			if w.Last == nil || w.Last.Status == "" {
				t.Fatalf("no last delivery on %s", w.ID)
			}
		}
		// Deleting is per cluster, and takes the queue with it.
		if err := s.DeleteWebhook(ctx, "cl_b", "wh_2"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cross-cluster delete: %v", err)
		}
		if err := s.DeleteWebhook(ctx, "cl_a", retry[0].WebhookID); err != nil {
			t.Fatal(err)
		}
		if left, err := s.ClaimDeliveries(ctx, now.Add(time.Hour), time.Minute, 10); err != nil || len(left) != 0 {
			t.Fatalf("deliveries of a deleted webhook: %d (err %v)", len(left), err)
		}
	})
}

func TestTokenKeysAndActiveHosts(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		now := time.Unix(1000, 0).UTC()
		for i, want := range []uint32{1, 2} {
			id, err := s.AddTokenKey(ctx, "cl_a", []byte(fmt.Sprintf("secret-%d\x00\xff", i)), now)
			if err != nil || id != want {
				t.Fatalf("add key: %d %v, want %d", id, err, want)
			}
		}
		keys, err := s.TokenKeys(ctx, "cl_a")
		if err != nil || len(keys) != 2 || keys[1].ID != 2 || string(keys[1].Secret) != "secret-1\x00\xff" {
			t.Fatalf("keys: %+v %v", keys, err)
		}
		if keys, err := s.TokenKeys(ctx, "cl_b"); err != nil || len(keys) != 0 {
			t.Fatalf("b sees a's keys: %+v (err %v)", keys, err)
		}

		mustDomain(t, s, "cl_a", "td_1", "track.a.com")
		mustDomain(t, s, "cl_a", "td_2", "pending.a.com")
		mustDomain(t, s, "cl_b", "td_3", "track.b.com")
		mustDomain(t, s, "cl_a", "td_4", "shared.example.com")
		mustDomain(t, s, "cl_b", "td_5", "shared.example.com")
		before, err := s.ZoneSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range [][2]string{{"cl_a", "td_1"}, {"cl_b", "td_3"}, {"cl_a", "td_4"}, {"cl_b", "td_5"}} {
			if _, err := setStatus(ctx, s, d[0], d[1], domain.StatusActive); err != nil {
				t.Fatal(err)
			}
		}
		if after, err := s.ZoneSerial(ctx); err != nil || after < before+4 {
			t.Fatalf("serial did not move with status changes: %d -> %d (err %v)", before, after, err)
		}
		hosts, err := s.ActiveHosts(ctx)
		want := map[string]string{"track.a.com": "cl_a", "track.b.com": "cl_b", "shared.example.com": ""}
		if err != nil || fmt.Sprint(hosts) != fmt.Sprint(want) {
			t.Fatalf("active hosts %v %v, want %v", hosts, err, want)
		}
		// Front doors: the home URL (its change moves the serial), the
		// cluster's name and active sending domains; a shared name has none.
		serial, _ := s.ZoneSerial(ctx)
		if d, err := s.SetHomeURL(ctx, "cl_a", "td_1", "https://www.a.com/"); err != nil || d.HomeURL != "https://www.a.com/" {
			t.Fatalf("home URL: %+v %v", d, err)
		}
		if after, _ := s.ZoneSerial(ctx); after <= serial {
			t.Fatal("the serial did not move with the home URL")
		}
		if _, err := s.SetHomeURL(ctx, "cl_b", "td_1", "https://x/"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another cluster's domain: %v", err)
		}
		sd := SendingDomain{ID: "sd_1", ClusterID: "cl_a", Name: "a.com", Label: "l1", ClickHost: "clicks.a.com", BounceHost: "bounce.a.com",
			ClickDomainID: "td_c", Algorithms: []string{"rsa"}, Status: domain.StatusActive, Rotation: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
		if err := s.CreateSendingDomain(ctx, sd, nil, newDomain("cl_a", "td_c", "clicks.a.com"), Limits{}); err != nil {
			t.Fatal(err)
		}
		doors, err := s.FrontDoors(ctx)
		if err != nil || len(doors) != 2 || doors["track.a.com"].HomeURL != "https://www.a.com/" || doors["track.a.com"].Cluster != "acme" ||
			fmt.Sprint(doors["track.a.com"].SendingDomains) != "[a.com]" || doors["track.b.com"].Cluster != "bravo" || doors["track.b.com"].SendingDomains != nil {
			t.Fatalf("front doors %+v %v", doors, err)
		}
		if _, ok := doors["shared.example.com"]; ok {
			t.Fatal("a name active in two clusters has a front door")
		}
	})
}

func TestEventsAndSuppressions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		base := time.Unix(1_800_000_000, 0).UTC()
		var evs []Event
		for i := range 1203 { // more than one insert chunk
			typ, msg := "click", "msg_1"
			if i%3 == 0 {
				typ = "open"
			}
			if i%2 == 0 {
				msg = "msg_2"
			}
			evs = append(evs, Event{ID: fmt.Sprintf("%016x%08x", base.Add(time.Duration(i)*time.Second).UnixMicro(), i), ClusterID: "cl_a",
				Type: event.Type(typ), At: base.Add(time.Duration(i) * time.Second), MessageID: msg, Recipient: "ann@example.com",
				URL: "https://x.example/", Host: "t.example", ClientIP: "192.0.2.1", UserAgent: "UA", Class: "human"})
		}
		evs = append(evs, Event{ID: "ffff", ClusterID: "cl_b", Type: "click", At: base, MessageID: "msg_1"})
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		// Page through all of A's: every event once, in order, none of B's.
		var seen []Event
		var after int64
		for {
			page, err := s.Events(ctx, "cl_a", EventQuery{After: after, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			seen = append(seen, page...)
			after = page[len(page)-1].Seq
		}
		for i := 1; i < len(seen); i++ {
			if seen[i].Seq <= seen[i-1].Seq {
				t.Fatalf("event %d has seq %d after %d", i, seen[i].Seq, seen[i-1].Seq)
			}
		}
		first := evs[0]
		first.Seq = seen[0].Seq
		if len(seen) != 1203 || seen[0] != first || seen[1202].ID != evs[1202].ID {
			t.Fatalf("paged %d events; first %+v", len(seen), seen[0])
		}
		// Newest first, paging back in time: the same events reversed.
		var back []Event
		for before := int64(0); ; {
			page, err := s.Events(ctx, "cl_a", EventQuery{After: before, Limit: 500, Newest: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			back = append(back, page...)
			before = page[len(page)-1].Seq
		}
		if len(back) != 1203 || back[0].ID != seen[1202].ID || back[1202].ID != seen[0].ID {
			t.Fatalf("newest first: %d events", len(back))
		}
		opens, err := s.Events(ctx, "cl_a", EventQuery{Type: "open", MessageID: "msg_2", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range opens {
			if e.Type != "open" || e.MessageID != "msg_2" {
				t.Fatalf("filter leaked %+v", e)
			}
		}
		if len(opens) != 201 {
			t.Fatalf("%d opens of msg_2, want 201", len(opens))
		}
		since, err := s.Events(ctx, "cl_a", EventQuery{Since: base.Add(1200 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if len(since) != 3 {
			t.Fatalf("since: %d", len(since))
		}
		if b, err := s.Events(ctx, "cl_b", EventQuery{}); err != nil || len(b) != 1 || b[0].ID != "ffff" {
			t.Fatalf("b's events: %+v (err %v)", b, err)
		}

		if ok, err := s.Suppressed(ctx, "cl_a", "ann@example.com"); err != nil || ok {
			t.Fatalf("suppressed before (err %v)", err)
		}
		for range 2 { // idempotent
			if err := s.Suppress(ctx, "cl_a", "Ann@Example.com", "unsubscribe", "test", base); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.Suppressed(ctx, "cl_a", "ann@example.COM"); err != nil || !ok {
			t.Fatalf("not suppressed (err %v)", err)
		}
		if ok, err := s.Suppressed(ctx, "cl_b", "ann@example.com"); err != nil || ok {
			t.Fatalf("suppression leaked to another cluster (err %v)", err)
		}
	})
}

func TestWatch(t *testing.T) {
	s := backends["sqlite"](t)
	defer s.Close()
	mustCluster(t, s, "cl_a", "acme")
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan int64, 10)
	poke := make(chan struct{})
	go Watch(wctx, s, time.Hour, poke, func(_ context.Context, serial int64) error {
		seen <- serial
		return nil
	})
	first := <-seen
	mustDomain(t, s, "cl_a", "td_1", "one.example.com")
	poke <- struct{}{}
	if next := <-seen; next <= first {
		t.Fatalf("serial %d after %d", next, first)
	}
	poke <- struct{}{} // no change: no reload
	select {
	case v := <-seen:
		t.Fatalf("reloaded without a change: %d", v)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestBlobs(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		now := time.Unix(1000, 0).UTC()
		for _, k := range []string{"certs/a/x.crt", "certs/a/x.key", "certs/a_b/y.crt", "certs/a%/z", "acme/account.json"} {
			if err := s.PutBlob(ctx, k, []byte("v:"+k+"\x00\xff"), now); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutBlob(ctx, "certs/a/x.crt", []byte("new"), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		v, mod, err := s.Blob(ctx, "certs/a/x.crt")
		if err != nil || string(v) != "new" || !mod.Equal(now.Add(time.Hour)) {
			t.Fatalf("get: %q %v %v", v, mod, err)
		}
		if _, _, err := s.Blob(ctx, "certs/none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		keys, err := s.BlobKeys(ctx, "certs/a")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(keys) != "[certs/a/x.crt certs/a/x.key]" {
			t.Fatalf("keys under certs/a: %v (LIKE wildcards must be literal)", keys)
		}
		if all, err := s.BlobKeys(ctx, ""); err != nil || len(all) != 5 {
			t.Fatalf("all keys: %v (err %v)", all, err)
		}
		if err := s.DeleteBlobs(ctx, "certs/a"); err != nil {
			t.Fatal(err)
		}
		if keys, err := s.BlobKeys(ctx, "certs"); err != nil || fmt.Sprint(keys) != "[certs/a%/z certs/a_b/y.crt]" {
			t.Fatalf("after delete: %v (err %v)", keys, err)
		}
	})
}

func TestSendingDomains(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		now := time.Unix(1_800_000_000, 0).UTC()
		mk := func(cluster, id, label, name string) (SendingDomain, []DKIMKey, TrackingDomain) {
			d := SendingDomain{ID: id, ClusterID: cluster, Name: name, Label: label, ClickHost: "clicks." + name, BounceHost: "bounce." + name,
				ClickDomainID: "td_" + id, Algorithms: []string{"rsa"}, Status: domain.StatusPending,
				Records: map[string]RecordState{"wm1._domainkey." + name: {Status: domain.StatusPending}}, Rotation: []byte(`{"rsa":{}}`),
				CreatedAt: now, UpdatedAt: now}
			keys := []DKIMKey{{DomainID: id, Algorithm: "rsa", Slot: 0, PrivateKey: "sealed0", TXT: "v=DKIM1; p=0", PublishedAt: now},
				{DomainID: id, Algorithm: "rsa", Slot: 1, PrivateKey: "sealed1", TXT: "v=DKIM1; p=1", PublishedAt: now}}
			click := newDomain(cluster, "td_"+id, "clicks."+name)
			return d, keys, click
		}
		d, keys, click := mk("cl_a", "sd_1", "l1", "example.com")
		serial, err := s.ZoneSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateSendingDomain(ctx, d, keys, click, Limits{}); err != nil {
			t.Fatal(err)
		}
		if after, err := s.ZoneSerial(ctx); err != nil || after <= serial {
			t.Fatalf("zone serial did not move (err %v)", err)
		}
		// Same name in the cluster, or a click host already a tracking
		// domain: duplicate, and nothing half-made is left.
		d2, k2, c2 := mk("cl_a", "sd_2", "l2", "example.com")
		if err := s.CreateSendingDomain(ctx, d2, k2, c2, Limits{}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate: %v", err)
		}
		if _, err := s.TrackingDomain(ctx, "cl_a", "td_sd_2"); !errors.Is(err, ErrNotFound) {
			t.Fatal("a refused add left its click domain")
		}
		d3, k3, c3 := mk("cl_b", "sd_3", "l3", "example.com") // other cluster: fine
		d3.Status = domain.StatusActive
		if err := s.CreateSendingDomain(ctx, d3, k3, c3, Limits{}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SendingDomainByName(ctx, "cl_b", "example.com"); err != nil || got.ID != "sd_3" || got.Status != domain.StatusActive {
			t.Fatalf("the other cluster's example.com: %+v %v", got, err)
		}
		// The active one of any cluster (cl_a's is pending).
		if got, err := s.ActiveSendingDomainByName(ctx, "example.com"); err != nil || got.ID != "sd_3" {
			t.Fatalf("the active example.com: %+v %v", got, err)
		}
		if _, err := s.ActiveSendingDomainByName(ctx, "other.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no such active domain: %v", err)
		}
		got, err := s.SendingDomain(ctx, "cl_a", "sd_1")
		if err != nil || got.Label != "l1" || got.Records["wm1._domainkey.example.com"].Status != domain.StatusPending || string(got.Rotation) != `{"rsa":{}}` {
			t.Fatalf("read back: %+v %v", got, err)
		}
		if _, err := s.SendingDomain(ctx, "cl_b", "sd_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cross-cluster: %v", err)
		}
		if byName, err := s.SendingDomainByName(ctx, "cl_a", "example.com"); err != nil || byName.ID != "sd_1" {
			t.Fatalf("by name: %+v (err %v)", byName, err)
		}
		if list, err := s.SendingDomains(ctx, "cl_a"); err != nil || len(list) != 1 {
			t.Fatalf("list: %d (err %v)", len(list), err)
		}
		// An update under lock with a new key in slot 1.
		upd, err := s.UpdateSendingDomain(ctx, "cl_a", "sd_1", func(cur SendingDomain) (SendingDomain, []DKIMKey, error) {
			cur.Status = domain.StatusActive
			cur.Rotation = []byte(`{"rsa":{"Signing":1}}`)
			return cur, []DKIMKey{{DomainID: "sd_1", Algorithm: "rsa", Slot: 1, PrivateKey: "sealed1b", TXT: "v=DKIM1; p=1b", PublishedAt: now.Add(time.Hour)}}, nil
		}, nil)
		if err != nil || upd.Status != domain.StatusActive {
			t.Fatalf("update: %+v %v", upd, err)
		}
		ks, err := s.DKIMKeys(ctx, "sd_1")
		if err != nil {
			t.Fatal(err)
		}
		if len(ks) != 2 || ks[1].TXT != "v=DKIM1; p=1b" || ks[1].PrivateKey != "sealed1b" {
			t.Fatalf("keys: %+v", ks)
		}
		pub, err := s.PublishedDKIM(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(pub) != 4 || pub[0].Label != "l1" {
			t.Fatalf("published: %+v", pub)
		}
		if labels, err := s.SendingLabels(ctx); err != nil || fmt.Sprint(labels) != "[l1 l3]" {
			t.Fatalf("labels: %v (err %v)", labels, err)
		}
		if err := s.DeleteSendingDomain(ctx, "cl_b", "sd_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cross-cluster delete: %v", err)
		}
		if err := s.DeleteSendingDomain(ctx, "cl_a", "sd_1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TrackingDomain(ctx, "cl_a", "td_sd_1"); !errors.Is(err, ErrNotFound) {
			t.Fatal("click domain survived its sending domain")
		}
		if ks, err := s.DKIMKeys(ctx, "sd_1"); err != nil || len(ks) != 0 {
			t.Fatalf("keys survived (err %v)", err)
		}
	})
}

// setStatus moves a tracking domain to a status the way a check does,
// through ApplyCheck, keeping its strike count and schedule.
func setStatus(ctx context.Context, s Store, clusterID, id string, st domain.Status) (TrackingDomain, error) {
	return s.ApplyCheck(ctx, clusterID, id, func(d TrackingDomain) CheckUpdate {
		return CheckUpdate{Check: Check{At: d.UpdatedAt, OK: st == domain.StatusActive, Code: "set"},
			Status: st, FailedChecks: d.FailedChecks, NextCheck: d.NextCheck}
	})
}

// TestLimitsAcrossNodes: two nodes (two handles on one database) adding at
// once to one cluster never take it past its limits: exactly the limit
// lands, every other add is a *QuotaError, and another cluster is not
// held by it.
func TestLimitsAcrossNodes(t *testing.T) {
	// postgres-serializable: the operator's database defaults to another
	// isolation level; the store's transactions must not turn into errors.
	for _, backend := range []string{"sqlite", "postgres", "postgres-serializable"} {
		t.Run(backend, func(t *testing.T) {
			var a, b Store
			var err error
			if backend == "sqlite" {
				dir := t.TempDir()
				if a, err = OpenSQLite(ctx, dir); err == nil {
					b, err = OpenSQLite(ctx, dir)
				}
			} else {
				url := testenv.Postgres(t)
				if backend == "postgres-serializable" {
					db, err := sql.Open("pgx", url)
					if err != nil {
						t.Fatal(err)
					}
					var name string
					if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
						t.Fatal(err)
					}
					if _, err := db.Exec(`ALTER DATABASE "` + name + `" SET default_transaction_isolation = 'serializable'`); err != nil {
						t.Fatal(err)
					}
					db.Close()
				}
				if a, err = OpenPostgres(ctx, url); err == nil {
					b, err = OpenPostgres(ctx, url)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			defer b.Close()
			mustCluster(t, a, "cl_a", "acme")
			mustCluster(t, a, "cl_b", "bravo")
			lim := Limits{TrackingDomains: 7, SendingDomains: 3}
			now := time.Unix(1_800_000_000, 0).UTC()
			var wg sync.WaitGroup
			var landed, refused atomic.Int32
			errs := make(chan error, 40)
			for i := range 20 {
				node := []Store{a, b}[i%2]
				wg.Go(func() {
					var err error
					if i%4 < 2 { // a sending domain: itself and its click host
						id := fmt.Sprintf("sd_%d", i)
						name := fmt.Sprintf("s%d.example", i)
						d := SendingDomain{ID: id, ClusterID: "cl_a", Name: name, Label: fmt.Sprintf("l%d", i), ClickHost: "clicks." + name,
							BounceHost: "bounce." + name, ClickDomainID: "td_" + id, Algorithms: []string{"rsa"}, Status: domain.StatusPending,
							Rotation: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
						err = node.CreateSendingDomain(ctx, d, nil, newDomain("cl_a", "td_"+id, "clicks."+name), lim)
					} else {
						err = node.CreateTrackingDomain(ctx, newDomain("cl_a", fmt.Sprintf("td_%d", i), fmt.Sprintf("t%d.example", i)), lim)
					}
					var qe *QuotaError
					switch {
					case err == nil:
						landed.Add(1)
					case errors.As(err, &qe) && errors.Is(err, ErrQuota) && (qe.What == "tracking domains" || qe.What == "sending domains"):
						refused.Add(1)
					default:
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			tracking, _ := a.TrackingDomains(ctx, "cl_a")
			sending, _ := a.SendingDomains(ctx, "cl_a")
			if len(tracking) > lim.TrackingDomains || len(sending) > lim.SendingDomains || landed.Load()+refused.Load() != 20 {
				t.Fatalf("%d tracking and %d sending domains (limits %+v); %d landed, %d refused", len(tracking), len(sending), lim, landed.Load(), refused.Load())
			}
			if len(tracking) != lim.TrackingDomains {
				t.Fatalf("%d tracking domains, want the limit %d", len(tracking), lim.TrackingDomains)
			}
			if err := b.CreateTrackingDomain(ctx, newDomain("cl_b", "td_b", "t.bravo.example"), lim); err != nil {
				t.Fatalf("another cluster: %v", err)
			}
		})
	}
}

func TestBlockedDomains(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		now := time.Unix(1_800_000_000, 0).UTC()
		serial, _ := s.ZoneSerial(ctx)
		for _, d := range []string{"spam.example", "bad.example"} {
			if err := s.BlockDomain(ctx, BlockedDomain{Domain: d, Reason: "reported", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.BlockDomain(ctx, BlockedDomain{Domain: "bad.example", CreatedAt: now}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("twice: %v", err)
		}
		list, err := s.BlockedDomains(ctx)
		if err != nil || len(list) != 2 || list[0].Domain != "bad.example" || list[0].Reason != "reported" || !list[0].CreatedAt.Equal(now) {
			t.Fatalf("list %+v %v", list, err)
		}
		if after, _ := s.ZoneSerial(ctx); after < serial+2 {
			t.Fatal("the serial did not move")
		}
		if err := s.UnblockDomain(ctx, "bad.example"); err != nil {
			t.Fatal(err)
		}
		if err := s.UnblockDomain(ctx, "bad.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("twice: %v", err)
		}
		if list, _ := s.BlockedDomains(ctx); len(list) != 1 {
			t.Fatalf("after unblock: %+v", list)
		}
	})
}

func TestSuppressionList(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		now := time.Unix(1_800_000_000, 0).UTC()
		if err := s.Suppress(ctx, "cl_a", "Ann@example.org", event.ReasonUnsubscribe, "message msg_1", now); err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"bob@example.org", "bo_b@example.org", "cy@other.example"} {
			if err := s.AddSuppression(ctx, "cl_a", Suppression{Address: a, Reason: event.ReasonManual, Source: "api", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddSuppression(ctx, "cl_a", Suppression{Address: "ANN@example.org", Reason: event.ReasonManual, CreatedAt: now}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("twice: %v", err)
		}
		all, err := s.ListSuppressions(ctx, "cl_a", SuppressionQuery{})
		if err != nil || len(all) != 4 || all[0].Address != "ann@example.org" || all[0].Reason != event.ReasonUnsubscribe || all[0].Source != "message msg_1" {
			t.Fatalf("all %+v %v", all, err)
		}
		// A prefix is a prefix: "bo_" matches bo_b only, not bob (no LIKE).
		if got, _ := s.ListSuppressions(ctx, "cl_a", SuppressionQuery{Prefix: "bo_"}); len(got) != 1 || got[0].Address != "bo_b@example.org" {
			t.Fatalf("prefix bo_: %+v", got)
		}
		if got, _ := s.ListSuppressions(ctx, "cl_a", SuppressionQuery{Reason: event.ReasonManual, Limit: 2}); len(got) != 2 || got[1].Address != "bob@example.org" {
			t.Fatalf("manual, page 1: %+v", got)
		}
		if got, _ := s.ListSuppressions(ctx, "cl_a", SuppressionQuery{Reason: event.ReasonManual, After: "bob@example.org"}); len(got) != 1 || got[0].Address != "cy@other.example" {
			t.Fatalf("manual, page 2: %+v", got)
		}
		// Many at once: the new ones counted, those there kept as they were.
		n, err := s.AddSuppressions(ctx, "cl_a", []Suppression{{Address: "new1@example.org", Reason: event.ReasonManual, Source: "csv import", CreatedAt: now},
			{Address: "ANN@example.org", Reason: event.ReasonManual, Source: "csv import", CreatedAt: now}, {Address: "new2@example.org", Reason: event.ReasonManual, Source: "csv import", CreatedAt: now}})
		if err != nil || n != 2 {
			t.Fatalf("AddSuppressions: %d %v", n, err)
		}
		if got, _ := s.ListSuppressions(ctx, "cl_a", SuppressionQuery{Prefix: "ann@"}); len(got) != 1 || got[0].Reason != event.ReasonUnsubscribe {
			t.Fatalf("an address already there changed: %+v", got)
		}
		if _, err := s.AddSuppressions(ctx, "cl_gone", []Suppression{{Address: "x@example.org", Reason: event.ReasonManual, CreatedAt: now}}); err == nil {
			t.Fatal("suppressions of no cluster")
		}
		for _, a := range []string{"new1@example.org", "new2@example.org"} {
			if err := s.Unsuppress(ctx, "cl_a", a); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.ListSuppressions(ctx, "cl_b", SuppressionQuery{}); len(got) != 0 {
			t.Fatalf("another cluster's: %+v", got)
		}
		if err := s.Unsuppress(ctx, "cl_a", "BOB@example.org"); err != nil {
			t.Fatal(err)
		}
		if err := s.Unsuppress(ctx, "cl_a", "bob@example.org"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("twice: %v", err)
		}
		if ok, _ := s.Suppressed(ctx, "cl_a", "bob@example.org"); ok {
			t.Fatal("still suppressed")
		}
	})
}

// TestLoadEvents: a journal's events are stored with its offset in one
// transaction; a loader whose offset is not the stored one stores nothing;
// events of a cluster deleted meanwhile are dropped.
func TestLoadEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		at := time.Now().UTC().Truncate(time.Microsecond)
		ev := func(cluster, msg string) Event {
			return Event{ID: NewEventID(at), ClusterID: cluster, Type: event.Click, At: at, MessageID: msg}
		}
		if n, err := s.JournalOffset(ctx, "j1"); err != nil || n != 0 {
			t.Fatalf("offset of a new journal: %d %v", n, err)
		}
		if err := s.LoadEvents(ctx, "j1", 0, 100, []Event{ev("cl_a", "m1"), ev("cl_gone", "m2"), ev("cl_a", "m3")}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.JournalOffset(ctx, "j1"); err != nil || n != 100 {
			t.Fatalf("offset after a load: %d %v", n, err)
		}
		for _, from := range []int64{0, 50, 150} {
			if err := s.LoadEvents(ctx, "j1", from, 200, []Event{ev("cl_a", "dup")}); !errors.Is(err, ErrOffsetMoved) {
				t.Fatalf("a load from %d when the journal is at 100: %v", from, err)
			}
		}
		if err := s.LoadEvents(ctx, "j2", 10, 20, nil); err != nil {
			t.Fatalf("a first load not from 0: %v", err)
		}
		if n, _ := s.JournalOffset(ctx, "j2"); n != 20 {
			t.Fatalf("offset of j2: %d", n)
		}
		if err := s.LoadEvents(ctx, "j1", 100, 130, nil); err != nil {
			t.Fatal(err)
		}
		evs, err := s.Events(ctx, "cl_a", EventQuery{})
		if err != nil || len(evs) != 2 || evs[0].MessageID != "m1" || evs[1].MessageID != "m3" || evs[1].Seq <= evs[0].Seq {
			t.Fatalf("loaded: %+v %v", evs, err)
		}
		if n, _ := s.JournalOffset(ctx, "j1"); n != 130 {
			t.Fatalf("offset after an empty load: %d", n)
		}
	})
}

// TestEventSequenceOneOrder: writers store events at once while a reader
// pages by cursor the whole time; the reader sees every event exactly once:
// no transaction commits a sequence number below one a reader has passed.
func TestEventSequenceOneOrder(t *testing.T) {
	// Each writer holds its numbers a random while before it commits, so
	// that a scheme letting later numbers commit first would be caught.
	afterSeq = func() { time.Sleep(time.Duration(mrand.IntN(2000)) * time.Microsecond) }
	defer func() { afterSeq = func() {} }()
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		const writers, batches, per = 4, 25, 20
		var wg sync.WaitGroup
		done := make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					var evs []Event
					for i := range per {
						evs = append(evs, Event{ID: NewEventID(time.Now()), ClusterID: "cl_a", Type: event.Open, At: time.Now(),
							MessageID: fmt.Sprintf("w%d-b%d-%d", w, b, i)})
					}
					var err error
					if w%2 == 0 {
						err = s.InsertEvents(ctx, evs)
					} else {
						err = s.LoadEvents(ctx, fmt.Sprint("j", w), int64(b), int64(b+1), evs)
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		go func() { wg.Wait(); close(done) }()
		seen := map[string]int{}
		var cursor int64
		page := func() int {
			evs, err := s.Events(ctx, "cl_a", EventQuery{After: cursor, Limit: 37})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				seen[e.MessageID]++
				cursor = e.Seq
			}
			return len(evs)
		}
	reading:
		for {
			select {
			case <-done:
				break reading
			default:
				page()
			}
		}
		for page() > 0 {
		}
		if len(seen) != writers*batches*per {
			t.Fatalf("the reader saw %d events of %d", len(seen), writers*batches*per)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("%s seen %d times", id, n)
			}
		}
	})
}

// TestWebhookEventBatches: a webhook gets the events stored after it, of
// its types, in order, up to its max_batch; its cursor moves only when a
// batch is finished without a retry; a batch to retry comes back the
// same; a claim leases; another cluster's events never appear.
func TestWebhookEventBatches(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		now := time.Unix(1_800_000_000, 0).UTC()
		ev := func(cluster string, typ event.Type, msg string) Event {
			return Event{ID: NewEventID(now), ClusterID: cluster, Type: typ, At: now, MessageID: msg}
		}
		if err := s.InsertEvents(ctx, []Event{ev("cl_a", event.Click, "before")}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateWebhook(ctx, Webhook{ID: "wh_a", ClusterID: "cl_a", URL: "https://h.example/", Events: []string{"click"}, Secret: "s",
			CreatedAt: now, MaxBatch: 3}); err != nil {
			t.Fatal(err)
		}
		var evs []Event
		for i, typ := range []event.Type{event.Click, event.Open, event.Click, event.Click, event.Open, event.Click, event.Click, event.Open} {
			evs = append(evs, ev("cl_a", typ, fmt.Sprint("m", i)))
		}
		evs = append(evs, ev("cl_b", event.Click, "other"))
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		msgs := func(b EventBatch) string {
			var out []string
			for _, e := range b.Events {
				out = append(out, e.MessageID)
			}
			return strings.Join(out, " ")
		}
		claim := func(at time.Time) []EventBatch {
			t.Helper()
			bs, err := s.ClaimEventBatches(ctx, at, time.Minute, 10)
			if err != nil {
				t.Fatal(err)
			}
			return bs
		}
		if n, oldest, err := s.WebhookBacklog(ctx); err != nil || n != 8 || !oldest.Equal(now) {
			t.Fatalf("backlog: %d %v %v; want the 8 events after the cursor", n, oldest, err)
		}
		bs := claim(now)
		if len(bs) != 1 || msgs(bs[0]) != "m0 m2 m3" {
			t.Fatalf("first batch: %+v", bs)
		}
		if again := claim(now); len(again) != 0 {
			t.Fatalf("a leased webhook claimed twice: %+v", again)
		}
		if err := s.FinishEventBatch(ctx, bs[0], Attempt{At: now, Status: "delivered", Code: 204}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		bs = claim(now)
		if len(bs) != 1 || msgs(bs[0]) != "m5 m6" || bs[0].Webhook.Attempts != 0 {
			t.Fatalf("second batch: %+v", bs)
		}
		if err := s.FinishEventBatch(ctx, bs[0], Attempt{At: now, Status: "retrying", Code: 503}, now.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if early := claim(now.Add(10 * time.Second)); len(early) != 0 {
			t.Fatalf("claimed before its retry: %+v", early)
		}
		bs = claim(now.Add(31 * time.Second))
		if len(bs) != 1 || msgs(bs[0]) != "m5 m6" || bs[0].Webhook.Attempts != 1 {
			t.Fatalf("the retried batch: %+v", bs)
		}
		if err := s.FinishEventBatch(ctx, bs[0], Attempt{At: now, Status: "delivered", Code: 200}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if rest := claim(now.Add(time.Hour)); len(rest) != 0 {
			t.Fatalf("after the last event: %+v", rest)
		}
		hooks, _ := s.Webhooks(ctx, "cl_a")
		if len(hooks) != 1 || hooks[0].Last == nil || hooks[0].Last.Code != 200 || hooks[0].MaxBatch != 3 {
			t.Fatalf("webhook after: %+v", hooks)
		}
		// A webhook that takes none of what comes only moves its cursor.
		if err := s.CreateWebhook(ctx, Webhook{ID: "wh_b", ClusterID: "cl_b", URL: "https://h.example/", Events: []string{"bounce"}, Secret: "s", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		s.InsertEvents(ctx, []Event{ev("cl_b", event.Click, "x")})
		bs = claim(now.Add(2 * time.Hour))
		if len(bs) != 1 || len(bs[0].Events) != 0 || bs[0].Webhook.MaxBatch != DefaultMaxBatch {
			t.Fatalf("a batch of nothing: %+v", bs)
		}
		s.FinishEventBatch(ctx, bs[0], Attempt{}, time.Time{})
		if rest := claim(now.Add(3 * time.Hour)); len(rest) != 0 {
			t.Fatalf("the cursor did not move past what it does not take: %+v", rest)
		}
	})
}

// TestExpireEvents: events before the cutoff go, those after stay; on
// PostgreSQL the old days' partitions are dropped, the week ahead has
// its partitions, and old rows in the default partition are deleted.
func TestExpireEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		now := time.Date(2027, 6, 15, 12, 0, 0, 0, time.UTC) // the fake clock
		var evs []Event
		for i, age := range []time.Duration{200 * 24 * time.Hour, 120 * 24 * time.Hour, 91 * 24 * time.Hour, 89 * 24 * time.Hour, time.Hour} {
			at := now.Add(-age)
			evs = append(evs, Event{ID: NewEventID(at), ClusterID: "cl_a", Type: event.Click, At: at, MessageID: fmt.Sprint("age", i)})
		}
		// Enough old ones for several delete steps.
		for i := range 2*expireBatch + 10 {
			at := now.Add(-100 * 24 * time.Hour)
			evs = append(evs, Event{ID: NewEventID(at), ClusterID: "cl_a", Type: event.Open, At: at, MessageID: fmt.Sprint("bulk", i)})
		}
		old := day(now.Add(-120 * 24 * time.Hour)) // on PostgreSQL a day with its partition
		if s.Backend() == "postgres" {
			if err := s.(*sqlStore).ddl(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF events FOR VALUES FROM (%d) TO (%d)`,
				partitionName(old), old*86400_000_000, (old+1)*86400_000_000)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.InsertEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := s.LoadEvents(ctx, "old-journal", 0, 10, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ExpireEvents(ctx, now.Add(-90*24*time.Hour), now); err != nil {
			t.Fatal(err)
		}
		left, err := s.Events(ctx, "cl_a", EventQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range left {
			got = append(got, e.MessageID)
		}
		if fmt.Sprint(got) != "[age3 age4]" {
			t.Fatalf("after expiry %d events left, the first %v", len(got), got[:min(len(got), 5)])
		}
		if s.Backend() == "postgres" {
			sq := s.(*sqlStore)
			var n int
			sq.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
				WHERE i.inhparent = 'events'::regclass AND c.relname = $1`, partitionName(day(now)+7)).Scan(&n)
			if n != 1 {
				t.Fatalf("no partition for a week ahead (%s)", partitionName(day(now)+7))
			}
			sq.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_class WHERE relname = $1`, partitionName(old)).Scan(&n)
			if n != 0 {
				t.Fatalf("the partition of an expired day (%s) is still there", partitionName(old))
			}
		}
		// Again: nothing more goes.
		if _, err := s.ExpireEvents(ctx, now.Add(-90*24*time.Hour), now); err != nil {
			t.Fatal(err)
		}
		if left, _ := s.Events(ctx, "cl_a", EventQuery{}); len(left) != 2 {
			t.Fatalf("a second expiry left %d", len(left))
		}
	})
}

// TestStatsRollups: the rollups move with the events stored, in the same
// transaction, across batches: counts by class, uniques once per
// recipient and message (and link), by hour, by day, by group; expiry.
func TestStatsRollups(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		h0 := time.Date(2027, 3, 4, 10, 0, 0, 0, time.UTC)
		ev := func(typ event.Type, class event.Class, at time.Time, rcpt, url string) Event {
			return Event{ID: NewEventID(at), ClusterID: "cl_a", Type: typ, Class: class, At: at, MessageID: "msg_1", Recipient: rcpt,
				URL: url, Host: "t.acme.example"}
		}
		batch1 := []Event{
			ev(event.Open, event.Human, h0.Add(time.Minute), "ann@example.com", ""),
			ev(event.Open, event.Proxy, h0.Add(2*time.Minute), "ann@example.com", ""),
			ev(event.Click, event.Human, h0.Add(3*time.Minute), "ann@example.com", "https://shop/a"),
			ev(event.Click, event.Bot, h0.Add(4*time.Minute), "bob@example.com", "https://shop/a"),
			ev(event.Bounce, event.Hard, h0.Add(5*time.Minute), "cy@example.com", ""),
			ev(event.Relayed, "", h0.Add(5*time.Minute), "dee@example.com", ""),
		}
		batch1 = append(batch1, Event{ID: "x", ClusterID: "cl_b", Type: event.Open, At: h0, MessageID: "m", Recipient: "ann@example.com"})
		// A's msg_1 was queued signed for acme.example (the first queued
		// copy names it; a later one does not change it); B's m unsigned.
		for i, sd := range []string{"Acme.Example", "other.example", "", "quiet.example"} {
			cluster, msg := "cl_a", "msg_1"
			switch sd {
			case "":
				cluster, msg = "cl_b", "m"
			case "quiet.example": // a message that has no event yet
				msg = "msg_quiet"
			}
			if err := s.EnqueueMail(ctx, []Mail{{ID: fmt.Sprintf("q%d", i), ClusterID: cluster, MessageID: msg, Rcpt: "ann@example.com",
				ServerURL: "smtp://127.0.0.1:1", Status: MailSent, NextAt: h0, CreatedAt: h0, SendingDomain: sd}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.InsertEvents(ctx, batch1); err != nil {
			t.Fatal(err)
		}
		batch2 := []Event{ // an hour later, through the loader's path
			ev(event.Open, event.Human, h0.Add(61*time.Minute), "ANN@example.com", ""), // not unique: Ann opened before
			ev(event.Click, event.Human, h0.Add(62*time.Minute), "ann@example.com", "https://shop/b"),
			ev(event.Unsubscribe, event.Human, h0.Add(63*time.Minute), "ann@example.com", ""),
			ev(event.Complaint, "", h0.Add(64*time.Minute), "bob@example.com", ""),
			ev(event.Bounce, event.Soft, h0.Add(65*time.Minute), "eve@example.com", ""),
		}
		if err := s.LoadEvents(ctx, "j", 0, 1, batch2); err != nil {
			t.Fatal(err)
		}
		q := func(q StatsQuery) []StatsRow {
			t.Helper()
			rows, err := s.Stats(ctx, "cl_a", q)
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
		hours := q(StatsQuery{From: h0.Add(-time.Hour), To: h0.Add(3 * time.Hour)})
		if len(hours) != 2 || hours[0].Start != h0.UnixMicro() || hours[1].Start != h0.Add(time.Hour).UnixMicro() {
			t.Fatalf("hours: %+v", hours)
		}
		a, b := hours[0].Counts, hours[1].Counts
		if a.Opens() != 2 || a.OpensProxy != 1 || a.UniqueOpens != 1 || a.Clicks() != 2 || a.ClicksBot != 1 || a.UniqueClicks != 2 ||
			a.BouncesHard != 1 || a.Relayed != 1 {
			t.Fatalf("first hour: %+v", a)
		}
		if b.Opens() != 1 || b.UniqueOpens != 0 || b.Clicks() != 1 || b.UniqueClicks != 0 || b.Unsubscribes != 1 || b.Complaints != 1 || b.BouncesSoft != 1 {
			t.Fatalf("second hour: %+v", b)
		}
		days := q(StatsQuery{From: h0.Add(-24 * time.Hour), To: h0.Add(24 * time.Hour), Day: true})
		if len(days) != 1 || days[0].Start != time.Date(2027, 3, 4, 0, 0, 0, 0, time.UTC).UnixMicro() || days[0].Opens() != 3 || days[0].Clicks() != 3 {
			t.Fatalf("days: %+v", days)
		}
		links := q(StatsQuery{From: h0, To: h0.Add(3 * time.Hour), Day: true, Dim: stats.Link})
		if len(links) != 2 || links[0].Value != "https://shop/a" || links[0].Clicks() != 2 || links[0].UniqueClicks != 2 ||
			links[1].Value != "https://shop/b" || links[1].UniqueClicks != 1 {
			t.Fatalf("links: %+v", links)
		}
		if hosts := q(StatsQuery{From: h0, To: h0.Add(3 * time.Hour), Day: true, Dim: stats.Host}); len(hosts) != 1 || hosts[0].Value != "t.acme.example" || hosts[0].Opens() != 3 {
			t.Fatalf("hosts: %+v", hosts)
		}
		if sds := q(StatsQuery{From: h0, To: h0.Add(3 * time.Hour), Day: true, Dim: stats.SendingDomain}); len(sds) != 1 || sds[0].Value != "acme.example" ||
			sds[0].Opens() != 3 || sds[0].Clicks() != 3 || sds[0].Relayed != 1 || sds[0].BouncesSoft != 1 {
			t.Fatalf("sending domains: %+v", sds)
		}
		if other, _ := s.Stats(ctx, "cl_b", StatsQuery{From: h0.Add(-time.Hour), To: h0.Add(time.Hour)}); len(other) != 1 || other[0].Opens() != 1 || other[0].UniqueOpens != 1 {
			t.Fatalf("cluster B: %+v (its Ann is not A's)", other)
		}
		if other, _ := s.Stats(ctx, "cl_b", StatsQuery{From: h0.Add(-time.Hour), To: h0.Add(time.Hour), Dim: stats.SendingDomain}); len(other) != 0 {
			t.Fatalf("cluster B's unsigned message counts under a sending domain: %+v", other)
		}
		// A cutoff inside the first hour keeps it: it counts events after
		// the cutoff too.
		if n, err := s.ExpireStats(ctx, h0.Add(30*time.Minute)); err != nil || n != 0 {
			t.Fatalf("expire stats inside an hour: %d %v", n, err)
		}
		// The first hour's rows: A's total, host, message, sending domain
		// and link; B's total and message.
		if n, err := s.ExpireStats(ctx, h0.Add(time.Hour)); err != nil || n != 7 {
			t.Fatalf("expire stats: %d %v", n, err)
		}
		if left := q(StatsQuery{From: h0.Add(-time.Hour), To: h0.Add(3 * time.Hour)}); len(left) != 1 || left[0].Start != h0.Add(time.Hour).UnixMicro() {
			t.Fatalf("after expiry: %+v", left)
		}
		// Both messages were queued before the cutoff. msg_1 has rollups
		// left (the second hour): it keeps its sending domain. msg_quiet has
		// none: its sending domain went, and its later events count under
		// no sending domain.
		late := ev(event.Open, event.Human, h0.Add(70*time.Minute), "fay@example.com", "")
		quiet := late
		quiet.ID, quiet.MessageID = NewEventID(late.At), "msg_quiet"
		if err := s.InsertEvents(ctx, []Event{late, quiet}); err != nil {
			t.Fatal(err)
		}
		if sds := q(StatsQuery{From: h0, To: h0.Add(3 * time.Hour), Day: true, Dim: stats.SendingDomain}); len(sds) != 1 ||
			sds[0].Value != "acme.example" || sds[0].Opens() != 2 {
			t.Fatalf("sending domains after expiry: %+v", sds)
		}
	})
}

// enqueue queues a notice alone, in a transaction of its own, as a change
// of a domain queues it in its own (enqueueNotice), and returns for how
// many webhooks.
func enqueue(s Store, clusterID, event string, payload []byte, at time.Time) (n int, err error) {
	sq := s.(*sqlStore)
	err = sq.tx(ctx, func(tx *sql.Tx) error {
		n, err = sq.enqueueNotice(ctx, tx, clusterID, &Notice{Event: event, Payload: payload, At: at})
		return err
	})
	return n, err
}

// TestNoticesInTheChangesTransaction: a domain's notice is queued by the
// transaction that changes the domain, with the domain as changed, or not
// at all when the change fails.
func TestNoticesInTheChangesTransaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		now := time.Unix(2_000_000, 0).UTC()
		if err := s.CreateWebhook(ctx, Webhook{ID: "wh_1", ClusterID: "cl_a", URL: "https://a.example/1", Events: []string{"*"}, Secret: "s", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		mustDomain(t, s, "cl_a", "td_1", "track.a.com")
		queued := func() []Delivery {
			t.Helper()
			got, err := s.ClaimDeliveries(ctx, now.Add(time.Hour), time.Second, 10)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		check := func(st domain.Status, notice func(TrackingDomain) (*Notice, error)) (TrackingDomain, error) {
			return s.ApplyCheck(ctx, "cl_a", "td_1", func(TrackingDomain) CheckUpdate {
				return CheckUpdate{Check: Check{At: now, OK: true, Code: "ok"}, Status: st, Notice: notice}
			})
		}
		// The notice sees the domain as changed.
		if _, err := check(domain.StatusActive, func(after TrackingDomain) (*Notice, error) {
			return &Notice{Event: "tracking_domain.verified", Payload: []byte(`{"status":"` + string(after.Status) + `"}`), At: now}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := queued(); len(got) != 1 || got[0].Event != "tracking_domain.verified" || string(got[0].Payload) != `{"status":"active"}` {
			t.Fatalf("after the verification: %+v", got)
		}
		// A notice that cannot be made undoes the change.
		if _, err := check(domain.StatusPending, func(TrackingDomain) (*Notice, error) { return nil, errors.New("no body") }); err == nil {
			t.Fatal("the check committed without its notice")
		}
		if d, err := s.TrackingDomain(ctx, "cl_a", "td_1"); err != nil || d.Status != domain.StatusActive {
			t.Fatalf("after a failed notice: %+v %v", d, err)
		}
		// No notice (unchanged): none queued.
		if _, err := check(domain.StatusActive, func(TrackingDomain) (*Notice, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
		// A sending domain's check, and a delete refused (in use) or done.
		sd := SendingDomain{ID: "sd_1", ClusterID: "cl_a", Name: "a.com", Label: "l1", ClickHost: "clicks.a.com", BounceHost: "bounce.a.com",
			ClickDomainID: "td_c", Algorithms: []string{"rsa"}, Status: domain.StatusPending, Rotation: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
		if err := s.CreateSendingDomain(ctx, sd, nil, newDomain("cl_a", "td_c", "clicks.a.com"), Limits{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateSendingDomain(ctx, "cl_a", "sd_1", func(cur SendingDomain) (SendingDomain, []DKIMKey, error) {
			cur.Status = domain.StatusActive
			return cur, nil, nil
		}, func(after SendingDomain) (*Notice, error) {
			return &Notice{Event: "sending_domain.verified", Payload: []byte(`{"status":"` + string(after.Status) + `"}`), At: now}, nil
		}); err != nil {
			t.Fatal(err)
		}
		gone := &Notice{Event: "tracking_domain.deleted", Payload: []byte(`{}`), At: now}
		if err := s.DeleteTrackingDomain(ctx, "cl_a", "td_c", gone); !errors.As(err, new(*InUseError)) {
			t.Fatalf("delete the click host: %v", err)
		}
		if err := s.DeleteTrackingDomain(ctx, "cl_a", "td_1", gone); err != nil {
			t.Fatal(err)
		}
		got := queued()
		slices.SortFunc(got, func(a, b Delivery) int { return strings.Compare(a.Event, b.Event) })
		if len(got) != 2 || got[0].Event != "sending_domain.verified" || string(got[0].Payload) != `{"status":"active"}` ||
			got[1].Event != "tracking_domain.deleted" {
			t.Fatalf("after the sending check and the deletes: %+v", got)
		}
	})
}

// TestStatsFullChunks: batches of events big enough to fill the prepared
// full-size statements (events, firsts, rollups), twice, count as the
// small ones do.
func TestStatsFullChunks(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		h0 := time.Date(2027, 5, 6, 7, 0, 0, 0, time.UTC)
		for round := range 2 {
			var evs []Event
			for i := range 1234 {
				at := h0.Add(time.Duration(i) * time.Millisecond)
				evs = append(evs, Event{ID: NewEventID(at), ClusterID: "cl_a", Type: event.Click, Class: event.Human, At: at,
					MessageID: fmt.Sprintf("msg_%d", i), Recipient: fmt.Sprintf("r%d@example.com", i), URL: "https://shop/x", Host: "t.acme.example"})
			}
			if err := s.InsertEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			rows, err := s.Stats(ctx, "cl_a", StatsQuery{From: h0, To: h0.Add(time.Hour)})
			if err != nil || len(rows) != 1 || rows[0].Clicks() != int64(1234*(round+1)) || rows[0].UniqueClicks != 1234 {
				t.Fatalf("round %d: %+v %v", round, rows, err)
			}
			msgs, err := s.Stats(ctx, "cl_a", StatsQuery{From: h0, To: h0.Add(time.Hour), Dim: stats.Message})
			if err != nil || len(msgs) != 1234 || msgs[0].Clicks() != int64(round+1) {
				t.Fatalf("round %d: %d messages, first %+v, %v", round, len(msgs), msgs[0], err)
			}
		}
	})
}
