package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/store"
)

// The names of the two files in a backup, as a data directory has them.
const (
	DatabaseName = "waymark.db"
	KeyName      = "secret.key"
)

// Summary says what a backup holds.
type Summary struct {
	Schema   int   // the database's schema version (its last migration)
	Database int64 // bytes of the database copy
	Created  time.Time
}

// Write backs up the database of dataDir and the key file keyFile into
// to: written to a temporary file beside it, synced, then renamed, so to
// is always a whole backup (an older one, or the new one).
func Write(ctx context.Context, dataDir, keyFile, to string) (Summary, error) {
	if err := checkTarget(dataDir, keyFile, to); err != nil {
		return Summary{}, err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return Summary{}, fmt.Errorf("the secret key file (the database's secrets are sealed with it): %w", err)
	}
	// The copy is made beside to (so the rename is atomic), in a 0700
	// directory; a process killed meanwhile leaves that directory behind.
	tmp, err := os.MkdirTemp(filepath.Dir(to), ".waymark-backup-")
	if err != nil {
		return Summary{}, err
	}
	defer os.RemoveAll(tmp)
	db := filepath.Join(tmp, DatabaseName)
	schema, err := store.SnapshotSQLite(ctx, dataDir, db)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Schema: schema, Created: time.Now().UTC()}
	part := filepath.Join(tmp, "backup.tar.gz")
	f, err := os.OpenFile(part, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Summary{}, err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	if sum.Database, err = addFile(tw, db, DatabaseName, sum.Created); err != nil {
		return Summary{}, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: KeyName, Mode: 0o600, Size: int64(len(key)), ModTime: sum.Created, Format: tar.FormatPAX}); err != nil {
		return Summary{}, err
	}
	if _, err := tw.Write(key); err != nil {
		return Summary{}, err
	}
	for _, c := range []io.Closer{tw, gz} {
		if err := c.Close(); err != nil {
			return Summary{}, err
		}
	}
	if err := f.Sync(); err != nil {
		return Summary{}, err
	}
	if err := f.Close(); err != nil {
		return Summary{}, err
	}
	if err := os.Rename(part, to); err != nil {
		return Summary{}, err
	}
	if d, err := os.Open(filepath.Dir(to)); err == nil { // the rename, durable
		d.Sync()
		d.Close()
	}
	return sum, nil
}

func addFile(tw *tar.Writer, path, name string, at time.Time) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: at, Format: tar.FormatPAX}); err != nil {
		return 0, err
	}
	n, err := io.Copy(tw, f)
	return n, err
}

// checkTarget refuses a backup file that would replace what it backs up:
// a file inside the data directory (the database, its -wal and -shm) or
// the key file, and a directory.
func checkTarget(dataDir, keyFile, to string) error {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		if r, err := filepath.EvalSymlinks(a); err == nil {
			return r
		}
		if r, err := filepath.EvalSymlinks(filepath.Dir(a)); err == nil {
			return filepath.Join(r, filepath.Base(a))
		}
		return a
	}
	t, data, key := abs(to), abs(dataDir), abs(keyFile)
	if st, err := os.Stat(t); err == nil && st.IsDir() {
		return fmt.Errorf("--to %s is a directory: name the backup file, e.g. %s", to, filepath.Join(to, "waymark-backup.tar.gz"))
	}
	if t == key || strings.HasPrefix(t, data+string(filepath.Separator)) {
		return fmt.Errorf("--to %s is inside the data directory or is the key file: the backup would replace what it backs up; write it elsewhere", to)
	}
	return nil
}
