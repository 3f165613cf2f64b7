package store

import (
	"context"
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
