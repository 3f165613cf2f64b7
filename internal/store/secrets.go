package store

import (
	"context"
	"database/sql"
	"encoding/base64"
)

// Secrets gives the secrets stored in other roles' rows (tracking-token
// keys, webhook secrets, certmagic's blobs) to one rewrite, for sealing
// those stored before they were sealed at rest.
type Secrets interface {
	// RewriteSecrets calls rewrite with each secret, its kind (token_key,
	// webhook_secret, blob) and its row's id (cluster/key id, webhook id,
	// blob key), and stores what rewrite changes, all in one transaction;
	// it returns how many changed.
	RewriteSecrets(ctx context.Context, rewrite func(kind, id string, value []byte) ([]byte, bool)) (int, error)
}

func (s *sqlStore) RewriteSecrets(ctx context.Context, rewrite func(kind, id string, value []byte) ([]byte, bool)) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		type row struct{ a, b, value string }
		read := func(query string) ([]row, error) {
			rows, err := tx.QueryContext(ctx, query)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.a, &r.b, &r.value); err != nil {
					return nil, err
				}
				out = append(out, r)
			}
			return out, rows.Err()
		}
		// Token keys and blobs hold base64; webhook secrets hold text.
		for _, t := range []struct {
			kind, query, update string
			b64                 bool
		}{
			{"token_key", `SELECT cluster_id, CAST(key_id AS TEXT), secret FROM token_keys`, `UPDATE token_keys SET secret = ? WHERE cluster_id = ? AND CAST(key_id AS TEXT) = ?`, true},
			{"webhook_secret", `SELECT id, '', secret FROM webhooks`, `UPDATE webhooks SET secret = ? WHERE id = ? AND '' = ?`, false},
			{"blob", `SELECT key, '', value FROM blobs`, `UPDATE blobs SET value = ? WHERE key = ? AND '' = ?`, true},
		} {
			rows, err := read(t.query)
			if err != nil {
				return err
			}
			for _, r := range rows {
				value := []byte(r.value)
				if t.b64 {
					if value, err = base64.StdEncoding.DecodeString(r.value); err != nil {
						return err
					}
				}
				id := r.a
				if r.b != "" {
					id += "/" + r.b
				}
				out, changed := rewrite(t.kind, id, value)
				if !changed {
					continue
				}
				stored := string(out)
				if t.b64 {
					stored = base64.StdEncoding.EncodeToString(out)
				}
				if _, err := tx.ExecContext(ctx, s.q(t.update), stored, r.a, r.b); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, s.wrap(err, "rewrite secrets")
}
