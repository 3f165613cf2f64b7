package autotls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
)

// Hosts says which names are active tracking domains.
type Hosts interface {
	Active(host string) bool
}

// Store is what certificates need from the store: blobs with locks, shared
// by every node, and where to record each name's certificate state.
type Store interface {
	store.Blobs
	// SetTLSStatus records the certificate state of a tracking domain.
	SetTLSStatus(ctx context.Context, name, status string) error
}

// Options configures a Manager.
type Options struct {
	Store Store
	// Box seals what the store keeps: certificates, their private keys and
	// the ACME account.
	Box   *secret.Box
	Hosts Hosts
	// Directory is the ACME directory URL (--acme-directory).
	Directory string
	// Email is the ACME account contact (--acme-email).
	Email string
	// CARoot is a PEM file of roots to trust for the ACME server
	// (--acme-ca-root), for a private CA such as Pebble.
	CARoot string
	// HTTPPort and TLSPort are where this node's edge listens: the ports the
	// CA's validation reaches (through the operator's port forwarding).
	HTTPPort, TLSPort int
	// Challenges are the challenge types to use: "http-01", "tls-alpn-01"
	// (both when empty).
	Challenges []string
	// Always are names served whatever the index says: the platform's own
	// tracking host t.<platform-domain>.
	Always []string
	Log    *slog.Logger
	// Failed, if set, hears of each certificate the CA would not issue
	// (every failed attempt: certmagic retries on its own).
	Failed func(ctx context.Context, name string, err error)
}

// Manager obtains, renews and serves certificates.
type Manager struct {
	cfg    *certmagic.Config
	cache  *certmagic.Cache
	issuer *certmagic.ACMEIssuer
	hosts  Hosts
	always []string
	log    *slog.Logger
	failed func(ctx context.Context, name string, err error)

	mu       sync.Mutex
	managed  map[string]bool
	inflight map[string]bool
	// failedNames are the names whose last order failed, until one
	// succeeds.
	failedNames map[string]bool
}

// allowed reports whether a certificate may be asked for and served for a
// name: an active tracking domain, or one of the Always names.
func (m *Manager) allowed(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	return slices.Contains(m.always, name) || m.hosts.Active(name)
}

// ErrNotActive refuses a name that is not an active tracking domain.
var ErrNotActive = errors.New("autotls: not an active tracking domain")

// New makes a Manager.
func New(o Options) (*Manager, error) {
	var roots *x509.CertPool
	if o.CARoot != "" {
		pem, err := os.ReadFile(o.CARoot)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-root: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--acme-ca-root %s holds no PEM certificate", o.CARoot)
		}
	}
	for _, c := range o.Challenges {
		if c != "http-01" && c != "tls-alpn-01" {
			return nil, fmt.Errorf("--acme-challenges: unknown challenge %q; use http-01, tls-alpn-01 or both", c)
		}
	}
	use := func(c string) bool { return len(o.Challenges) == 0 || slices.Contains(o.Challenges, c) }
	m := &Manager{hosts: o.Hosts, always: o.Always, log: o.Log, failed: o.Failed, managed: map[string]bool{}, inflight: map[string]bool{}}
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		Logger:           zap.NewNop(),
	})
	cfg = certmagic.New(cache, certmagic.Config{
		Storage: NewStorage(o.Store, o.Box),
		Logger:  zap.NewNop(),
		OnDemand: &certmagic.OnDemandConfig{
			DecisionFunc: func(_ context.Context, name string) error {
				if !m.allowed(name) {
					return fmt.Errorf("%w: %s", ErrNotActive, name)
				}
				return nil
			},
		},
		OnEvent: m.onEvent(o.Store),
	})
	m.issuer = certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA:           o.Directory,
		TestCA:       o.Directory,
		Email:        o.Email,
		Agreed:       true,
		TrustedRoots: roots,
		// Challenges are answered by the edge's own listeners (their ports
		// are taken, so certmagic does not open its own), on loopback if it
		// ever has to.
		ListenHost:              "127.0.0.1",
		AltHTTPPort:             o.HTTPPort,
		AltTLSALPNPort:          o.TLSPort,
		DisableHTTPChallenge:    !use("http-01"),
		DisableTLSALPNChallenge: !use("tls-alpn-01"),
		Logger:                  zap.NewNop(),
	})
	cfg.Issuers = []certmagic.Issuer{m.issuer}
	m.cfg, m.cache = cfg, cache
	return m, nil
}

