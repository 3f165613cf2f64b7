package store

import (
	"context"
	"database/sql"
	"time"
)

// BlockedDomains is the platform's own list of domains no link may lead
// to (the admin's, beside the --uribl zones).
type BlockedDomains interface {
	// BlockedDomains lists the list, by domain.
	BlockedDomains(ctx context.Context) ([]BlockedDomain, error)
	// BlockDomain adds a domain; one already listed is ErrDuplicate.
	BlockDomain(ctx context.Context, d BlockedDomain) error
	// UnblockDomain removes one, or ErrNotFound.
	UnblockDomain(ctx context.Context, domain string) error
}

// BlockedDomain is one domain of the platform's blocklist.
type BlockedDomain struct {
	Domain    string // a registrable domain, lower case
	Reason    string
	CreatedAt time.Time
}

func (s *sqlStore) BlockedDomains(ctx context.Context) ([]BlockedDomain, error) {
	return queryAll(ctx, s, "blocked domains", func(r scanner) (BlockedDomain, error) {
		var d BlockedDomain
		var at int64
		err := r.Scan(&d.Domain, &d.Reason, &at)
		d.CreatedAt = fromMicros(at)
		return d, err
	}, `SELECT domain, reason, created_at FROM blocked_domains ORDER BY domain`)
}

// BlockDomain and UnblockDomain move the zone serial: every node's
// checker reloads the list with it.
func (s *sqlStore) BlockDomain(ctx context.Context, d BlockedDomain) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO blocked_domains (domain, reason, created_at) VALUES (?, ?, ?)`),
			d.Domain, d.Reason, micros(d.CreatedAt)); err != nil {
			return err
		}
		return s.bumpZone(ctx, tx)
	})
	return s.wrap(err, "block "+d.Domain)
}

func (s *sqlStore) UnblockDomain(ctx context.Context, domain string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM blocked_domains WHERE domain = ?`), domain)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.bumpZone(ctx, tx)
	})
	if err == ErrNotFound {
		return err
	}
	return s.wrap(err, "unblock "+domain)
}
