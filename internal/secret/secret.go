package secret

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/store"
)

// Box seals and opens values.
type Box struct{ aead cipher.AEAD }

// prefix marks sealed values and their format version.
const prefix = "wmseal1:"

// ErrOpen is a value that does not open: another key, or altered.
var ErrOpen = errors.New("secret: cannot open sealed value (wrong --secret-key-file, or the value was altered)")

// New returns a Box over a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret: key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Load reads the key file at path, making it (0600) when it does not
// exist. The file holds the key in base64.
func Load(path string) (*Box, bool, error) {
	b, err := os.ReadFile(path)
	created := false
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("secret key file: %w", err)
		}
		if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, false, err
		}
		if err := f.Close(); err != nil {
			return nil, false, err
		}
		b, created = []byte(base64.StdEncoding.EncodeToString(key)), true
	} else if err != nil {
		return nil, false, fmt.Errorf("secret key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, false, fmt.Errorf("secret key file %s is not base64: %w", path, err)
	}
	box, err := New(key)
	return box, created, err
}

// Seal encrypts plaintext; context binds the value to where it is stored
// (such as a domain id), so a sealed value copied elsewhere does not open.
func (b *Box) Seal(plaintext []byte, context string) string {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := b.aead.Seal(nonce, nonce, plaintext, []byte(context))
	return prefix + base64.StdEncoding.EncodeToString(out)
}

// Open decrypts a value sealed with the same key and context.
func (b *Box) Open(sealed, context string) ([]byte, error) {
	raw, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, ErrOpen
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(data) < b.aead.NonceSize() {
		return nil, ErrOpen
	}
	out, err := b.aead.Open(nil, data[:b.aead.NonceSize()], data[b.aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// CanaryBlob is where a store keeps a value sealed by the box that sealed
// its keys, so a node started with another key file is refused at once.
const CanaryBlob = "secret/canary"

const canaryContext = "waymark secret canary"

// Canary returns a new sealed value for CanaryBlob.
func (b *Box) Canary() []byte { return []byte(b.Seal([]byte("waymark"), canaryContext)) }

// ErrOtherKey is returned by CheckCanary when the box holds another key.
var ErrOtherKey = errors.New("the secret key file does not open the private keys in this database: they were sealed with another file; " +
	"start every node with the same --secret-key-file (restore it from backup)")

// Opens reports whether the box opens a value made by Canary.
func (b *Box) Opens(canary []byte) error {
	if _, err := b.Open(string(canary), canaryContext); err != nil {
		return ErrOtherKey
	}
	return nil
}

// CanaryStore keeps the canary where every node finds it.
type CanaryStore interface {
	Blob(ctx context.Context, key string) ([]byte, time.Time, error)
	PutBlob(ctx context.Context, key string, value []byte, now time.Time) error
}

// CheckCanary makes sure that box is the one the store's keys are sealed
// with: on a new store it puts a canary sealed by box; on one that has a
// canary, a box that cannot open it is ErrOtherKey.
func CheckCanary(ctx context.Context, st CanaryStore, box *Box) error {
	canary, _, err := st.Blob(ctx, CanaryBlob)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return st.PutBlob(ctx, CanaryBlob, box.Canary(), time.Now())
	case err != nil:
		return err
	}
	return box.Opens(canary)
}
