package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/cli"
	"github.com/waymark-mail/waymark/internal/testenv"
)

// TestSystemdUnit: deploy/waymark.service passes systemd-analyze verify
// (with ExecStart pointing at the binary built here, the one change),
// keeps only CAP_NET_BIND_SERVICE, and systemd's own exposure score rates
// its hardening OK (under 3 of 10); every variable of deploy/waymark.env
// is a flag serve has.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Missing(t, "systemd-analyze (apt systemd)", err)
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../deploy/waymark.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for _, want := range []string{"\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n", "\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
		"\nNoNewPrivileges=yes\n", "\nExecStart=/usr/local/bin/waymark serve\n", "\nStateDirectory=waymark\n", "\nUser=waymark\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	env, err := filepath.Abs("../../deploy/waymark.env")
	if err != nil {
		t.Fatal(err)
	}
	unit = strings.Replace(unit, "ExecStart=/usr/local/bin/waymark", "ExecStart="+bin, 1)
	unit = strings.Replace(unit, "EnvironmentFile=/etc/waymark/waymark.env", "EnvironmentFile="+env, 1)
	path := filepath.Join(t.TempDir(), "waymark.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for waymark\.service: ([0-9.]+) `).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score >= 3 {
		t.Fatalf("exposure %.1f, want under 3:\n%s", score, out)
	}

	// Every WAYMARK_ variable of the example environment file is a flag.
	flags := map[string]bool{}
	var c serveConfig
	serveFlags(&c).VisitAll(func(f *flag.Flag) { flags[cli.EnvName(f.Name)] = true })
	fh, err := os.Open(env)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	n := 0
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), "#")
		if name, _, ok := strings.Cut(line, "="); ok && strings.HasPrefix(name, "WAYMARK_") {
			n++
			if !flags[name] {
				t.Errorf("deploy/waymark.env sets %s, which is no flag of serve", name)
			}
		}
	}
	if n < 10 {
		t.Fatalf("deploy/waymark.env has %d variables", n)
	}
}

// TestBackupRestoreServed: waymark backup copies a running installation
// while clients write to it; the tar extracted with tar(1) into a new data
// directory is served by a new process: the admin key and the cluster key
// work, every suppression acknowledged before the backup began is there,
// and the sealed DKIM keys still sign mail that python3-dkim and OpenDKIM
// verify.
func TestBackupRestoreServed(t *testing.T) {
	dnsAddr, u := behindUnbound(t, testenv.StartUnboundForLibc, "acme-mail.com")
	data := t.TempDir()
	env := []string{"WAYMARK_DNS=" + dnsAddr, "WAYMARK_RESOLVER=" + u.Addr, "WAYMARK_HTTP=127.0.0.1:0"}
	srv := startServe(t, append(env, "WAYMARK_DATA="+data))
	admin := srv.adminKey(t)
	out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}, "cluster", "create", "acme")
	key := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	publishSendingDomain(t, u, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + key}, "acme-mail.com")

	// A client adds suppressions all along; those answered 201 before the
	// backup starts must all be in it.
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			addr := fmt.Sprintf("user%d@example.org", i)
			if code, _, _ := apiCall(t, "POST", srv.api+"/v1/suppressions", key, "application/json", `{"address":"`+addr+`"}`); code == 201 {
				mu.Lock()
				acked = append(acked, addr)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	file := filepath.Join(t.TempDir(), "waymark.tar.gz")
	if out := mustRun(t, nil, "backup", "--data", data, "--to", file); !strings.Contains(out, "schema ") {
		t.Fatalf("backup:\n%s", out)
	}
	close(stop)
	<-done
	if len(before) < 5 {
		t.Fatalf("only %d suppressions before the backup", len(before))
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()

	restored := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", file, "-C", restored).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	srv = startServe(t, append(env, "WAYMARK_DATA="+restored))
	if strings.Contains(srv.banner, "admin key  wma_") && !strings.Contains(srv.banner, admin) {
		t.Fatalf("the restored installation made a new admin key:\n%s", srv.banner)
	}
	cli := []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + key}
	if out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}, "cluster", "list"); !strings.Contains(out, "acme") {
		t.Fatalf("clusters after the restore:\n%s", out)
	}
	list := mustRun(t, cli, "suppression", "list")
	for _, a := range before {
		if !strings.Contains(list, a+" ") {
			t.Fatalf("%s was acknowledged before the backup and is not in it:\n%s", a, list)
		}
	}
	msg := "From: News <news@acme-mail.com>\r\nTo: ann@example.org\r\nSubject: Restored\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <r1@acme-mail.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nStill signed.\r\n"
	code, _, signed := apiCall(t, "POST", srv.api+"/v1/messages?dry_run=1", key, "message/rfc822", msg)
	if code != 200 || !strings.Contains(signed, "DKIM-Signature:") {
		t.Fatalf("dry run after the restore: %d\n%s", code, signed)
	}
	u.Flush("waymark.localhost")
	for name, err := range u.VerifyDKIM(t, signed) {
		if err != nil {
			t.Fatalf("%s refuses mail signed after the restore: %v", name, err)
		}
	}

	// Bad uses: one line each, with the hint.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backup"}, "--to FILE is required"},
		{[]string{"backup", "--data", t.TempDir(), "--to", filepath.Join(t.TempDir(), "x.tar.gz")}, "secret key file"},
		{[]string{"backup", "--db", "postgres://x", "--to", "x"}, "pg_dump"},
	} {
		if _, errOut, code := waymark(t, nil, tc.args...); code == 0 || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d %q", tc.args, code, errOut)
		}
	}
}

