package store

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
)

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
			switch m.Status {
			case MailSent: // sent by another path (the milter): kept for its VERP address
				status, data, done = MailSent, nil, sql.NullInt64{Int64: micros(m.CreatedAt), Valid: true}
			case MailSuppressed: // not sent: kept so the message's status can say so
				status, data, done = MailSuppressed, nil, sql.NullInt64{Int64: micros(m.CreatedAt), Valid: true}
			}
			if _, err := st.ExecContext(ctx, m.ID, m.ClusterID, m.MessageID, m.From, m.Rcpt, m.ServerURL, data, string(status),
				micros(m.NextAt), micros(m.CreatedAt), done, m.SavedMessage); err != nil {
				return err
			}
		}
		return s.recordMessageDomains(ctx, tx, mails)
	})
	return s.wrap(err, "enqueue mail")
}

// recordMessageDomains records the sending domain of each message of
// mails that has one, unless its message has one already (the first
// queued wins: a message id names one message).
func (s *sqlStore) recordMessageDomains(ctx context.Context, tx *sql.Tx, mails []Mail) error {
	seen := map[messageKey]bool{}
	var first []Mail
	for _, m := range mails {
		k := messageKey{m.ClusterID, m.MessageID}
		if m.SendingDomain == "" || m.MessageID == "" || seen[k] {
			continue
		}
		seen[k] = true
		first = append(first, m)
	}
	// In key order: two transactions inserting the same new messages
	// (two nodes' group commits) then wait on each other in one order,
	// never in a cycle (a deadlock on PostgreSQL).
	slices.SortFunc(first, func(a, b Mail) int {
		return cmp.Or(strings.Compare(a.ClusterID, b.ClusterID), strings.Compare(a.MessageID, b.MessageID))
	})
	for _, m := range first {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO message_domains (cluster_id, message_id, sending_domain, created_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (cluster_id, message_id) DO NOTHING`),
			m.ClusterID, m.MessageID, strings.ToLower(m.SendingDomain), micros(m.CreatedAt)); err != nil {
			return err
		}
	}
	return nil
}

const mailCols = `id, cluster_id, message_id, mail_from, rcpt, server_url, status, attempts, next_attempt_at, last_error, created_at, raw_key`

func scanMail(r scanner, data *[]byte) (Mail, error) {
	var m Mail
	var next, created int64
	dest := []any{&m.ID, &m.ClusterID, &m.MessageID, &m.From, &m.Rcpt, &m.ServerURL, &m.Status, &m.Attempts, &next, &m.LastError, &created, &m.SavedMessage}
	if data != nil {
		dest = append(dest, data)
	}
	err := r.Scan(dest...)
	m.NextAt, m.CreatedAt = fromMicros(next), fromMicros(created)
	return m, err
}

func (s *sqlStore) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Mail, error) {
	mails, err := claim(ctx, s, "claim mail", "mail_queue", "status = 'queued'", mailCols+", data", func(r scanner) (Mail, error) {
		var data []byte
		m, err := scanMail(r, &data)
		m.Data = data
		return m, err
	}, now, lease, limit)
	slices.SortFunc(mails, func(a, b Mail) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return mails, err
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
	// Reports of mail that old no longer find it either.
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM reports WHERE created_at < ?`), micros(before)); err != nil {
		return 0, s.wrap(err, "purge reports")
	}
	n, err := res.RowsAffected()
	return int(n), err
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

// MailQueue holds outgoing mail, one copy per recipient, from submission
// until it is delivered or given up (and 30 days more, for bounces).
type MailQueue interface {
	// EnqueueMail stores outgoing messages in one transaction: when it
	// returns nil they are durable. A Mail with Status MailSent is stored
	// as sent already (no data), for the VERP address of mail sent another
	// way.
	EnqueueMail(ctx context.Context, mails []Mail) error
	// ClaimMail takes up to limit queued messages that are due, for lease:
	// another node (or a restart) tries them only after the lease.
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Mail, error)
	// FinishMail records an attempt: MailSent and MailFailed end the
	// message (its data is dropped); MailQueued retries it at next. The
	// event, if any, is stored in the same transaction, and only if this
	// call finished the message.
	FinishMail(ctx context.Context, id string, status MailStatus, lastError string, next, now time.Time, ev *Event) error
	// ReleaseMail gives claimed messages that were not tried back to the
	// queue at once (a node shutting down), without counting an attempt.
	ReleaseMail(ctx context.Context, ids []string, now time.Time) error
	// FirstReport records a report (a bounce or complaint) about a queued
	// copy from a reporter, and says whether it is the first of its kind
	// from that reporter: a replayed report must not be counted again.
	FirstReport(ctx context.Context, mailID, kind, reporter string, now time.Time) (bool, error)
	// QueueStats counts the messages still queued by state ("queued": not
	// tried yet, "deferred": tried and waiting for a retry) and delivery
	// server, with the oldest one's creation time: of one cluster, or of
	// all with clusterID "".
	QueueStats(ctx context.Context, clusterID string) ([]QueueStat, error)
	// MailsOf lists the copies of one message of a cluster, one per
	// recipient and submission, oldest first, without their data.
	MailsOf(ctx context.Context, clusterID, messageID string) ([]Mail, error)
	// MailByID returns a queued or finished message, without its data.
	MailByID(ctx context.Context, id string) (Mail, error)
	// MailFor returns the latest copy of a message for a recipient,
	// without its data.
	MailFor(ctx context.Context, clusterID, messageID, rcpt string) (Mail, error)
	// TakeForward counts one forward of a message by a recipient, unless
	// they have used max already: then it reports false.
	TakeForward(ctx context.Context, clusterID, messageID, rcpt string, max int) (bool, error)
	// PurgeMail removes finished messages older than before; it returns
	// how many.
	PurgeMail(ctx context.Context, before time.Time) (int, error)
}

