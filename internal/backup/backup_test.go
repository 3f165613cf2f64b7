package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waymark-mail/waymark/internal/store"
)

// TestRefusesToReplaceWhatItBacksUp: --to inside the data directory, the
// key file itself or a directory is refused before anything is written.
func TestRefusesToReplaceWhatItBacksUp(t *testing.T) {
	data := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := filepath.Join(data, "secret.key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	link := filepath.Join(outside, "data-link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{filepath.Join(data, "waymark.db"), filepath.Join(data, "waymark.db-wal"), key,
		filepath.Join(data, "backup.tar.gz"), filepath.Join(link, "waymark.db"), outside} {
		if _, err := Write(context.Background(), data, key, to); err == nil || !(strings.Contains(err.Error(), "inside the data directory") || strings.Contains(err.Error(), "is a directory")) {
			t.Errorf("--to %s: %v", to, err)
		}
	}
	if b, _ := os.ReadFile(key); string(b) != "k" {
		t.Fatal("the key file changed")
	}
	sum, err := Write(context.Background(), data, key, filepath.Join(outside, "b.tar.gz"))
	if err != nil || sum.Schema == 0 {
		t.Fatalf("a good target: %+v %v", sum, err)
	}
}
