package track

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
)

// Keys caches clusters' token keys for the edge (which verifies tokens),
// the relay and the API (which sign them). Keys never change once made, so
// a cluster's keys are read from the store once and every token is then
// verified in memory. A cluster with no keys is remembered for a minute, so
// forged tokens naming random clusters cannot make each request a read.
type Keys struct {
	store store.TokenKeys
	box   *secret.Box
	mu    sync.Mutex
	keys  map[string][]*Key
	// read is when a cluster's keys were last read from the store: a miss,
	// or a token naming a key id newer than the cached ones, reads again
	// at most once per refreshEvery.
	read map[string]time.Time
}

// NewKeys returns an empty cache over st.
func NewKeys(st store.TokenKeys, box *secret.Box) *Keys {
	return &Keys{store: st, box: box, keys: map[string][]*Key{}, read: map[string]time.Time{}}
}

const refreshEvery = 10 * time.Second

// maxRead bounds the read-time map (clusters with no keys yet).
const maxRead = 100_000

func (k *Keys) load(ctx context.Context, clusterID string, fresh bool) ([]*Key, error) {
	k.mu.Lock()
	keys, ok := k.keys[clusterID]
	last, readBefore := k.read[clusterID]
	k.mu.Unlock()
	if ok && !fresh {
		return keys, nil
	}
	if readBefore && time.Since(last) < refreshEvery {
		return keys, nil // read recently: the answer has not changed
	}
	// The store is read without the lock held: one slow read must not
	// stall every other cluster's lookups.
	stored, err := k.store.TokenKeys(ctx, clusterID)
	if err != nil {
		return nil, err
	}
	keys = make([]*Key, len(stored))
	for i, sk := range stored {
		plain, err := k.box.OpenStored(sk.Secret, secret.TokenKeyContext) // sealed at rest
		if err != nil {
			return nil, fmt.Errorf("token key %d of %s: %w", sk.ID, clusterID, err)
		}
		if keys[i], err = NewKey(sk.ID, plain); err != nil {
			return nil, fmt.Errorf("token key %d of %s: %w", sk.ID, clusterID, err)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.read) >= maxRead {
		for c := range k.read {
			if _, has := k.keys[c]; !has {
				delete(k.read, c)
			}
			if len(k.read) < maxRead/2 {
				break
			}
		}
	}
	k.read[clusterID] = time.Now()
	if len(keys) > 0 {
		k.keys[clusterID] = keys
	}
	return keys, nil
}

// Lookup returns a cluster's key by id (a KeyFunc). A key id newer
// than the cached ones (made on another node) reloads the cluster once.
func (k *Keys) Lookup(clusterID string, id uint32) (*Key, bool) {
	// The hot path: a cached key, no context, no allocation.
	k.mu.Lock()
	cached := k.keys[clusterID]
	k.mu.Unlock()
	for _, key := range cached {
		if key.ID == id {
			return key, true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := k.load(ctx, clusterID, false)
	if err != nil {
		return nil, false
	}
	if n := len(keys); n > 0 && id > keys[n-1].ID {
		if keys, err = k.load(ctx, clusterID, true); err != nil {
			return nil, false
		}
	}
	for _, key := range keys {
		if key.ID == id {
			return key, true
		}
	}
	return nil, false
}

// Current returns the key new tokens of a cluster are signed with, making
// the cluster's first key if it has none.
func (k *Keys) Current(ctx context.Context, clusterID string) (*Key, error) {
	keys, err := k.load(ctx, clusterID, false)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		if _, err := k.store.AddTokenKey(ctx, clusterID, []byte(k.box.Seal(key, secret.TokenKeyContext)), time.Now().UTC()); err != nil {
			return nil, err
		}
		k.mu.Lock()
		delete(k.read, clusterID) // read the new key now
		k.mu.Unlock()
		if keys, err = k.load(ctx, clusterID, true); err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, errors.New("track: token key not found after adding it")
		}
	}
	return keys[len(keys)-1], nil
}
