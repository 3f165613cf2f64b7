package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if err := a.CheckCanary(c); err != nil {
		t.Fatalf("own canary: %v", err)
	}
	if err := b.CheckCanary(c); !errors.Is(err, ErrOtherKey) {
		t.Fatalf("another key's canary: %v", err)
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
