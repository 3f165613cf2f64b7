package autotls

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
)

// Storage is certmagic.Storage over the store: certificates, keys, the
// ACME account and challenge data are blobs every node reads, and locks are
// the store's named locks (PostgreSQL advisory locks, held by a session,
// so a node that dies releases its locks).
type Storage struct {
	st  store.Blobs
	box *secret.Box

	mu    sync.Mutex
	locks map[string]func()
}

var _ certmagic.Storage = (*Storage)(nil)

// NewStorage returns certmagic storage over st.
// Values are sealed under box (certificates and ACME account keys alike:
// one rule, no list of which files are private).
func NewStorage(st store.Blobs, box *secret.Box) *Storage { return &Storage{st: st, box: box} }

// lockPoll is how often Lock retries a lock another node holds.
const lockPoll = 250 * time.Millisecond

// Lock takes the named lock, waiting for it until ctx ends.
func (s *Storage) Lock(ctx context.Context, name string) error {
	for {
		unlock, ok, err := s.st.TryLock(ctx, "certmagic:"+name)
		if err != nil {
			return err
		}
		if ok {
			s.mu.Lock()
			if s.locks == nil {
				s.locks = map[string]func(){}
			}
			s.locks[name] = unlock
			s.mu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// Unlock releases a lock this node holds.
func (s *Storage) Unlock(_ context.Context, name string) error {
	s.mu.Lock()
	unlock, ok := s.locks[name]
	delete(s.locks, name)
	s.mu.Unlock()
	if !ok {
		return errors.New("autotls: unlock of a lock not held: " + name)
	}
	unlock()
	return nil
}

// Store implements certmagic.Storage.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	return s.st.PutBlob(ctx, key, []byte(s.box.Seal(value, secret.BlobContext(key))), time.Now().UTC())
}

// Load implements certmagic.Storage; a missing key is fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	v, _, err := s.st.Blob(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	return s.box.OpenStored(v, secret.BlobContext(key))
}

// Delete implements certmagic.Storage: the key and everything under it.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.st.DeleteBlobs(ctx, key)
}

// Exists implements certmagic.Storage, for keys and "directories".
func (s *Storage) Exists(ctx context.Context, key string) bool {
	if _, _, err := s.st.Blob(ctx, key); err == nil {
		return true
	}
	keys, err := s.st.BlobKeys(ctx, key)
	return err == nil && len(keys) > 0
}

// List implements certmagic.Storage: the keys directly under path, or all
// below it when recursive.
func (s *Storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	keys, err := s.st.BlobKeys(ctx, path)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fs.ErrNotExist
	}
	if recursive {
		return keys, nil
	}
	prefix := strings.TrimSuffix(path, "/") + "/"
	var out []string
	seen := map[string]bool{}
	for _, k := range keys {
		child, _, _ := strings.Cut(strings.TrimPrefix(k, prefix), "/")
		if name := prefix + child; !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out, nil
}

// Stat implements certmagic.Storage.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	v, modified, err := s.st.Blob(ctx, key)
	if err == nil {
		plain, err := s.box.OpenStored(v, secret.BlobContext(key)) // its size, not the sealed one's
		if err != nil {
			return certmagic.KeyInfo{}, err
		}
		return certmagic.KeyInfo{Key: key, Modified: modified, Size: int64(len(plain)), IsTerminal: true}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return certmagic.KeyInfo{}, err
	}
	if keys, err := s.st.BlobKeys(ctx, key); err == nil && len(keys) > 0 {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fs.ErrNotExist
}
