package sending

import (
	"context"

	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/store"
)

// ZoneSource feeds the DNS server from the store: verification targets
// and the records of sending domains. It is the package's one piece that
// reads the store; the rules it applies are ZoneRecords'.
type ZoneSource struct {
	Store  store.Zone
	Config ZoneConfig
}

// VerificationTargets implements dnsserver.Source.
func (z ZoneSource) VerificationTargets(ctx context.Context) ([]string, error) {
	return z.Store.VerificationTargets(ctx)
}

// ExtraRecords implements dnsserver.Source.
func (z ZoneSource) ExtraRecords(ctx context.Context) ([]dnsserver.Record, error) {
	keys, err := z.Store.PublishedDKIM(ctx)
	if err != nil {
		return nil, err
	}
	labels, err := z.Store.SendingLabels(ctx)
	if err != nil {
		return nil, err
	}
	policies, err := z.Store.DMARCPolicies(ctx)
	if err != nil {
		return nil, err
	}
	return ZoneRecords(z.Config, keys, labels, policies), nil
}