// onEvent logs certmagic's events and records the TLS state per name.
func (m *Manager) onEvent(st Store) func(ctx context.Context, event string, data map[string]any) error {
	return func(ctx context.Context, event string, data map[string]any) error {
		name, _ := data["identifier"].(string)
		switch event {
		case "cert_obtained":
			m.log.Info("certificate obtained", "name", name, "renewal", data["renewal"])
			m.mu.Lock()
			delete(m.failedNames, name)
			m.mu.Unlock()
			if err := st.SetTLSStatus(ctx, name, "active"); err != nil {
				m.log.Warn("recording TLS state", "name", name, "err", err)
			}
		case "cert_failed":
			m.log.Warn("certificate not obtained", "name", name, "err", data["error"])
			m.mu.Lock()
			if m.failedNames == nil {
				m.failedNames = map[string]bool{}
			}
			m.failedNames[name] = true
			m.mu.Unlock()
			_ = st.SetTLSStatus(ctx, name, "failed")
			if m.failed != nil {
				err, _ := data["error"].(error)
				m.failed(ctx, name, err)
			}
		case "cert_obtaining":
			// Also before each retry: a name that stopped being active
			// (deleted, deactivated) is not ordered again.
			if !m.allowed(name) {
				m.log.Info("not obtaining a certificate: no longer an active tracking domain", "name", name)
				return fmt.Errorf("%w: %s", ErrNotActive, name)
			}
			m.log.Info("obtaining certificate", "name", name)
		}
		return nil
	}
}

// TLSConfig is the edge's HTTPS configuration: a certificate only for a
// name that is an active tracking domain now (a domain that was deleted or
// deactivated stops being served at once, cached certificate or not), and
// the ACME TLS-ALPN-01 protocol.
func (m *Manager) TLSConfig() *tls.Config {
	tc := m.cfg.TLSConfig()
	get := tc.GetCertificate
	tc.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if !m.allowed(hello.ServerName) {
			return nil, fmt.Errorf("%w: %q", ErrNotActive, hello.ServerName)
		}
		return get(hello)
	}
	tc.NextProtos = append([]string{"h2", "http/1.1"}, tc.NextProtos...)
	tc.MinVersion = tls.VersionTLS12
	return tc
}

// HTTPHandler answers ACME HTTP-01 challenges (from any node's order) and
// passes everything else to next.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	return m.issuer.HTTPChallengeHandler(next)
}

// Sync starts managing names that became active (a certificate is asked for
// at once, not at the first handshake) and forgets names that are no longer
// active. The edge calls it whenever its index reloads.
func (m *Manager) Sync(ctx context.Context, active []string) {
	m.mu.Lock()
	var add []string
	now := map[string]bool{}
	for _, n := range append(active, m.always...) {
		now[n] = true
		if !m.managed[n] {
			add = append(add, n)
		}
	}
	var drop []certmagic.SubjectIssuer
	for n := range m.managed {
		if !now[n] {
			drop = append(drop, certmagic.SubjectIssuer{Subject: n})
		}
	}
	m.managed = now
	m.mu.Unlock()
	slices.Sort(add)
	for _, name := range add {
		m.mu.Lock()
		busy := m.inflight[name]
		m.inflight[name] = true
		m.mu.Unlock()
		if busy {
			continue // one obtain per name per node at a time
		}
		// Not ManageAsync: with on-demand configured, certmagic would wait
		// for the first handshake. Obtaining is idempotent (storage is
		// checked under the issue lock), so every node may ask.
		go func() {
			defer func() {
				m.mu.Lock()
				delete(m.inflight, name)
				m.mu.Unlock()
			}()
			if err := m.cfg.ObtainCertAsync(ctx, name); err != nil && ctx.Err() == nil {
				m.log.Warn("obtaining a certificate", "name", name, "err", err)
			}
		}()
	}
	if len(drop) > 0 {
		m.cache.RemoveManaged(drop)
	}
}