// MailStatus is where an outgoing message is.
type MailStatus string

const (
	// MailQueued waits for its next attempt.
	MailQueued MailStatus = "queued"
	// MailSent was accepted by the delivery server.
	MailSent MailStatus = "sent"
	// MailFailed was refused for good, or expired.
	MailFailed MailStatus = "failed"
	// MailSuppressed was not sent: the recipient is on the suppression list.
	MailSuppressed MailStatus = "suppressed"
)

// Mail is one outgoing message for one recipient.
type Mail struct {
	// ID is also the VERP part of its envelope sender.
	ID        string
	ClusterID string
	MessageID string
	From      string // the envelope sender (VERP)
	Rcpt      string
	ServerURL string
	Data      []byte
	Status    MailStatus
	Attempts  int
	NextAt    time.Time
	LastError string
	CreatedAt time.Time
	// SavedMessage names the saved message (SaveMessage) it was made from, if
	// any: forward to a friend sends that.
	SavedMessage string
	// SendingDomain is the name of the sending domain the copy is signed
	// for ("" unsigned). EnqueueMail records it for the message, once: the
	// rollups count the message's events under it.
	SendingDomain string
}

// QueueStat is a count of queued messages of one state and server.
type QueueStat struct {
	State, Server string
	Count         int
	Oldest        time.Time
}

func (s *sqlStore) QueueStats(ctx context.Context, clusterID string) ([]QueueStat, error) {
	return queryAll(ctx, s, "queue stats", func(r scanner) (QueueStat, error) {
		var q QueueStat
		var oldest int64
		err := r.Scan(&q.State, &q.Server, &q.Count, &oldest)
		q.Oldest = fromMicros(oldest)
		return q, err
	}, `SELECT CASE WHEN attempts = 0 THEN 'queued' ELSE 'deferred' END, server_url, COUNT(*), MIN(created_at)
		FROM mail_queue WHERE status = 'queued' AND (? = '' OR cluster_id = ?) GROUP BY 1, 2 ORDER BY 1, 2`, clusterID, clusterID)
}

func (s *sqlStore) MailsOf(ctx context.Context, clusterID, messageID string) ([]Mail, error) {
	return queryAll(ctx, s, "mails of "+messageID, func(r scanner) (Mail, error) { return scanMail(r, nil) },
		`SELECT `+mailCols+` FROM mail_queue WHERE cluster_id = ? AND message_id = ? ORDER BY created_at, rcpt, id`, clusterID, messageID)
}

func (s *sqlStore) ReleaseMail(ctx context.Context, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE mail_queue SET next_attempt_at = ? WHERE id = ? AND status = 'queued'`),
				micros(now), id); err != nil {
				return err
			}
		}
		return nil
	})
	return s.wrap(err, "release mail")
}

func (s *sqlStore) FirstReport(ctx context.Context, mailID, kind, reporter string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO reports (mail_id, kind, reporter, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (mail_id, kind, reporter) DO NOTHING`), mailID, kind, reporter, micros(now))
	if err != nil {
		return false, s.wrap(err, "record report")
	}
	n, err := res.RowsAffected()
	return n == 1, s.wrap(err, "record report")
}
