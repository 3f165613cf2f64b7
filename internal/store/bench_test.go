package store

import (
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/stats"
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

// statsEvents is how many events BenchmarkStats loads first.
var statsEvents = 1_000_000

// BenchmarkStats answers GET /v1/stats's queries over a million loaded
// events (30 days of opens and clicks on 100 messages, 20 links, 50,000
// recipients), on both databases: 30 days by day, 7 days by hour, 30 days
// by link; and, for the peer, the same 30 days by day counted by scanning
// the events themselves with one GROUP BY, as a store without rollups must.
// It also reports the load rate of those events (events/s), in the order
// they happened, rollups and uniques built.
func BenchmarkStats(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			s := backends[name](b)
			defer s.Close()
			if err := s.CreateCluster(ctx, Cluster{ID: "cl_bench", Name: "bench", CreatedAt: time.Now()}, "hash-bench"); err != nil {
				b.Fatal(err)
			}
			end := time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC)
			start := end.Add(-30 * 24 * time.Hour)
			span := int64(end.Sub(start))
			rng := mrand.New(mrand.NewPCG(1, 2))
			began := time.Now()
			batch := make([]Event, 0, 5000)
			for i := range statsEvents {
				// In the order they happen, as a journal loads them.
				at := start.Add(time.Duration(span / int64(statsEvents) * int64(i)))
				typ, class := event.Open, event.Human
				if i%3 == 0 {
					typ = event.Click
				}
				if i%7 == 0 {
					class = event.Bot
				}
				batch = append(batch, Event{ID: NewEventID(at), ClusterID: "cl_bench", Type: typ, Class: class, At: at,
					MessageID: fmt.Sprintf("msg_%d", rng.IntN(100)), Recipient: fmt.Sprintf("r%d@example.com", rng.IntN(50_000)),
					URL: fmt.Sprintf("https://shop.example/item/%d", rng.IntN(20)), Host: "t.bench.example"})
				if len(batch) == cap(batch) {
					if err := s.LoadEvents(ctx, "bench", int64(i+1-len(batch)), int64(i+1), batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			loadRate := float64(statsEvents) / time.Since(began).Seconds()
			for _, q := range []struct {
				name string
				q    StatsQuery
			}{
				{"30DaysByDay", StatsQuery{From: start, To: end, Day: true}},
				{"7DaysByHour", StatsQuery{From: end.Add(-7 * 24 * time.Hour), To: end}},
				{"30DaysByLink", StatsQuery{From: start, To: end, Day: true, Dim: stats.Link}},
			} {
				b.Run(q.name, func(b *testing.B) {
					for b.Loop() {
						rows, err := s.Stats(ctx, "cl_bench", q.q)
						if err != nil || len(rows) == 0 {
							b.Fatal(len(rows), err)
						}
					}
					b.ReportMetric(loadRate, "load-events/s") // after the loop, which clears reported metrics
				})
			}
			b.Run("PeerScan30DaysByDay", func(b *testing.B) {
				sq := s.(*sqlStore)
				for b.Loop() {
					rows, err := sq.db.QueryContext(ctx, sq.q(`SELECT at / 86400000000 AS d, type, class, COUNT(*) FROM events
						WHERE cluster_id = ? AND at >= ? AND at < ? GROUP BY d, type, class`), "cl_bench", micros(start), micros(end))
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for rows.Next() {
						n++
					}
					rows.Close()
					if n == 0 {
						b.Fatal("no rows")
					}
				}
			})
		})
	}
}
