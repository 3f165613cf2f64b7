package store

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/waymark-mail/waymark/internal/testenv"
)

// benchDomains is how many tracking domains the benchmark store holds.
const benchDomains = 1000

func seedBench(b *testing.B, s Store) {
	b.Helper()
	if err := s.CreateCluster(ctx, Cluster{ID: "cl_bench", Name: "bench"}, "hash-bench"); err != nil {
		b.Fatal(err)
	}
	for i := range benchDomains {
		if err := s.CreateTrackingDomain(ctx, newDomain("cl_bench", fmt.Sprintf("td_%d", i), fmt.Sprintf("t%d.example.com", i)), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStore measures the store calls on the API's paths, on both
// databases: the key lookup every request makes, a read by name, an add.
func BenchmarkStore(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s := backends[name](b)
			defer s.Close()
			seedBench(b, s)
			b.Run("ClusterByKey", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.ClusterByKey(ctx, "hash-bench"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("TrackingDomainByName", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if _, err := s.TrackingDomainByName(ctx, "cl_bench", fmt.Sprintf("t%d.example.com", i%benchDomains)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("CreateTrackingDomain", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := s.CreateTrackingDomain(ctx, newDomain("cl_bench", fmt.Sprintf("td_b%d", i), fmt.Sprintf("b%d.example.com", i)), Limits{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkPeerPgbench is the peer for BenchmarkStore/postgres/
// TrackingDomainByName: pgbench, PostgreSQL's own client, running the same
// SELECT with a prepared statement over one connection, b.N times. The ratio
// of the two is what our Go layers (database/sql, pgx, scanning) cost.
func BenchmarkPeerPgbench(b *testing.B) {
	pgbench, err := testenv.PGBin("pgbench")
	if err != nil {
		testenv.Missing(b, "pgbench", err)
	}
	url := testenv.Postgres(b)
	s, err := OpenPostgres(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	seedBench(b, s)
	script := filepath.Join(b.TempDir(), "select.sql")
	query := `\set n random(0, ` + strconv.Itoa(benchDomains-1) + ")\n" +
		`SELECT ` + trackingCols + ` FROM tracking_domains WHERE cluster_id = 'cl_bench' AND name = 't' || :n || '.example.com';` + "\n"
	if err := os.WriteFile(script, []byte(query), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	out, err := exec.Command(pgbench, "-n", "-c", "1", "-j", "1", "-M", "prepared", "-t", strconv.Itoa(b.N), "-f", script, url).CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench: %v\n%s", err, out)
	}
}
