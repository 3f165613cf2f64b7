package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/stats"
)

// Stats reads the rollups of a cluster's events.
type Stats interface {
	// Stats returns the counters of a cluster's hours in [from, to), by
	// interval (hours, or UTC days when day), for one dimension (Total,
	// or a group_by), in order of bucket then value.
	Stats(ctx context.Context, clusterID string, q StatsQuery) ([]StatsRow, error)
}

// StatsQuery filters Stats.
type StatsQuery struct {
	From, To time.Time
	Day      bool
	Dim      stats.Dim
}

// StatsRow is one bucket of one value of a dimension.
type StatsRow struct {
	// Start is the bucket's start (Unix microseconds).
	Start int64
	Value string
	stats.Counts
}

const statsCols = `opens_human, opens_proxy, opens_bot, clicks_human, clicks_proxy, clicks_bot, unique_opens, unique_clicks,
	unsubscribes, bounces_hard, bounces_soft, complaints, relayed`

// statsAdd and statsSums are the upsert's SET list and the query's SUMs
// of statsCols.
var statsAdd, statsSums = func() (string, string) {
	var add, sums []string
	for _, c := range strings.Split(statsCols, ",") {
		c = strings.TrimSpace(c)
		add = append(add, c+" = event_stats."+c+" + excluded."+c)
		sums = append(sums, "SUM("+c+")")
	}
	return strings.Join(add, ", "), strings.Join(sums, ", ")
}()

func countsArgs(c *stats.Counts) []any {
	return []any{c.OpensHuman, c.OpensProxy, c.OpensBot, c.ClicksHuman, c.ClicksProxy, c.ClicksBot, c.UniqueOpens, c.UniqueClicks,
		c.Unsubscribes, c.BouncesHard, c.BouncesSoft, c.Complaints, c.Relayed}
}

