package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"go/build"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// PebbleVersion is the Pebble that scripts/test-deps installs.
const PebbleVersion = "v2.10.1"

// Pebble is Let's Encrypt's test ACME server, on loopback, resolving the
// names it validates through resolver (Unbound in the tests).
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// ListenerCA is a PEM file that trusts Pebble's own HTTPS listener
	// (what --acme-ca-root takes).
	ListenerCA string
	mgmt       string
	log        string
	t          testing.TB
}

// StartPebble runs Pebble; its validation connects to httpPort (HTTP-01)
// and tlsPort (TLS-ALPN-01) of the address a name resolves to.
func StartPebble(t testing.TB, resolver string, httpPort, tlsPort int) *Pebble {
	t.Helper()
	return StartPebbleValidity(t, resolver, httpPort, tlsPort, 0)
}

// StartPebbleValidity is StartPebble issuing certificates valid for the
// given time (zero: Pebble's default), to see renewal happen.
func StartPebbleValidity(t testing.TB, resolver string, httpPort, tlsPort int, validity time.Duration) *Pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		bin = filepath.Join(build.Default.GOPATH, "bin", "pebble")
		if _, err = os.Stat(bin); err != nil {
			Missing(t, "Pebble (go install github.com/letsencrypt/pebble/v2/cmd/pebble@"+PebbleVersion+")", err)
		}
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := selfSigned(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	port, _ := FreePort()
	mgmt, _ := FreePort()
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           fmt.Sprintf("127.0.0.1:%d", port),
		"managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"ocspResponderURL":        "",
		"keyAlgorithm":            "ecdsa",
	}}
	if validity > 0 {
		cfg["pebble"].(map[string]any)["profiles"] = map[string]any{"default": map[string]any{
			"description": "short-lived, for renewal tests", "validityPeriod": int(validity.Seconds())}}
	}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	os.WriteFile(cfgFile, b, 0o644)
	logFile := filepath.Join(dir, "pebble.log")
	out, _ := os.Create(logFile)
	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", resolver)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	p := &Pebble{Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", port), ListenerCA: certFile,
		mgmt: fmt.Sprintf("https://127.0.0.1:%d", mgmt), log: logFile, t: t}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("pebble did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Root returns the PEM of the root that signs Pebble's certificates.
func (p *Pebble) Root() []byte {
	p.t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // Pebble's own test listener
	resp, err := c.Get(p.mgmt + "/roots/0")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// Orders is how many orders Pebble has taken, read from its log.
func (p *Pebble) Orders() int {
	log, _ := os.ReadFile(p.log)
	m := regexp.MustCompile(`There are now (\d+) orders in the db`).FindAllSubmatch(log, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(m[len(m)-1][1]))
	return n
}

// Log returns Pebble's log, for failure messages.
func (p *Pebble) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// selfSigned writes a certificate for 127.0.0.1 and localhost.
func selfSigned(certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble test listener"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
