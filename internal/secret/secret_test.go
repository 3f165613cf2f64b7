package secret

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/store"
)

func TestSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	box, created, err := Load(path)
	if err != nil || !created {
		t.Fatalf("first load: %v %v", created, err)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	sealed := box.Seal([]byte("-----BEGIN PRIVATE KEY-----"), "sd_1/rsa/0")
	if strings.Contains(sealed, "PRIVATE") || !strings.HasPrefix(sealed, prefix) {
		t.Fatalf("sealed %q", sealed)
	}
	again, created, err := Load(path)
	if err != nil || created {
		t.Fatalf("second load: %v %v", created, err)
	}
	if out, err := again.Open(sealed, "sd_1/rsa/0"); err != nil || string(out) != "-----BEGIN PRIVATE KEY-----" {
		t.Fatalf("open: %q %v", out, err)
	}
	for name, tc := range map[string]struct{ sealed, ctx string }{
		"other context": {sealed, "sd_2/rsa/0"},
		"altered":       {sealed[:len(sealed)-4] + "AAAA", "sd_1/rsa/0"},
		"not sealed":    {"plain", "sd_1/rsa/0"},
	} {
		if _, err := again.Open(tc.sealed, tc.ctx); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: %v", name, err)
		}
	}
	other := newBox(t)
	if _, err := other.Open(sealed, "sd_1/rsa/0"); !errors.Is(err, ErrOpen) {
		t.Fatal("opened with another key")
	}
	if err := os.WriteFile(path, []byte("not base64!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(path); err == nil {
		t.Fatal("garbage key file accepted")
	}
}

func TestCanary(t *testing.T) {
	a, b := newBox(t), newBox(t)
	c := a.Canary()
	if err := a.Opens(c); err != nil {
		t.Fatalf("own canary: %v", err)
	}
	if err := b.Opens(c); !errors.Is(err, ErrOtherKey) {
		t.Fatalf("another key's canary: %v", err)
	}
}

// blobs is an in-memory CanaryStore.
type blobs map[string][]byte

func (b blobs) Blob(_ context.Context, key string) ([]byte, time.Time, error) {
	v, ok := b[key]
	if !ok {
		return nil, time.Time{}, store.ErrNotFound
	}
	return v, time.Time{}, nil
}

func (b blobs) PutBlob(_ context.Context, key string, v []byte, _ time.Time) error {
	b[key] = v
	return nil
}

// TestCheckCanary: the first box marks a new store; the same box passes
// again; another box is refused and changes nothing.
func TestCheckCanary(t *testing.T) {
	a, b := newBox(t), newBox(t)
	st := blobs{}
	if err := CheckCanary(t.Context(), st, a, nil); err != nil || len(st[CanaryBlob]) == 0 {
		t.Fatalf("first start: %v %q", err, st[CanaryBlob])
	}
	first := string(st[CanaryBlob])
	if err := CheckCanary(t.Context(), st, a, nil); err != nil {
		t.Fatalf("same key: %v", err)
	}
	if err := CheckCanary(t.Context(), st, b, nil); !errors.Is(err, ErrOtherKey) {
		t.Fatalf("other key: %v", err)
	}
	if string(st[CanaryBlob]) != first {
		t.Fatal("a refused key replaced the canary")
	}
}

// newBox is a box with a fresh key of its own.
func newBox(t *testing.T) *Box {
	t.Helper()
	box, _, err := Load(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// TestCheckCanaryMissingFile: with no key file, a new store gets one
// written before its canary; a store that has a canary refuses, and no
// file is left behind.
func TestCheckCanaryMissingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	box, save, err := Open(path)
	if err != nil || save == nil {
		t.Fatalf("Open of a missing file: %v, save %v", err, save != nil)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Open wrote the file")
	}
	st := blobs{}
	if err := CheckCanary(t.Context(), st, box, save); err != nil {
		t.Fatal(err)
	}
	again, save2, err := Open(path)
	if err != nil || save2 != nil || again.Opens(st[CanaryBlob]) != nil {
		t.Fatalf("the saved file: %v, save %v", err, save2 != nil)
	}
	other := filepath.Join(dir, "other.key")
	box3, save3, _ := Open(other)
	if err := CheckCanary(t.Context(), st, box3, save3); !errors.Is(err, ErrNoKeyFile) {
		t.Fatalf("a store with a canary and no key file: %v", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused start left a key file behind")
	}
}

// TestSealStored: token keys, webhook secrets and blobs stored before
// secrets were sealed at rest are sealed by SealStored, once (a second run
// changes nothing), and open again as they were; the canary is left as it
// is.
func TestSealStored(t *testing.T) {
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box := newBox(t)
	now := time.Now()
	if err := st.CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: now}, "h"); err != nil {
		t.Fatal(err)
	}
	plainKey := []byte("0123456789abcdef0123456789abcdef")
	if _, err := st.AddTokenKey(ctx, "cl_a", plainKey, now); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateWebhook(ctx, store.Webhook{ID: "wh_1", ClusterID: "cl_a", URL: "https://h.example/", Events: []string{"*"}, Secret: "whsec_plain", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutBlob(ctx, "certificates/x/x.key", []byte("PRIVATE KEY"), now); err != nil {
		t.Fatal(err)
	}
	if err := CheckCanary(ctx, st, box, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := SealStored(ctx, st, box); err != nil || n != 3 {
		t.Fatalf("SealStored: %d %v, want 3", n, err)
	}
	if n, err := SealStored(ctx, st, box); err != nil || n != 0 {
		t.Fatalf("again: %d %v, want 0", n, err)
	}
	keys, err := st.TokenKeys(ctx, "cl_a")
	if err != nil || len(keys) != 1 || !Sealed(keys[0].Secret) {
		t.Fatalf("token key: %+v %v", keys, err)
	}
	if k, err := box.OpenStored(keys[0].Secret, TokenKeyContext); err != nil || string(k) != string(plainKey) {
		t.Fatalf("token key opens to %q, %v", k, err)
	}
	hooks, err := st.Webhooks(ctx, "cl_a")
	if err != nil || len(hooks) != 1 || !Sealed([]byte(hooks[0].Secret)) {
		t.Fatalf("webhook: %+v %v", hooks, err)
	}
	if s, err := box.OpenStored([]byte(hooks[0].Secret), WebhookSecretContext); err != nil || string(s) != "whsec_plain" {
		t.Fatalf("webhook secret opens to %q, %v", s, err)
	}
	blob, _, err := st.Blob(ctx, "certificates/x/x.key")
	if v, oerr := box.OpenStored(blob, BlobContext("certificates/x/x.key")); err != nil || !Sealed(blob) || oerr != nil || string(v) != "PRIVATE KEY" {
		t.Fatalf("blob: %q %v %v", blob, err, oerr)
	}
	canary, _, err := st.Blob(ctx, CanaryBlob)
	if err != nil || box.Opens(canary) != nil {
		t.Fatalf("the canary after SealStored: %v", err)
	}
}
