package store

import (
	"context"
	"database/sql"
	"time"
)

// Zone is what the platform zone and the edge serve, read by every node.
type Zone interface {
	// ZoneSerial is a counter that moves with every change to the names the
	// platform zone and the edge serve (targets added or deleted, domains
	// becoming active or pending, DKIM keys published), on any node.
	ZoneSerial(ctx context.Context) (int64, error)
	// VerificationTargets lists every issued verification target.
	VerificationTargets(ctx context.Context) ([]string, error)
	// ActiveHosts maps every active tracking domain to its cluster.
	ActiveHosts(ctx context.Context) (map[string]string, error)
	// FrontDoors describes every active tracking domain's front door (/).
	FrontDoors(ctx context.Context) (map[string]FrontDoor, error)
	// PublishedDKIM lists every published DKIM key with its domain's label,
	// for the platform zone.
	PublishedDKIM(ctx context.Context) ([]PublishedKey, error)
	// SendingLabels lists the labels of every sending domain.
	SendingLabels(ctx context.Context) ([]string, error)
	// DMARCPolicies maps the label of each sending domain with a DMARC
	// policy of its own to that policy, as stored.
	DMARCPolicies(ctx context.Context) (map[string]string, error)
}

// PublishedKey is a DKIM key as the zone serves it.
type PublishedKey struct {
	Label     string
	Algorithm string
	Slot      int
	TXT       string
}

// bumpZone moves the zone serial inside a transaction that changes the zone.
func (s *sqlStore) bumpZone(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE zone_serial SET serial = serial + 1 WHERE id = 1`)
	return err
}

func (s *sqlStore) ZoneSerial(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT serial FROM zone_serial WHERE id = 1`).Scan(&v)
	return v, s.wrap(err, "zone serial")
}

func (s *sqlStore) VerificationTargets(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s, "verification targets", func(r scanner) (t string, err error) {
		return t, r.Scan(&t)
	}, `SELECT target FROM tracking_domains`)
}

// FrontDoor is what an active tracking domain's front door shows: its
// home URL, or a page naming its cluster and the cluster's active sending
// domains.
type FrontDoor struct {
	HomeURL        string
	Cluster        string // the cluster's name
	SendingDomains []string
}

func (s *sqlStore) FrontDoors(ctx context.Context) (map[string]FrontDoor, error) {
	type row struct{ name, home, cluster, clusterID string }
	rows, err := queryAll(ctx, s, "front doors", func(r scanner) (x row, err error) {
		return x, r.Scan(&x.name, &x.home, &x.cluster, &x.clusterID)
	}, `SELECT t.name, t.home_url, c.name, c.id FROM tracking_domains t JOIN clusters c ON c.id = t.cluster_id WHERE t.status = 'active'`)
	if err != nil {
		return nil, err
	}
	type sd struct{ cluster, name string }
	sds, err := queryAll(ctx, s, "front doors' sending domains", func(r scanner) (x sd, err error) {
		return x, r.Scan(&x.cluster, &x.name)
	}, `SELECT cluster_id, name FROM sending_domains WHERE status = 'active' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	byCluster := map[string][]string{}
	for _, d := range sds {
		byCluster[d.cluster] = append(byCluster[d.cluster], d.name)
	}
	out := make(map[string]FrontDoor, len(rows))
	owner := make(map[string]string, len(rows))
	for _, r := range rows {
		if other, ok := owner[r.name]; ok && other != r.clusterID || other == "-" {
			owner[r.name] = "-" // active in two clusters: served by neither (ActiveHosts)
			delete(out, r.name)
			continue
		}
		owner[r.name] = r.clusterID
		out[r.name] = FrontDoor{HomeURL: r.home, Cluster: r.cluster, SendingDomains: byCluster[r.clusterID]}
	}
	return out, nil
}

func (s *sqlStore) ActiveHosts(ctx context.Context) (map[string]string, error) {
	type pair struct{ name, cluster string }
	pairs, err := queryAll(ctx, s, "active hosts", func(r scanner) (p pair, err error) {
		return p, r.Scan(&p.name, &p.cluster)
	}, `SELECT name, cluster_id FROM tracking_domains WHERE status = 'active'`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		// One name may be active in two clusters: the edge cannot tell them
		// apart by host, so it serves neither until one is removed.
		if other, ok := out[p.name]; ok && other != p.cluster {
			out[p.name] = ""
			continue
		}
		out[p.name] = p.cluster
	}
	return out, nil
}

func (s *sqlStore) DMARCPolicies(ctx context.Context) (map[string]string, error) {
	type pair struct{ label, policy string }
	pairs, err := queryAll(ctx, s, "dmarc policies", func(r scanner) (p pair, err error) {
		return p, r.Scan(&p.label, &p.policy)
	}, `SELECT label, dmarc FROM sending_domains WHERE dmarc <> ''`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		out[p.label] = p.policy
	}
	return out, nil
}

func (s *sqlStore) PublishedDKIM(ctx context.Context) ([]PublishedKey, error) {
	return queryAll(ctx, s, "published dkim", func(r scanner) (PublishedKey, error) {
		var k PublishedKey
		return k, r.Scan(&k.Label, &k.Algorithm, &k.Slot, &k.TXT)
	}, `SELECT d.label, k.algorithm, k.slot, k.txt FROM dkim_keys k JOIN sending_domains d ON d.id = k.domain_id ORDER BY d.label, k.algorithm, k.slot`)
}

func (s *sqlStore) SendingLabels(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s, "sending labels", func(r scanner) (l string, err error) {
		return l, r.Scan(&l)
	}, `SELECT label FROM sending_domains ORDER BY label`)
}

// Watch calls reload whenever the zone serial has moved (and once at the
// start): every interval, and at once when poke receives. A failed reload
// is retried at the next tick with the same serial. It returns when ctx
// ends. This is how each node's DNS server and edge follow the database.
func Watch(ctx context.Context, s Store, every time.Duration, poke <-chan struct{}, reload func(ctx context.Context, serial int64) error) {
	have := int64(-1)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if serial, err := s.ZoneSerial(ctx); err == nil && serial != have {
			if reload(ctx, serial) == nil {
				have = serial
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-poke:
		}
	}
}
