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
	// RewriteSecrets calls rewrite with each secret that does not start
	// with skip (the mark of a sealed value), its kind (token_key,
	// webhook_secret, blob) and its row's id (cluster/key id, webhook id,
	// blob key), and stores what rewrite changes, all in one transaction;
	// it returns how many changed. Rows already sealed are not read.
	RewriteSecrets(ctx context.Context, skip []byte, rewrite func(kind, id string, value []byte) ([]byte, bool)) (int, error)
}

// secretColumn is a table column that holds secrets.
type secretColumn struct {
	kind string
	// query selects a row's id, the key of its update (two values; the
	// second may be "") and the value, of the rows whose value is not
	// LIKE the one argument.
	query, update string
	// b64: the column holds the value in base64.
	b64 bool
}

var secretColumns = []secretColumn{
	{"token_key", `SELECT cluster_id, CAST(key_id AS TEXT), secret FROM token_keys WHERE secret NOT LIKE ? ESCAPE '\'`,
		`UPDATE token_keys SET secret = ? WHERE cluster_id = ? AND key_id = CAST(? AS INTEGER)`, true},
	{"webhook_secret", `SELECT id, '', secret FROM webhooks WHERE secret NOT LIKE ? ESCAPE '\'`,
		`UPDATE webhooks SET secret = ? WHERE id = ?`, false},
	{"blob", `SELECT key, '', value FROM blobs WHERE value NOT LIKE ? ESCAPE '\'`,
		`UPDATE blobs SET value = ? WHERE key = ?`, true},
}

func (s *sqlStore) RewriteSecrets(ctx context.Context, skip []byte, rewrite func(kind, id string, value []byte) ([]byte, bool)) (int, error) {
	// A base64 column starts with the encoding of skip's first whole
	// 3-octet groups whenever the value starts with skip.
	b64skip := base64.StdEncoding.EncodeToString(skip[:len(skip)/3*3])
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, c := range secretColumns {
			pattern := likePrefix(string(skip))
			if c.b64 {
				pattern = likePrefix(b64skip)
			}
			rows, err := readSecrets(ctx, tx, s.q(c.query), pattern)
			if err != nil {
				return err
			}
			for _, r := range rows {
				value := []byte(r.value)
				if c.b64 {
					if value, err = base64.StdEncoding.DecodeString(r.value); err != nil {
						return err
					}
				}
				id := r.a
				if r.b != "" {
					id += "/" + r.b
				}
				out, changed := rewrite(c.kind, id, value)
				if !changed {
					continue
				}
				stored := string(out)
				if c.b64 {
					stored = base64.StdEncoding.EncodeToString(out)
				}
				args := []any{stored, r.a}
				if r.b != "" {
					args = append(args, r.b)
				}
				if _, err := tx.ExecContext(ctx, s.q(c.update), args...); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, s.wrap(err, "rewrite secrets")
}

// secretRow is a row of a secretColumn's query.
type secretRow struct{ a, b, value string }

// readSecrets reads all of a query's rows before any is rewritten.
func readSecrets(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]secretRow, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []secretRow
	for rows.Next() {
		var r secretRow
		if err := rows.Scan(&r.a, &r.b, &r.value); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
