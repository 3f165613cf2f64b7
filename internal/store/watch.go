package store

import (
	"context"
	"time"
)

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
