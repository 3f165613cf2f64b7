package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMigrationDefaultFlag: a database made before migration 12, with
// delivery_servers.is_default an INTEGER, keeps each server's default flag
// when migration 12 makes the column BOOLEAN.
func TestMigrationDefaultFlag(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		sq := s.(*sqlStore)
		now := time.Unix(1_800_000_000, 0)
		if err := s.CreateCluster(ctx, Cluster{ID: "cl_a", Name: "acme", CreatedAt: now}, "h"); err != nil {
			t.Fatal(err)
		}
		// Back to the schema of migration 11, with two servers in it.
		for _, q := range []string{
			`DROP TABLE delivery_servers`,
			migrationCreateDeliveryServers11,
			`INSERT INTO delivery_servers (id, cluster_id, name, url, is_default, created_at) VALUES ('ds_1', 'cl_a', 'one', 'smtp://a:25', 0, 1)`,
			`INSERT INTO delivery_servers (id, cluster_id, name, url, is_default, created_at) VALUES ('ds_2', 'cl_a', 'two', 'smtp://b:25', 1, 2)`,
			`DELETE FROM schema_migrations WHERE version >= 12`,
			`DROP TABLE reports`, // migrations 13 to 22, applied again after 12
			`DROP TABLE sessions`,
			`ALTER TABLE clusters DROP COLUMN unsigned_mail`,    // 15
			`ALTER TABLE clusters DROP COLUMN notify_email`,     // 16
			`ALTER TABLE tracking_domains DROP COLUMN home_url`, // 17
			`DROP TABLE blocked_domains`,                        // 18
			`ALTER TABLE clusters DROP COLUMN track_opens`,      // 19
			`ALTER TABLE clusters DROP COLUMN track_clicks`,
			`ALTER TABLE sending_domains DROP COLUMN track_opens`,
			`ALTER TABLE sending_domains DROP COLUMN track_clicks`,
			`ALTER TABLE sending_domains DROP COLUMN dmarc`, // 20
			`ALTER TABLE suppressions DROP COLUMN source`,   // 21
			`DROP INDEX api_keys_id`,                        // 22
			`DROP INDEX api_keys_cluster`,
			`ALTER TABLE api_keys DROP COLUMN id`,
			`ALTER TABLE api_keys DROP COLUMN label`,
			`DROP TABLE message_domains`, // 26
			`DROP TABLE event_stats`,     // 25
			`DROP TABLE event_firsts`,
			`ALTER TABLE webhooks DROP COLUMN max_batch`, // 24
			`ALTER TABLE webhooks DROP COLUMN event_cursor`,
			`ALTER TABLE webhooks DROP COLUMN attempts`,
			`ALTER TABLE webhooks DROP COLUMN next_attempt_at`,
			`DROP TABLE events`, // 23
			`DROP TABLE event_seq`,
			`DROP TABLE journal_offsets`,
			migrationCreateEvents5,
		} {
			if _, err := sq.db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := sq.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if keys, err := s.APIKeys(ctx, "cl_a"); err != nil || len(keys) != 1 || keys[0].ID != KeyID("h") || keys[0].Label != FirstKeyLabel {
			t.Fatalf("the key stored before migration 22: %+v %v", keys, err)
		}
		got, err := s.DeliveryServers(ctx, "cl_a")
		if err != nil || len(got) != 2 || got[0].Default || !got[1].Default {
			t.Fatalf("after migration 12: %+v %v", got, err)
		}
		// The flag takes booleans now: a new default unsets the old one.
		if err := s.CreateDeliveryServer(ctx, DeliveryServer{ID: "ds_3", ClusterID: "cl_a", Name: "three", URL: "smtp://c:25", Default: true, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.DeliveryServers(ctx, "cl_a") // by name: one, three, two
		if len(got) != 3 || got[0].Default || !got[1].Default || got[2].Default {
			t.Fatalf("after a new default: %+v", got)
		}
		if s.Backend() == "postgres" {
			var typ string
			if err := sq.db.QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns
				WHERE table_name = 'delivery_servers' AND column_name = 'is_default'`).Scan(&typ); err != nil || typ != "boolean" {
				t.Fatalf("is_default is %q, %v", typ, err)
			}
		}
	})
}

// migrationCreateEvents5 is events as migration 5 made it: ids that sort
// by time, no sequence.
const migrationCreateEvents5 = `CREATE TABLE events (
	id         TEXT PRIMARY KEY,
	cluster_id TEXT NOT NULL,
	type       TEXT NOT NULL,
	at         BIGINT NOT NULL,
	message_id TEXT NOT NULL,
	recipient  TEXT NOT NULL,
	url        TEXT NOT NULL,
	host       TEXT NOT NULL,
	client_ip  TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	class      TEXT NOT NULL,
	reason     TEXT NOT NULL
)`

// TestMigrationEventSequence: events stored before migration 23 get
// sequence numbers in the order of their ids, and events stored after
// follow them; on PostgreSQL each day of them has its partition.
func TestMigrationEventSequence(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		sq := s.(*sqlStore)
		day := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
		mustCluster(t, s, "cl_a", "acme")
		for _, q := range []string{`DROP TABLE message_domains`, `DROP TABLE event_stats`, `DROP TABLE event_firsts`,
			`ALTER TABLE webhooks DROP COLUMN max_batch`, `ALTER TABLE webhooks DROP COLUMN event_cursor`,
			`ALTER TABLE webhooks DROP COLUMN attempts`, `ALTER TABLE webhooks DROP COLUMN next_attempt_at`,
			`DROP TABLE events`, `DROP TABLE event_seq`, `DROP TABLE journal_offsets`, migrationCreateEvents5,
			`DELETE FROM schema_migrations WHERE version >= 23`} {
			if _, err := sq.db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// Three events over two days, inserted out of order.
		for i, at := range []time.Time{day.Add(25 * time.Hour), day, day.Add(time.Hour)} {
			id := NewEventID(at)
			if _, err := sq.db.ExecContext(ctx, sq.q(`INSERT INTO events (id, cluster_id, type, at, message_id, recipient, url, host,
				client_ip, user_agent, class, reason) VALUES (?, 'cl_a', 'click', ?, ?, '', '', '', '', '', '', '')`), id, micros(at), fmt.Sprint("msg_", i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := sq.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertEvents(ctx, []Event{{ID: NewEventID(day), ClusterID: "cl_a", Type: "open", At: time.Now(), MessageID: "msg_new"}}); err != nil {
			t.Fatal(err)
		}
		evs, err := s.Events(ctx, "cl_a", EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, fmt.Sprint(e.Seq, e.MessageID))
		}
		if fmt.Sprint(got) != "[1msg_1 2msg_2 3msg_0 4msg_new]" {
			t.Fatalf("after migration 23: %v", got)
		}
		if s.Backend() == "postgres" {
			for _, p := range []string{"events_20260304", "events_20260305", "events_" + time.Now().UTC().Format("20060102"), "events_default"} {
				var n int
				if err := sq.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
					WHERE i.inhparent = 'events'::regclass AND c.relname = $1`, p).Scan(&n); err != nil || n != 1 {
					t.Fatalf("partition %s: %d %v", p, n, err)
				}
			}
			var n int
			if err := sq.db.QueryRowContext(ctx, `SELECT count(*) FROM events_default`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%d events in the default partition (%v): each day should have its own", n, err)
			}
		}
	})
}

// migrationCreateDeliveryServers11 is delivery_servers as migration 9 made
// it (is_default INTEGER).
const migrationCreateDeliveryServers11 = `CREATE TABLE delivery_servers (
	id                 TEXT PRIMARY KEY,
	cluster_id         TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
	name               TEXT NOT NULL,
	url                TEXT NOT NULL,
	tracking_domain_id TEXT NOT NULL DEFAULT '',
	is_default         INTEGER NOT NULL DEFAULT 0,
	created_at         BIGINT NOT NULL,
	UNIQUE (cluster_id, name)
)`
