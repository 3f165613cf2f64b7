package secret

import (
	"bytes"
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
// exist; created says it did not. The file holds the key in base64.
func Load(path string) (box *Box, created bool, err error) {
	box, save, err := Open(path)
	if err != nil || save == nil {
		return box, false, err
	}
	return box, true, save()
}

// Open reads the key file at path. When there is none, it makes a new key
// in memory and returns save, which writes the file (0600): a caller saves
// it once it knows the key is wanted (CheckCanary on a new store), so a
// start that fails leaves no key file behind.
func Open(path string) (box *Box, save func() error, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		box, err := New(key)
		if err != nil {
			return nil, nil, err
		}
		return box, func() error {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("secret key file: %w", err)
			}
			if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("secret key file: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, nil, fmt.Errorf("secret key file %s is not base64: %w", path, err)
	}
	box, err = New(key)
	return box, nil, err
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

// ErrNoKeyFile is returned by CheckCanary when the key file is missing but
// the store's keys were sealed with one.
var ErrNoKeyFile = errors.New("there is no secret key file, but the private keys in this database were sealed with one: " +
	"restore it from backup (or point --secret-key-file at it)")

// CheckCanary makes sure that box is the one the store's keys are sealed
// with. On a new store it saves the key file (save, from Open, when there
// was none) and then puts a canary sealed by box; on a store with a
// canary, a box that cannot open it is ErrOtherKey, and a key file that
// is missing is ErrNoKeyFile (and none is written).
func CheckCanary(ctx context.Context, st CanaryStore, box *Box, save func() error) error {
	canary, _, err := st.Blob(ctx, CanaryBlob)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if save != nil {
			if err := save(); err != nil {
				return err
			}
		}
		return st.PutBlob(ctx, CanaryBlob, box.Canary(), time.Now())
	case err != nil:
		return err
	case save != nil:
		return ErrNoKeyFile
	}
	return box.Opens(canary)
}

// Sealed reports whether v is a value Seal made.
func Sealed(v []byte) bool { return bytes.HasPrefix(v, []byte(prefix)) }

// OpenStored opens a stored secret: sealed by Seal, or, stored before
// secrets were sealed at rest and not sealed since, as it is.
func (b *Box) OpenStored(v []byte, context string) ([]byte, error) {
	if !Sealed(v) {
		return v, nil
	}
	return b.Open(string(v), context)
}

// Contexts of the secrets other packages seal, for Seal and OpenStored.
const (
	TokenKeyContext      = "token_key"
	WebhookSecretContext = "webhook_secret"
)

// BlobContext is the context of a blob's value, bound to its key.
func BlobContext(key string) string { return "blob:" + key }

// SealStored seals, through st.RewriteSecrets, every secret stored before
// secrets were sealed at rest (the canary, sealed already, is left); it
// returns how many it sealed.
func SealStored(ctx context.Context, st interface {
	RewriteSecrets(ctx context.Context, skip []byte, rewrite func(kind, id string, value []byte) ([]byte, bool)) (int, error)
}, box *Box) (int, error) {
	return st.RewriteSecrets(ctx, []byte(prefix), func(kind, id string, value []byte) ([]byte, bool) {
		if Sealed(value) {
			return nil, false
		}
		switch kind {
		case "token_key":
			return []byte(box.Seal(value, TokenKeyContext)), true
		case "webhook_secret":
			return []byte(box.Seal(value, WebhookSecretContext)), true
		case "blob":
			return []byte(box.Seal(value, BlobContext(id))), true
		}
		return nil, false
	})
}
