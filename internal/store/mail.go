package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

func (s *sqlStore) CreateDeliveryServer(ctx context.Context, d DeliveryServer) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if d.Default {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE delivery_servers SET is_default = 0 WHERE cluster_id = ?`), d.ClusterID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO delivery_servers (id, cluster_id, name, url, tracking_domain_id, is_default, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), d.ID, d.ClusterID, d.Name, d.URL, d.TrackingDomainID, boolInt(d.Default), micros(d.CreatedAt))
		return err
	})
	return s.wrap(err, "create delivery server "+d.Name)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *sqlStore) DeliveryServers(ctx context.Context, clusterID string) ([]DeliveryServer, error) {
	return queryAll(ctx, s, "delivery servers", func(r scanner) (DeliveryServer, error) {
		var d DeliveryServer
		var def int
		var created int64
		err := r.Scan(&d.ID, &d.ClusterID, &d.Name, &d.URL, &d.TrackingDomainID, &def, &created)
		d.Default, d.CreatedAt = def == 1, fromMicros(created)
		return d, err
	}, `SELECT id, cluster_id, name, url, tracking_domain_id, is_default, created_at FROM delivery_servers
		WHERE cluster_id = ? ORDER BY name`, clusterID)
}

func (s *sqlStore) DeleteDeliveryServer(ctx context.Context, clusterID, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM delivery_servers WHERE cluster_id = ? AND id = ?`), clusterID, id)
	if err != nil {
		return s.wrap(err, "delete delivery server")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete delivery server %s: %w", id, ErrNotFound)
	}
	return nil
}

func (s *sqlStore) EnqueueMail(ctx context.Context, mails []Mail) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, s.q(`INSERT INTO mail_queue (id, cluster_id, message_id, mail_from, rcpt, server_url,
			data, status, attempts, next_attempt_at, created_at, done_at, raw_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`))
		if err != nil {
			return err
		}
		defer st.Close()
		for _, m := range mails {
			status, data, done := MailQueued, m.Data, sql.NullInt64{}
			if m.Status == MailSent { // sent by another path (the milter): kept for its VERP address
				status, data, done = MailSent, nil, sql.NullInt64{Int64: micros(m.CreatedAt), Valid: true}
			}
			if _, err := st.ExecContext(ctx, m.ID, m.ClusterID, m.MessageID, m.From, m.Rcpt, m.ServerURL, data, string(status),
				micros(m.NextAt), micros(m.CreatedAt), done, m.RawKey); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap(err, "enqueue mail")
}

const mailCols = `id, cluster_id, message_id, mail_from, rcpt, server_url, status, attempts, next_attempt_at, last_error, created_at, raw_key`

func scanMail(r scanner, data *[]byte) (Mail, error) {
	var m Mail
	var next, created int64
	dest := []any{&m.ID, &m.ClusterID, &m.MessageID, &m.From, &m.Rcpt, &m.ServerURL, &m.Status, &m.Attempts, &next, &m.LastError, &created, &m.RawKey}
	if data != nil {
		dest = append(dest, data)
	}
	err := r.Scan(dest...)
	m.NextAt, m.CreatedAt = fromMicros(next), fromMicros(created)
	return m, err
}

func (s *sqlStore) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Mail, error) {
	var out []Mail
	lock := ""
	if s.d.skipLocked {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, s.q(`SELECT `+mailCols+`, data FROM mail_queue
			WHERE status = 'queued' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`)+lock, micros(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var data []byte
			m, err := scanMail(rows, &data)
			if err != nil {
				rows.Close()
				return err
			}
			m.Data = data
			out = append(out, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range out {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE mail_queue SET next_attempt_at = ? WHERE id = ?`),
				micros(now.Add(lease)), m.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return out, s.wrap(err, "claim mail")
}

func (s *sqlStore) FinishMail(ctx context.Context, id string, status MailStatus, lastError string, next, now time.Time, ev *Event) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if status == MailQueued {
			res, err = tx.ExecContext(ctx, s.q(`UPDATE mail_queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?
				WHERE id = ? AND status = 'queued'`), micros(next), lastError, id)
		} else {
			res, err = tx.ExecContext(ctx, s.q(`UPDATE mail_queue SET status = ?, attempts = attempts + 1, last_error = ?, data = NULL,
				done_at = ? WHERE id = ? AND status = 'queued'`), string(status), lastError, micros(now), id)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || ev == nil {
			return nil // finished already (by another worker): no second event
		}
		return s.insertEvents(ctx, tx, []Event{*ev})
	})
	return s.wrap(err, "finish mail "+id)
}

func (s *sqlStore) MailByID(ctx context.Context, id string) (Mail, error) {
	m, err := scanMail(s.db.QueryRowContext(ctx, s.q(`SELECT `+mailCols+` FROM mail_queue WHERE id = ?`), id), nil)
	return m, s.wrap(err, "mail "+id)
}

func (s *sqlStore) PurgeMail(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM mail_queue WHERE status <> 'queued' AND done_at < ?`), micros(before))
	if err != nil {
		return 0, s.wrap(err, "purge mail")
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *sqlStore) SaveMessage(ctx context.Context, clusterID, id string, raw []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO messages (cluster_id, id, raw, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (cluster_id, id) DO NOTHING`), clusterID, id, raw, micros(now))
	return s.wrap(err, "save message "+id)
}

func (s *sqlStore) Message(ctx context.Context, clusterID, id string) ([]byte, error) {
	var raw []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT raw FROM messages WHERE cluster_id = ? AND id = ?`), clusterID, id).Scan(&raw)
	return raw, s.wrap(err, "message "+id)
}

func (s *sqlStore) PurgeMessages(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM messages WHERE created_at < ?`), micros(before))
	if err != nil {
		return 0, s.wrap(err, "purge messages")
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *sqlStore) ActiveSendingDomainClusters(ctx context.Context, name string) ([]string, error) {
	return queryAll(ctx, s, "sending domain clusters", func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT cluster_id FROM sending_domains WHERE name = ? AND status = 'active' ORDER BY cluster_id`, name)
}

func (s *sqlStore) MailFor(ctx context.Context, clusterID, messageID, rcpt string) (Mail, error) {
	m, err := scanMail(s.db.QueryRowContext(ctx, s.q(`SELECT `+mailCols+` FROM mail_queue
		WHERE cluster_id = ? AND message_id = ? AND rcpt = ? ORDER BY created_at DESC LIMIT 1`), clusterID, messageID, rcpt), nil)
	return m, s.wrap(err, "mail of "+messageID)
}

func (s *sqlStore) TakeForward(ctx context.Context, clusterID, messageID, rcpt string, max int) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO forwards (cluster_id, message_id, rcpt, n) VALUES (?, ?, ?, 1)
		ON CONFLICT (cluster_id, message_id, rcpt) DO UPDATE SET n = forwards.n + 1 WHERE forwards.n < ?`),
		clusterID, messageID, strings.ToLower(rcpt), max)
	if err != nil {
		return false, s.wrap(err, "take forward")
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