// TestUpgradeFromPreviousRelease: databases made by an earlier release
// (testdata/upgrade/REV, by scripts/make-upgrade-fixture REV: that
// release's binary, its CLI and API, on SQLite and on PostgreSQL, the
// latter kept as pg_dump's SQL) are migrated forward by serve and all of
// it works: both keys, both clusters, the webhook, the suppressions (the
// old reason bounce read as hard_bounce), the cluster's first key listed
// with an id and label, and the sending domain's DKIM keys, sealed by that
// release, sign mail that verifies once its records are published.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	fixtures, err := filepath.Glob("testdata/upgrade/*/keys")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no upgrade fixture: %v", err)
	}
	for _, f := range fixtures {
		from := filepath.Dir(f)
		keys := map[string]string{}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			k, v, _ := strings.Cut(line, " ")
			keys[k] = v
		}
		copyFile := func(t *testing.T, src, dst string) {
			t.Helper()
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(filepath.Base(from)+"/sqlite", func(t *testing.T) {
			data := t.TempDir()
			copyFile(t, filepath.Join(from, "waymark.db"), filepath.Join(data, "waymark.db"))
			copyFile(t, filepath.Join(from, "secret.key"), filepath.Join(data, "secret.key"))
			upgraded(t, []string{"WAYMARK_DATA=" + data}, keys["admin"], keys["cluster"])
		})
		t.Run(filepath.Base(from)+"/postgres", func(t *testing.T) {
			psql, err := testenv.PGBin("psql")
			if err != nil {
				testenv.Missing(t, "psql (apt postgresql)", err)
			}
			db := testenv.Postgres(t)
			if out, err := exec.Command(psql, "-q", "-v", "ON_ERROR_STOP=1", "-f", filepath.Join(from, "postgres.sql"), db).CombinedOutput(); err != nil {
				t.Fatalf("psql: %v\n%s", err, out)
			}
			data := t.TempDir()
			key := filepath.Join(data, "secret.key")
			copyFile(t, filepath.Join(from, "postgres.key"), key)
			upgraded(t, []string{"WAYMARK_DB=" + db, "WAYMARK_DATA=" + data, "WAYMARK_SECRET_KEY_FILE=" + key}, keys["admin"], keys["postgres-cluster"])
		})
	}
}

// upgraded serves a migrated fixture with env and checks all of it works.
func upgraded(t *testing.T, env []string, adminKey, clusterKey string) {
	dnsAddr, u := behindUnbound(t, testenv.StartUnboundForLibc, "acme-mail.com")
	srv := startServe(t, append(env, "WAYMARK_DNS="+dnsAddr, "WAYMARK_RESOLVER="+u.Addr, "WAYMARK_HTTP=127.0.0.1:0"))
	admin := []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + adminKey}
	cli := []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + clusterKey}
	if out := mustRun(t, admin, "cluster", "list"); !strings.Contains(out, "acme") || !strings.Contains(out, "bravo") {
		t.Fatalf("clusters:\n%s", out)
	}
	if out := mustRun(t, cli, "key", "list"); !regexp.MustCompile(`created with the cluster \(this key\)\s+\S+ \S+ UTC\s+key_[0-9a-f]{16}`).MatchString(out) {
		t.Fatalf("keys:\n%s", out)
	}
	out := mustRun(t, cli, "suppression", "list")
	if !regexp.MustCompile(`ann@example\.org\s+unsubscribe`).MatchString(out) || !regexp.MustCompile(`bounced@example\.org\s+hard_bounce`).MatchString(out) {
		t.Fatalf("suppressions:\n%s", out)
	}
	if out := mustRun(t, cli, "webhook", "list"); !strings.Contains(out, "https://hooks.example.com/waymark") {
		t.Fatalf("webhooks:\n%s", out)
	}
	if out := mustRun(t, cli, "tracking-domain", "list"); !strings.Contains(out, "track.acme-mail.com") {
		t.Fatalf("tracking domains:\n%s", out)
	}
	var d struct {
		Records []struct{ Name, Type, Value string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, cli, "sending-domain", "show", "acme-mail.com", "--json")), &d); err != nil {
		t.Fatal(err)
	}
	var rrs []string
	for _, r := range d.Records {
		rrs = append(rrs, r.Name+". 300 IN CNAME "+r.Value+".")
	}
	u.Set(rrs...)
	if out := mustRun(t, cli, "sending-domain", "verify", "acme-mail.com"); !regexp.MustCompile(`STATUS\s+active`).MatchString(out) {
		t.Fatalf("verify after the upgrade:\n%s", out)
	}
	msg := "From: News <news@acme-mail.com>\r\nTo: ann2@example.org\r\nSubject: Upgraded\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <u1@acme-mail.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSigned by a key of the old release.\r\n"
	code, _, signed := apiCall(t, "POST", srv.api+"/v1/messages?dry_run=1", clusterKey, "message/rfc822", msg)
	if code != 200 || !strings.Contains(signed, "DKIM-Signature:") {
		t.Fatalf("dry run: %d\n%s", code, signed)
	}
	u.Flush("waymark.localhost")
	for name, err := range u.VerifyDKIM(t, signed) {
		if err != nil {
			t.Fatalf("%s refuses mail signed with the old release's key: %v", name, err)
		}
	}
}
