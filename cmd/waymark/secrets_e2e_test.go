package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	_ "modernc.org/sqlite" // reads the database file as it lies on disk

	"github.com/waymark-mail/waymark/internal/secret"
)

// TestSecretsSealedAtRest: after serve has made a tracking-token key and
// stored a webhook secret, the database files (0600) hold neither in the
// clear: the raw bytes lack the webhook secret, and every token key is a
// sealed value.
func TestSecretsSealedAtRest(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, nil, "--data", data, "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0")
	out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + srv.adminKey(t)}, "cluster", "create", "acme")
	key := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	const hookSecret = "whsec_e2e_0123456789abcdef_do_not_store"
	if code, _, body := apiCall(t, "POST", srv.api+"/v1/webhooks", key, "application/json",
		`{"url":"https://hooks.example.net/w","events":["*"],"secret":"`+hookSecret+`"}`); code != 201 {
		t.Fatalf("webhook: %d %s", code, body)
	}
	msg := "From: a@acme-mail.com\r\nTo: ann@example.org\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.example/\">x</a>\r\n"
	if code, _, body := apiCall(t, "POST", srv.api+"/v1/messages?dry_run=1&sign=0", key, "message/rfc822", msg); code != 200 {
		t.Fatalf("dry run (makes the token key): %d %s", code, body)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()

	files, _ := filepath.Glob(filepath.Join(data, "waymark.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(hookSecret)) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString([]byte(hookSecret)))) {
			t.Errorf("%s holds the webhook secret in the clear", f)
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "waymark.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT secret FROM token_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		v, err := base64.StdEncoding.DecodeString(s)
		if err != nil || !secret.Sealed(v) {
			t.Errorf("a token key is stored unsealed (%d bytes)", len(v))
		}
		n++
	}
	if n == 0 {
		t.Fatal("no token key was made")
	}
	var hook string
	if err := db.QueryRow(`SELECT secret FROM webhooks`).Scan(&hook); err != nil || !strings.HasPrefix(hook, "wmseal1:") {
		t.Errorf("the webhook secret is stored as %q (%v)", hook, err)
	}
}
