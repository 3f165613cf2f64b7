package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order, once each, and recorded in
// schema_migrations. They are written in the SQL that SQLite and PostgreSQL
// share: SQLite accepts BIGINT and BOOLEAN as type names (integer affinity),
// so one text serves both. Never edit an applied migration: append a new one.
var migrations = []string{
	// 1: clusters, keys, settings, tracking domains.
	`CREATE TABLE clusters (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL UNIQUE,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE api_keys (
		hash       TEXT PRIMARY KEY,
		cluster_id TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE settings (
		name  TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);
	CREATE TABLE tracking_domains (
		id                TEXT PRIMARY KEY,
		cluster_id        TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		name              TEXT NOT NULL,
		target            TEXT NOT NULL UNIQUE,
		status            TEXT NOT NULL,
		is_default        BOOLEAN NOT NULL DEFAULT FALSE,
		default_on_active BOOLEAN NOT NULL DEFAULT FALSE,
		failed_checks     INTEGER NOT NULL DEFAULT 0,
		last_check        TEXT,
		tls_status        TEXT NOT NULL DEFAULT 'none',
		created_at        BIGINT NOT NULL,
		updated_at        BIGINT NOT NULL,
		UNIQUE (cluster_id, name)
	);
	CREATE UNIQUE INDEX tracking_domains_one_default ON tracking_domains (cluster_id) WHERE is_default;
	CREATE INDEX tracking_domains_by_name ON tracking_domains (name);`,
	// 2: the zone serial, moved in the same transaction as every change to
	// the names the DNS server answers, so each node sees when to reload.
	`CREATE TABLE zone_serial (
		id     INTEGER PRIMARY KEY,
		serial BIGINT NOT NULL
	);
	INSERT INTO zone_serial (id, serial) VALUES (1, 1);`,
	// 3: when the monitor checks a domain next (NULL: only on request).
	`ALTER TABLE tracking_domains ADD COLUMN next_check_at BIGINT;
	CREATE INDEX tracking_domains_due ON tracking_domains (next_check_at);`,
	// 4: webhooks and their delivery queue.
	`CREATE TABLE webhooks (
		id          TEXT PRIMARY KEY,
		cluster_id  TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		url         TEXT NOT NULL,
		events      TEXT NOT NULL,
		secret      TEXT NOT NULL,
		created_at  BIGINT NOT NULL,
		last_status TEXT NOT NULL DEFAULT '',
		last_code   INTEGER NOT NULL DEFAULT 0,
		last_error  TEXT NOT NULL DEFAULT '',
		last_at     BIGINT
	);
	CREATE INDEX webhooks_by_cluster ON webhooks (cluster_id);
	CREATE TABLE webhook_deliveries (
		id              TEXT PRIMARY KEY,
		webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
		event           TEXT NOT NULL,
		payload         TEXT NOT NULL,
		status          TEXT NOT NULL,
		attempts        INTEGER NOT NULL DEFAULT 0,
		next_attempt_at BIGINT NOT NULL,
		created_at      BIGINT NOT NULL
	);
	CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);`,
	// 5: token keys, tracking events, the suppression list.
	`CREATE TABLE token_keys (
		cluster_id TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		key_id     INTEGER NOT NULL,
		secret     TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (cluster_id, key_id)
	);
	CREATE TABLE events (
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
	);
	CREATE INDEX events_by_cluster ON events (cluster_id, id);
	CREATE INDEX events_by_message ON events (cluster_id, message_id, id);
	CREATE TABLE suppressions (
		cluster_id TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		address    TEXT NOT NULL,
		reason     TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (cluster_id, address)
	);`,
	// 6: files of the certificate manager (certificates, keys, ACME
	// account, challenge tokens), shared by every node.
	`CREATE TABLE blobs (
		key      TEXT PRIMARY KEY,
		value    TEXT NOT NULL,
		modified BIGINT NOT NULL
	);`,
	// 7: sending domains and their DKIM keys.
	`CREATE TABLE sending_domains (
		id              TEXT PRIMARY KEY,
		cluster_id      TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		name            TEXT NOT NULL,
		label           TEXT NOT NULL UNIQUE,
		click_host      TEXT NOT NULL,
		bounce_host     TEXT NOT NULL,
		click_domain_id TEXT NOT NULL,
		algorithms      TEXT NOT NULL,
		status          TEXT NOT NULL,
		records         TEXT NOT NULL,
		rotation        TEXT NOT NULL,
		failed_checks   INTEGER NOT NULL DEFAULT 0,
		last_check      TEXT,
		next_check_at   BIGINT,
		created_at      BIGINT NOT NULL,
		updated_at      BIGINT NOT NULL,
		UNIQUE (cluster_id, name)
	);
	CREATE INDEX sending_domains_due ON sending_domains (next_check_at);
	CREATE TABLE dkim_keys (
		domain_id    TEXT NOT NULL REFERENCES sending_domains (id) ON DELETE CASCADE,
		algorithm    TEXT NOT NULL,
		slot         INTEGER NOT NULL,
		private_key  TEXT NOT NULL,
		txt          TEXT NOT NULL,
		published_at BIGINT NOT NULL,
		PRIMARY KEY (domain_id, algorithm, slot)
	);`,
	// 8: when a sending domain's key schedule acts next.
	`ALTER TABLE sending_domains ADD COLUMN rotation_at BIGINT;
	CREATE INDEX sending_domains_rotation ON sending_domains (rotation_at);`,
	// 9: delivery servers and the outgoing mail queue. A row stays after
	// delivery (without its data) so a later bounce to its VERP address
	// finds its message and recipient. BYTEA is a blob in SQLite too.
	`CREATE TABLE delivery_servers (
		id                 TEXT PRIMARY KEY,
		cluster_id         TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		name               TEXT NOT NULL,
		url                TEXT NOT NULL,
		tracking_domain_id TEXT NOT NULL DEFAULT '',
		is_default         INTEGER NOT NULL DEFAULT 0,
		created_at         BIGINT NOT NULL,
		UNIQUE (cluster_id, name)
	);
	CREATE TABLE mail_queue (
		id              TEXT PRIMARY KEY,
		cluster_id      TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		message_id      TEXT NOT NULL,
		mail_from       TEXT NOT NULL,
		rcpt            TEXT NOT NULL,
		server_url      TEXT NOT NULL,
		data            BYTEA,
		status          TEXT NOT NULL,
		attempts        INTEGER NOT NULL DEFAULT 0,
		next_attempt_at BIGINT NOT NULL,
		last_error      TEXT NOT NULL DEFAULT '',
		created_at      BIGINT NOT NULL,
		done_at         BIGINT
	);
	CREATE INDEX mail_queue_due ON mail_queue (status, next_attempt_at);
	CREATE INDEX mail_queue_done ON mail_queue (done_at);`,
	// 10: submitted messages as they came, for forward-to-a-friend.
	`CREATE TABLE messages (
		cluster_id TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		id         TEXT NOT NULL,
		raw        BYTEA NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (cluster_id, id)
	);
	CREATE INDEX messages_created ON messages (created_at);`,
	// 11: each queued copy names the saved message it was made from (so a
	// forward sends what that recipient got), and forwards are counted
	// per message and recipient.
	`ALTER TABLE mail_queue ADD COLUMN raw_key TEXT NOT NULL DEFAULT '';
	CREATE INDEX mail_queue_message ON mail_queue (cluster_id, message_id, rcpt);
	CREATE TABLE forwards (
		cluster_id TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		message_id TEXT NOT NULL,
		rcpt       TEXT NOT NULL,
		n          INTEGER NOT NULL,
		PRIMARY KEY (cluster_id, message_id, rcpt)
	);`,
	// 12: delivery_servers.is_default becomes BOOLEAN like every other flag
	// (it was INTEGER). The table is rebuilt, the one way SQLite and
	// PostgreSQL share to change a column's type.
	`CREATE TABLE delivery_servers_new (
		id                 TEXT PRIMARY KEY,
		cluster_id         TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		name               TEXT NOT NULL,
		url                TEXT NOT NULL,
		tracking_domain_id TEXT NOT NULL DEFAULT '',
		is_default         BOOLEAN NOT NULL DEFAULT FALSE,
		created_at         BIGINT NOT NULL,
		UNIQUE (cluster_id, name)
	);
	INSERT INTO delivery_servers_new (id, cluster_id, name, url, tracking_domain_id, is_default, created_at)
		SELECT id, cluster_id, name, url, tracking_domain_id, is_default <> 0, created_at FROM delivery_servers;
	DROP TABLE delivery_servers;
	ALTER TABLE delivery_servers_new RENAME TO delivery_servers;`,
	// 13: the reports (DSNs, ARF complaints) already counted, one per queued
	// copy, kind and reporter, so a replayed report is not counted again.
	`CREATE TABLE reports (
		mail_id    TEXT NOT NULL,
		kind       TEXT NOT NULL,
		reporter   TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (mail_id, kind, reporter)
	);
	CREATE INDEX reports_created ON reports (created_at);`,
	// 14: the dashboard's sessions, so that signing out ends one on every
	// node.
	`CREATE TABLE sessions (
		id         TEXT PRIMARY KEY,
		key_hash   TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		user_agent TEXT NOT NULL DEFAULT '',
		remote     TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX sessions_key ON sessions (key_hash, expires_at);`,
	// 15: what the relay does with a cluster's mail whose From domain is
	// not a verified sending domain: refuse it, or relay it unsigned.
	`ALTER TABLE clusters ADD COLUMN unsigned_mail TEXT NOT NULL DEFAULT 'refuse';`,
	// 16: the addresses that get a cluster's notices by email, comma
	// separated.
	`ALTER TABLE clusters ADD COLUMN notify_email TEXT NOT NULL DEFAULT '';`,
	// 17: where a tracking domain's front door (/) sends visitors.
	`ALTER TABLE tracking_domains ADD COLUMN home_url TEXT NOT NULL DEFAULT '';`,
	// 18: the platform's own blocklist of link destinations.
	`CREATE TABLE blocked_domains (
		domain     TEXT PRIMARY KEY,
		reason     TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL
	);`,
	// 19: tracking defaults of a cluster and of a sending domain.
	`ALTER TABLE clusters ADD COLUMN track_opens TEXT NOT NULL DEFAULT '';
	ALTER TABLE clusters ADD COLUMN track_clicks TEXT NOT NULL DEFAULT '';
	ALTER TABLE sending_domains ADD COLUMN track_opens TEXT NOT NULL DEFAULT '';
	ALTER TABLE sending_domains ADD COLUMN track_clicks TEXT NOT NULL DEFAULT '';`,
	// 20: a sending domain's own DMARC policy (JSON; '' the default).
	`ALTER TABLE sending_domains ADD COLUMN dmarc TEXT NOT NULL DEFAULT '';`,
	// 21: where each suppression came from; a hard bounce's reason is
	// named hard_bounce.
	`ALTER TABLE suppressions ADD COLUMN source TEXT NOT NULL DEFAULT '';
	UPDATE suppressions SET reason = 'hard_bounce' WHERE reason = 'bounce';`,
	// 22: several API keys per cluster, each with an id (KeyID of its
	// hash) and a label.
	`ALTER TABLE api_keys ADD COLUMN id TEXT NOT NULL DEFAULT '';
	ALTER TABLE api_keys ADD COLUMN label TEXT NOT NULL DEFAULT '';
	UPDATE api_keys SET id = 'key_' || substr(hash, 1, 16), label = 'created with the cluster';
	CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
	CREATE INDEX api_keys_cluster ON api_keys (cluster_id, created_at);`,
	// 23: events get a sequence the store assigns (the cursor: one order
	// across nodes), given in the order of the old ids; id stays the
	// event's stable name. event_seq hands out the sequence; the row lock
	// of its UPDATE orders the transactions that write events. How far
	// each node's journal has been loaded. PostgreSQL: postgresMigrations.
	`CREATE TABLE events_v2 (
		seq        INTEGER PRIMARY KEY,
		id         TEXT NOT NULL,
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
	);
	INSERT INTO events_v2 SELECT ROW_NUMBER() OVER (ORDER BY id), id, cluster_id, type, at, message_id, recipient,
		url, host, client_ip, user_agent, class, reason FROM events;
	DROP TABLE events;
	ALTER TABLE events_v2 RENAME TO events;
	CREATE INDEX events_by_cluster ON events (cluster_id, seq);
	CREATE INDEX events_by_message ON events (cluster_id, message_id);
	CREATE TABLE event_seq (last BIGINT NOT NULL);
	INSERT INTO event_seq SELECT COALESCE(MAX(seq), 0) FROM events;
	CREATE TABLE journal_offsets (
		journal_id TEXT PRIMARY KEY,
		loaded     BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);`,
	// 24: event webhooks read the events table from a cursor of their own
	// (the store's sequence), in batches of up to max_batch, instead of a
	// queue filled after the commit: what is stored is delivered. A
	// webhook starts from the events stored after it.
	`ALTER TABLE webhooks ADD COLUMN max_batch INTEGER NOT NULL DEFAULT 100;
	ALTER TABLE webhooks ADD COLUMN event_cursor BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE webhooks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE webhooks ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
	UPDATE webhooks SET event_cursor = (SELECT last FROM event_seq);`,
	// 25: the rollups GET /v1/stats reads (internal/stats), one row per
	// cluster, dimension, value and hour, moved in the transaction that
	// stores the events; and the firsts that make the uniques (a hash of
	// cluster, type, message, recipient and, for links, the link).
	`CREATE TABLE event_stats (
		cluster_id    TEXT NOT NULL,
		dim           TEXT NOT NULL,
		value         TEXT NOT NULL,
		hour          BIGINT NOT NULL,
		opens_human   BIGINT NOT NULL DEFAULT 0,
		opens_proxy   BIGINT NOT NULL DEFAULT 0,
		opens_bot     BIGINT NOT NULL DEFAULT 0,
		clicks_human  BIGINT NOT NULL DEFAULT 0,
		clicks_proxy  BIGINT NOT NULL DEFAULT 0,
		clicks_bot    BIGINT NOT NULL DEFAULT 0,
		unique_opens  BIGINT NOT NULL DEFAULT 0,
		unique_clicks BIGINT NOT NULL DEFAULT 0,
		unsubscribes  BIGINT NOT NULL DEFAULT 0,
		bounces_hard  BIGINT NOT NULL DEFAULT 0,
		bounces_soft  BIGINT NOT NULL DEFAULT 0,
		complaints    BIGINT NOT NULL DEFAULT 0,
		relayed       BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (cluster_id, dim, value, hour)
	);
	CREATE INDEX event_stats_by_hour ON event_stats (hour);
	CREATE TABLE event_firsts (
		h  BIGINT PRIMARY KEY,
		at BIGINT NOT NULL
	);
	CREATE INDEX event_firsts_by_at ON event_firsts (at);`,
	// 26: the sending domain each message was queued under, written with
	// its copies, so the rollups can count its events by sending domain
	// (group_by=sending_domain). Messages queued before have none.
	`CREATE TABLE message_domains (
		cluster_id     TEXT NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
		message_id     TEXT NOT NULL,
		sending_domain TEXT NOT NULL,
		created_at     BIGINT NOT NULL,
		PRIMARY KEY (cluster_id, message_id)
	);
	CREATE INDEX message_domains_created ON message_domains (created_at);`,
}