// firstHash names a recipient's first open or click of a message (and of
// a link, when url is given) in event_firsts: 64 bits of SHA-256, so a
// false "not first" needs a collision (about one in 10^10 pairs at a
// million recipients; docs/CONCEPTS.md#stats).
func firstHash(cluster string, typ event.Type, message, recipient, url string, link bool) int64 {
	h := sha256.New()
	for _, s := range []string{cluster, string(typ), message, strings.ToLower(recipient)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if link {
		h.Write([]byte(url))
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}

// rollUp moves the rollups for events (stored in tx) and records their
// firsts.
func (s *sqlStore) rollUp(ctx context.Context, tx *sql.Tx, events []Event) error {
	type want struct{ msg, link int64 }
	wants := make([]want, len(events))
	var hashes []int64
	seen := map[int64]bool{}
	at := map[int64]int64{}
	for i, e := range events {
		if e.Type != event.Open && e.Type != event.Click {
			continue
		}
		wants[i].msg = firstHash(e.ClusterID, e.Type, e.MessageID, e.Recipient, "", false)
		if e.Type == event.Click {
			wants[i].link = firstHash(e.ClusterID, e.Type, e.MessageID, e.Recipient, e.URL, true)
		}
		for _, h := range []int64{wants[i].msg, wants[i].link} {
			if h != 0 && !seen[h] {
				seen[h] = true
				hashes = append(hashes, h)
				at[h] = micros(e.At)
			}
		}
	}
	// Which are new: inserted now (a conflict is a first seen before).
	fresh := map[int64]bool{}
	for start := 0; start < len(hashes); start += firstsChunk {
		batch := hashes[start:min(start+firstsChunk, len(hashes))]
		args := make([]any, 0, 2*len(batch))
		for _, h := range batch {
			args = append(args, h, at[h])
		}
		var rows *sql.Rows
		var err error
		if len(batch) == firstsChunk {
			var st *sql.Stmt
			if st, err = s.stmt(ctx, tx, fullInsertFirsts); err == nil {
				rows, err = st.QueryContext(ctx, args...)
			}
		} else {
			rows, err = tx.QueryContext(ctx, s.q(insertFirstsSQL(len(batch))), args...)
		}
		if err != nil {
			return err
		}
		for rows.Next() {
			var h int64
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return err
			}
			fresh[h] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	domains, err := s.messageDomains(ctx, tx, events)
	if err != nil {
		return err
	}
	agg := map[stats.Key]*stats.Counts{}
	for i, e := range events {
		w := wants[i]
		// The first occurrence in the batch of a fresh hash is the first.
		first, firstLink := w.msg != 0 && fresh[w.msg], w.link != 0 && fresh[w.link]
		if first {
			delete(fresh, w.msg)
		}
		if firstLink {
			delete(fresh, w.link)
		}
		stats.Count(agg, stats.Hit{Cluster: e.ClusterID, Type: e.Type, Class: e.Class, At: e.At, Host: e.Host, URL: e.URL,
			MessageID: e.MessageID, SendingDomain: domains[messageKey{e.ClusterID, e.MessageID}], First: first, FirstOfLink: firstLink})
	}
	if len(agg) == 0 {
		return nil
	}
	keys := make([]stats.Key, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	const perRow = 17
	for start := 0; start < len(keys); start += statsChunk {
		batch := keys[start:min(start+statsChunk, len(keys))]
		args := make([]any, 0, perRow*len(batch))
		for _, k := range batch {
			args = append(append(args, k.Cluster, string(k.Dim), k.Value, k.Hour), countsArgs(agg[k])...)
		}
		if len(batch) == statsChunk {
			st, err := s.stmt(ctx, tx, fullUpsertStats)
			if err == nil {
				_, err = st.ExecContext(ctx, args...)
			}
			if err != nil {
				return err
			}
		} else if _, err := tx.ExecContext(ctx, s.q(upsertStatsSQL(len(batch))), args...); err != nil {
			return err
		}
	}
	return nil
}

// firstsChunk and statsChunk are the rows of one INSERT of firsts and of
// rollups; a full one's statement is prepared once for the store (stmt).
const firstsChunk, statsChunk = 1000, 500

var fullInsertFirsts, fullUpsertStats = insertFirstsSQL(firstsChunk), upsertStatsSQL(statsChunk)

// insertFirstsSQL records n firsts, returning those that are new (a
// conflict is a first seen before).
func insertFirstsSQL(n int) string {
	return `INSERT INTO event_firsts (h, at) VALUES (?, ?)` + strings.Repeat(", (?, ?)", n-1) + ` ON CONFLICT (h) DO NOTHING RETURNING h`
}

// upsertStatsSQL adds n rows of counts to the rollups.
func upsertStatsSQL(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return `INSERT INTO event_stats (cluster_id, dim, value, hour, ` + statsCols + `) VALUES ` + row + strings.Repeat(", "+row, n-1) +
		` ON CONFLICT (cluster_id, dim, value, hour) DO UPDATE SET ` + statsAdd
}

type messageKey struct{ cluster, message string }

// messageDomains finds the sending domains the messages of events were
// queued under (recordMessageDomains), in one query a cluster and 500
// messages.
func (s *sqlStore) messageDomains(ctx context.Context, tx *sql.Tx, events []Event) (map[messageKey]string, error) {
	byCluster := map[string][]string{}
	seen := map[messageKey]bool{}
	for _, e := range events {
		k := messageKey{e.ClusterID, e.MessageID}
		if e.MessageID == "" || seen[k] {
			continue
		}
		seen[k] = true
		byCluster[e.ClusterID] = append(byCluster[e.ClusterID], e.MessageID)
	}
	out := map[messageKey]string{}
	const chunk = 500
	for cluster, msgs := range byCluster {
		for start := 0; start < len(msgs); start += chunk {
			batch := msgs[start:min(start+chunk, len(msgs))]
			args := make([]any, 0, 1+len(batch))
			args = append(args, cluster)
			for _, m := range batch {
				args = append(args, m)
			}
			rows, err := tx.QueryContext(ctx, s.q(`SELECT message_id, sending_domain FROM message_domains
				WHERE cluster_id = ? AND message_id IN (?`+strings.Repeat(", ?", len(batch)-1)+`)`), args...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var msg, domain string
				if err := rows.Scan(&msg, &domain); err != nil {
					rows.Close()
					return nil, err
				}
				out[messageKey{cluster, msg}] = domain
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (s *sqlStore) Stats(ctx context.Context, clusterID string, q StatsQuery) ([]StatsRow, error) {
	bucket := `hour`
	if q.Day {
		bucket = `(hour - ((hour % 86400000000) + 86400000000) % 86400000000)`
	}
	return queryAll(ctx, s, "stats", func(r scanner) (StatsRow, error) {
		var row StatsRow
		c := &row.Counts
		err := r.Scan(&row.Start, &row.Value, &c.OpensHuman, &c.OpensProxy, &c.OpensBot, &c.ClicksHuman, &c.ClicksProxy, &c.ClicksBot,
			&c.UniqueOpens, &c.UniqueClicks, &c.Unsubscribes, &c.BouncesHard, &c.BouncesSoft, &c.Complaints, &c.Relayed)
		return row, err
	}, `SELECT `+bucket+` AS b, value, `+statsSums+` FROM event_stats
		WHERE cluster_id = ? AND dim = ? AND hour >= ? AND hour < ? GROUP BY b, value ORDER BY b, value`,
		clusterID, string(q.Dim), micros(q.From), micros(q.To))
}
