package testenv

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartOpenDKIM runs the OpenDKIM milter (apt opendkim) signing mail from
// domain with key under selector, relaxed/relaxed, over a Unix socket
// whose path it returns (Postfix: smtpd_milters = unix:<path>). Headers are signed and oversigned as waymark
// does, so both sign the same fields.
func StartOpenDKIM(t testing.TB, domain, selector string, key crypto.Signer, signHeaders, oversignHeaders []string) string {
	t.Helper()
	bin := lookBin(t, "opendkim", "OpenDKIM (apt opendkim)")
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	alg := "rsa-sha256"
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		alg = "ed25519-sha256"
	}
	// Postfix's smtpd (user postfix) must reach the socket: a directory
	// others may enter, and a socket they may write to (UMask 000).
	dir, err := os.MkdirTemp("", "waymark-opendkim-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	keyFile, sock := filepath.Join(dir, "key.pem"), filepath.Join(dir, "milter.sock")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "opendkim.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`Syslog no
Mode s
Canonicalization relaxed/relaxed
Socket local:%s
PidFile %s
Domain %s
Selector %s
KeyFile %s
SignatureAlgorithm %s
RequireSafeKeys no
UMask 000
InternalHosts 127.0.0.1
SignHeaders %s
OversignHeaders %s
`, sock, filepath.Join(dir, "pid"), domain, selector, keyFile, alg,
		strings.Join(signHeaders, ","), strings.Join(oversignHeaders, ","))), 0o644)
	logFile := filepath.Join(dir, "opendkim.log")
	out, _ := os.Create(logFile)
	cmd := exec.Command(bin, "-f", "-x", conf)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start opendkim: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("opendkim did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
