package autotls

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
)

func TestStorage(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewStorage(st, box)
	for _, k := range []string{"certificates/ca/a.com/a.com.crt", "certificates/ca/a.com/a.com.key", "certificates/ca/b.com/b.com.crt", "acme/acct.json"} {
		if err := s.Store(ctx, k, []byte("data:"+k)); err != nil {
			t.Fatal(err)
		}
	}
	// Sealed at rest, bound to its key: the store holds no plaintext, and a
	// value moved under another key does not open.
	raw, _, err := st.Blob(ctx, "certificates/ca/a.com/a.com.key")
	if err != nil || !secret.Sealed(raw) || strings.Contains(string(raw), "data:") {
		t.Fatalf("stored %q, %v", raw, err)
	}
	if err := st.PutBlob(ctx, "certificates/ca/moved.key", raw, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "certificates/ca/moved.key"); err == nil {
		t.Fatal("a sealed value opened under another key")
	}
	if err := st.DeleteBlobs(ctx, "certificates/ca/moved.key"); err != nil {
		t.Fatal(err)
	}
	// A value stored before blobs were sealed still loads.
	if err := st.PutBlob(ctx, "acme/legacy.json", []byte("plain"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(ctx, "acme/legacy.json"); err != nil || string(v) != "plain" {
		t.Fatalf("legacy: %q %v", v, err)
	}
	if err := st.DeleteBlobs(ctx, "acme/legacy.json"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(ctx, "acme/acct.json"); err != nil || string(v) != "data:acme/acct.json" {
		t.Fatalf("load: %q %v", v, err)
	}
	if _, err := s.Load(ctx, "acme/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: %v, want fs.ErrNotExist", err)
	}
	if !s.Exists(ctx, "certificates/ca") || !s.Exists(ctx, "acme/acct.json") || s.Exists(ctx, "certificates/c") {
		t.Fatal("Exists is wrong for directories or files")
	}
	top, err := s.List(ctx, "certificates/ca", false)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.List(ctx, "certificates", true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(top) != "[certificates/ca/a.com certificates/ca/b.com]" || len(all) != 3 {
		t.Fatalf("list: %v / %v", top, all)
	}
	if _, err := s.List(ctx, "nothing", true); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("list of nothing: %v", err)
	}
	info, err := s.Stat(ctx, "certificates/ca/a.com/a.com.crt")
	if err != nil || !info.IsTerminal || info.Size != int64(len("data:certificates/ca/a.com/a.com.crt")) {
		t.Fatalf("stat file: %+v %v", info, err)
	}
	if info, err := s.Stat(ctx, "certificates/ca"); err != nil || info.IsTerminal {
		t.Fatalf("stat dir: %+v %v", info, err)
	}
	if err := s.Delete(ctx, "certificates/ca/a.com"); err != nil || s.Exists(ctx, "certificates/ca/a.com/a.com.key") {
		t.Fatalf("delete dir: %v", err)
	}

	// A held lock makes the next Lock wait until it is released.
	if err := s.Lock(ctx, "issue_cert_a.com"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel()
	if err := s.Lock(short, "issue_cert_a.com"); err == nil {
		t.Fatal("took a held lock")
	}
	released := make(chan error)
	go func() { released <- s.Lock(ctx, "issue_cert_a.com") }()
	time.Sleep(100 * time.Millisecond)
	if err := s.Unlock(ctx, "issue_cert_a.com"); err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	if err := s.Unlock(ctx, "issue_cert_a.com"); err != nil {
		t.Fatalf("unlock of the lock taken after release: %v", err)
	}
	if err := s.Unlock(ctx, "never"); err == nil {
		t.Fatal("unlock of a lock not held")
	}
}