// postgresMigrations replace a migration on PostgreSQL, where it differs.
var postgresMigrations = map[int]string{
	// 23: events partitioned by day of at (Unix microseconds), so that
	// retention drops whole days; a partition for each day the old table
	// has and for the days around today; a default partition for what
	// falls outside them.
	23: `CREATE TABLE events_v2 (
		seq        BIGINT NOT NULL,
		id         TEXT NOT NULL,
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
	) PARTITION BY RANGE (at);
	CREATE TABLE events_default PARTITION OF events_v2 DEFAULT;
	DO $$
	DECLARE d BIGINT;
	BEGIN
		FOR d IN SELECT DISTINCT at / 86400000000 FROM events
			UNION SELECT floor(extract(epoch FROM now()) / 86400)::BIGINT + g FROM generate_series(-1, 7) g
		LOOP
			EXECUTE format('CREATE TABLE events_%s PARTITION OF events_v2 FOR VALUES FROM (%s) TO (%s)',
				to_char(to_timestamp(d * 86400) AT TIME ZONE 'UTC', 'YYYYMMDD'), d * 86400000000, (d + 1) * 86400000000);
		END LOOP;
	END $$;
	INSERT INTO events_v2 SELECT ROW_NUMBER() OVER (ORDER BY id), id, cluster_id, type, at, message_id, recipient,
		url, host, client_ip, user_agent, class, reason FROM events;
	DROP TABLE events;
	ALTER TABLE events_v2 RENAME TO events;
	CREATE INDEX events_by_cluster ON events (cluster_id, seq);
	CREATE INDEX events_by_message ON events (cluster_id, message_id, seq);
	CREATE TABLE event_seq (last BIGINT NOT NULL);
	INSERT INTO event_seq SELECT COALESCE(MAX(seq), 0) FROM events;
	CREATE TABLE journal_offsets (
		journal_id TEXT PRIMARY KEY,
		loaded     BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);`,
}

// migrate brings the schema up to date inside one transaction. On PostgreSQL
// an advisory lock keeps two nodes starting at once from racing.
func (s *sqlStore) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.d.lockMigrations != "" {
			if _, err := tx.ExecContext(ctx, s.d.lockMigrations); err != nil {
				return fmt.Errorf("lock migrations: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if have > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this waymark (%d): upgrade waymark", have, len(migrations))
		}
		for v := have + 1; v <= len(migrations); v++ {
			m := migrations[v-1]
			if pg, ok := postgresMigrations[v]; ok && s.d.name == "postgres" {
				m = pg
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version) VALUES (?)`), v); err != nil {
				return fmt.Errorf("record migration %d: %w", v, err)
			}
		}
		return nil
	})
}
