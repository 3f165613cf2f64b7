package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/autotls"
	"github.com/waymark-mail/waymark/internal/bounce"
	"github.com/waymark-mail/waymark/internal/cli"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/edge"
	"github.com/waymark-mail/waymark/internal/milter"
	"github.com/waymark-mail/waymark/internal/monitor"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/verify"
	"github.com/waymark-mail/waymark/internal/web"
	"github.com/waymark-mail/waymark/internal/webhook"
)

// allRoles are the roles of `serve --roles`, in start order.
var allRoles = []string{"api", "edge", "dns", "relay", "monitor"}

// builtRoles are the roles this version implements; the others are accepted
// so that configurations stay valid, and reported as not built at start.
var builtRoles = []string{"api", "dns", "edge", "relay", "monitor"}

// serveConfig holds the flags of `waymark serve` (docs/CONCEPTS.md#serve-flags).
type serveConfig struct {
	http, edgeHTTP, edgeHTTPS, dns, smtp, bounceSMTP string
	resolver, platformDomain                         string
	acmeDirectory, acmeEmail, acmeCARoot, delivery   string
	data, db, roles, adminKey, logLevel              string
	edgeIPs                                          cli.List
	recheck                                          time.Duration
	webhookPrivate, deliveryPrivate                  bool
	acmeChallenges, secretKeyFile                    string
	dkimRotation                                     time.Duration
	smtpTLSCert, smtpTLSKey, milterAddr, milterClust string
	smtpRate                                         float64
	relayRetry, relayExpire, relayLease              time.Duration
}

func serveFlags(c *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("waymark serve", flag.ContinueOnError)
	fs.StringVar(&c.http, "http", "127.0.0.1:8080", "API and dashboard listen address")
	fs.StringVar(&c.edgeHTTP, "edge-http", ":8081", "edge HTTP listen address (tracking links, ACME HTTP-01)")
	fs.StringVar(&c.edgeHTTPS, "edge-https", ":8443", "edge HTTPS listen address")
	fs.StringVar(&c.dns, "dns", ":5353", "authoritative DNS listen address (UDP and TCP)")
	fs.StringVar(&c.smtp, "smtp", ":2525", "SMTP submission listen address")
	fs.StringVar(&c.bounceSMTP, "bounce-smtp", ":2526", "inbound SMTP for bounce hosts")
	fs.StringVar(&c.resolver, "resolver", "", "DNS resolver host:port for verification (default: first nameserver in /etc/resolv.conf)")
	fs.Var(&c.edgeIPs, "edge-ip", "edge address answered for verification targets (repeatable)")
	fs.StringVar(&c.platformDomain, "platform-domain", "waymark.localhost", "DNS zone delegated to waymark")
	fs.StringVar(&c.acmeDirectory, "acme-directory", "", "ACME directory URL")
	fs.StringVar(&c.acmeEmail, "acme-email", "", "ACME account email")
	fs.StringVar(&c.acmeCARoot, "acme-ca-root", "", "PEM file of a CA to trust for the ACME server")
	fs.StringVar(&c.acmeChallenges, "acme-challenges", "http-01,tls-alpn-01", "ACME challenge types to use")
	fs.StringVar(&c.delivery, "delivery", "", "default delivery server, smtp://host:port")
	fs.StringVar(&c.milterAddr, "milter", "", "milter listen address (host:port) for Postfix's smtpd_milters; empty: no milter")
	fs.StringVar(&c.milterClust, "milter-cluster", "", "cluster id that owns milter mail whose client did not log in with SASL as a cluster (a Postfix sending for one cluster)")
	fs.StringVar(&c.smtpTLSCert, "smtp-tls-cert", "", "PEM certificate for STARTTLS on --smtp (default: a self-signed one)")
	fs.StringVar(&c.smtpTLSKey, "smtp-tls-key", "", "PEM private key of --smtp-tls-cert")
	fs.Float64Var(&c.smtpRate, "smtp-rate", 100, "messages a second each cluster may submit (0: no limit)")
	fs.DurationVar(&c.relayRetry, "relay-retry", relay.DefaultRetry.Base, "first wait before a temporary delivery failure is retried (doubling up to an hour)")
	fs.DurationVar(&c.relayExpire, "relay-expire", relay.DefaultRetry.Expire, "how long a message is retried before it bounces")
	fs.DurationVar(&c.relayLease, "relay-lease", relay.DefaultLease, "how long a node's claim on a message it is delivering lasts; after a crash, others retry it then")
	fs.StringVar(&c.data, "data", "./waymark-data", "data directory for the embedded SQLite database")
	fs.StringVar(&c.db, "db", "", "postgres://… to use PostgreSQL instead of SQLite")
	fs.StringVar(&c.roles, "roles", strings.Join(allRoles, ","), "roles to run: "+strings.Join(allRoles, ","))
	fs.StringVar(&c.adminKey, "admin-key", "", "admin API key to use (default: generated and printed on first start)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.secretKeyFile, "secret-key-file", "", "key that seals private keys at rest (default: <data>/secret.key, made on first start)")
	fs.DurationVar(&c.dkimRotation, "dkim-rotation", dkim.DefaultRotation.Period, "how long one DKIM key signs before the next takes over")
	fs.BoolVar(&c.webhookPrivate, "webhook-allow-private", false, "let webhooks reach loopback and private addresses")
	fs.BoolVar(&c.deliveryPrivate, "delivery-allow-private", false, "let clusters' own delivery servers be on loopback and private addresses (--delivery always may)")
	fs.DurationVar(&c.recheck, "recheck-interval", monitor.DefaultPolicy.Interval, "how often active domains are re-checked")
	return fs
}

// serve runs `waymark serve` until SIGINT or SIGTERM.
func serve(args []string, env cli.Env) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopSignals = stop
	if err := runServe(ctx, args, env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(env.Stderr, "waymark serve: %v\n", err)
		return 1
	}
	return 0
}

// stopSignals restores the default signal handling once shutdown begins.
var stopSignals = func() {}

func runServe(ctx context.Context, args []string, env cli.Env) error {
	start := time.Now()
	var c serveConfig
	fs := serveFlags(&c)
	fs.SetOutput(env.Stderr)
	pos, err := cli.Parse(fs, args, env.Getenv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	roles, err := parseRoles(c.roles)
	if err != nil {
		return err
	}
	platform, err := domain.Normalize(c.platformDomain)
	if err != nil {
		return fmt.Errorf("--platform-domain: %v", err)
	}
	if c.resolver == "" {
		c.resolver = systemResolver("/etc/resolv.conf")
	}
	if _, _, err := net.SplitHostPort(c.resolver); err != nil {
		return fmt.Errorf("--resolver %q must be host:port, e.g. 127.0.0.1:53", c.resolver)
	}
	if c.recheck < time.Minute {
		return fmt.Errorf("--recheck-interval %s is shorter than a minute", c.recheck)
	}
	if c.secretKeyFile == "" {
		c.secretKeyFile = filepath.Join(c.data, "secret.key")
	}
	if c.dkimRotation < 4*dkim.DefaultRotation.PrePublish {
		return fmt.Errorf("--dkim-rotation %s is too short: keys are published %s before they sign", c.dkimRotation, dkim.DefaultRotation.PrePublish)
	}
	edgeIPs, err := parseIPs(c.edgeIPs)
	if err != nil {
		return err
	}

	st, where, err := openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	box, boxCreated, err := secret.Load(c.secretKeyFile)
	if err != nil {
		return err
	}
	if boxCreated {
		log.Info("made a new secret key file for private keys at rest; back it up with the database", "path", c.secretKeyFile)
	}
	switch canary, _, err := st.Blob(ctx, secret.CanaryBlob); {
	case errors.Is(err, store.ErrNotFound):
		if err := st.PutBlob(ctx, secret.CanaryBlob, box.Canary(), time.Now()); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := box.CheckCanary(canary); err != nil {
			return fmt.Errorf("%s: %w", c.secretKeyFile, err)
		}
	}
	rotation := dkim.Rotation{Period: c.dkimRotation, PrePublish: dkim.DefaultRotation.PrePublish}
	mon := &monitor.Monitor{
		Store:    st,
		Platform: platform,
		Box:      box,
		Rotation: rotation,
		Checker:  &verify.Verifier{Resolver: &verify.DNSResolver{Addr: c.resolver}, Platform: platform},
		Policy:   monitor.Policy{Interval: c.recheck, PendingWindow: monitor.DefaultPolicy.PendingWindow, TransientRetry: monitor.DefaultPolicy.TransientRetry},
		Log:      log,
		// Events go to the cluster's webhooks through the store's queue.
		Notify: func(ctx context.Context, n monitor.Notification) {
			cluster := n.Domain.ClusterID
			data := map[string]any{"tracking_domain": api.TrackingDomainOf(n.Domain), "diagnosis": n.Diagnosis}
			if n.Sending != nil {
				cluster = n.Sending.ClusterID
				data = map[string]any{"sending_domain": map[string]any{"id": n.Sending.ID, "name": n.Sending.Name,
					"status": n.Sending.Status, "failed_checks": n.Sending.FailedChecks}, "diagnosis": n.Diagnosis}
			}
			if err := webhook.Enqueue(ctx, st, cluster, string(n.Event), data, n.At); err != nil {
				log.Error("queueing a webhook event", "event", n.Event, "err", err)
			}
		},
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "waymark"}))
	var servers []*http.Server
	var lines [][2]string
	lines = append(lines, [2]string{"store", where})
	errc := make(chan error, 4)
	var afterShutdown []func()
	// One loop follows the store's serial for this node's DNS and edge; the
	// API pokes it after its own changes so they apply at once.
	var reloaders []func(ctx context.Context, serial int64) error
	poke := make(chan struct{}, 1)
	zoneChanged := func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	if slices.Contains(roles, "dns") {
		zc := dnsserver.Config{Platform: platform, EdgeIPs: edgeIPs}
		dnsSrv := dnsserver.NewServer(dnsserver.Build(zc, 0, nil, nil), log, reg)
		addr, err := dnsSrv.Listen(ctx, c.dns)
		if err != nil {
			return fmt.Errorf("--dns: %w", err)
		}
		src := sending.ZoneSource{Store: st, Config: sending.ZoneConfig{Platform: platform, SendingIPs: edgeIPs, MXIPs: edgeIPs}}
		reloaders = append(reloaders, func(ctx context.Context, serial int64) error { return dnsSrv.Reload(ctx, src, zc, serial) })
		lines = append(lines, [2]string{"dns", addr.String() + " udp+tcp, zone " + platform + ", edge " + joinIPs(edgeIPs)})
	}
	keys := edge.NewKeys(st)
	hooks := eventHooks(ctx, st, log)
	if c.delivery != "" {
		if c.delivery, err = api.ParseDeliveryURL(c.delivery); err != nil {
			return fmt.Errorf("--delivery: %v", err)
		}
	}
	rl := &relay.Relay{Store: st, Hostname: "mx." + platform, Log: log, Events: hooks, Lease: c.relayLease, AllowPrivate: c.deliveryPrivate,
		Retry:    relay.RetryPolicy{Base: c.relayRetry, Max: max(c.relayRetry, time.Hour), Expire: c.relayExpire},
		Composer: &relay.Composer{Store: st, Tokens: keys, Box: box, Platform: platform, DefaultServer: c.delivery}}
	if slices.Contains(roles, "edge") {
		hosts := &edge.Hosts{}
		if err := hosts.Reload(ctx, st); err != nil {
			return err
		}
		// The recorder outlives the signal: it commits what the HTTP servers
		// are still answering while they drain, and stops after them.
		recCtx, stopRecorder := context.WithCancel(context.WithoutCancel(ctx))
		afterShutdown = append(afterShutdown, stopRecorder)
		rec := edge.NewRecorder(recCtx, st, log, reg)
		rec.AfterCommit = hooks
		forward := func(ctx context.Context, cluster, message, recipient, friend string) error {
			_, err := rl.Forward(ctx, cluster, message, recipient, friend)
			var ref *relay.Refusal
			switch {
			case errors.As(err, &ref) && ref.Code == "forward_limit":
				return edge.ErrForwardLimit
			case errors.As(err, &ref):
				return &edge.ForwardRefusal{Reason: ref.Message}
			}
			return err
		}
		var h http.Handler = edge.New(edge.Options{Platform: platform, Hosts: hosts, Keys: keys.Lookup, Recorder: rec, Store: st, Log: log,
			Forward: forward}, reg)
		httpLn, err := net.Listen("tcp", c.edgeHTTP)
		if err != nil {
			return fmt.Errorf("--edge-http %s: %w", c.edgeHTTP, err)
		}
		edgeLine := "http://" + httpLn.Addr().String()
		var tlsLn net.Listener
		var certs *autotls.Manager
		if c.acmeDirectory == "" {
			edgeLine += " (no HTTPS: set --acme-directory to get certificates)"
		} else {
			if tlsLn, err = net.Listen("tcp", c.edgeHTTPS); err != nil {
				return fmt.Errorf("--edge-https %s: %w", c.edgeHTTPS, err)
			}
			certs, err = autotls.New(autotls.Options{Store: st, Hosts: hosts, Directory: c.acmeDirectory, Email: c.acmeEmail,
				CARoot: c.acmeCARoot, HTTPPort: portOf(httpLn.Addr()), TLSPort: portOf(tlsLn.Addr()), Log: log,
				Challenges: strings.Split(strings.ReplaceAll(c.acmeChallenges, " ", ""), ","), Always: []string{"t." + platform}})
			if err != nil {
				return err
			}
			h = certs.HTTPHandler(h)
		}
		reloaders = append(reloaders, func(ctx context.Context, _ int64) error {
			if err := hosts.Reload(ctx, st); err != nil {
				return err
			}
			if certs != nil {
				certs.Sync(ctx, hosts.Names())
			}
			return nil
		})
		if certs != nil {
			certs.Sync(ctx, hosts.Names())
		}
		newServer := func() *http.Server {
			return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
				WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
		}
		srv := newServer()
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(httpLn) }()
		if certs != nil {
			tlsConfig := certs.TLSConfig()
			srv := newServer()
			srv.TLSConfig = tlsConfig
			servers = append(servers, srv)
			go func() { errc <- srv.Serve(tls.NewListener(tlsLn, tlsConfig)) }()
			edgeLine += ", https://" + tlsLn.Addr().String() + " (ACME " + c.acmeDirectory + ")"
		}
		lines = append(lines, [2]string{"edge", edgeLine})
	}
	if len(reloaders) > 0 {
		go store.Watch(ctx, st, time.Second, poke, func(ctx context.Context, serial int64) error {
			var errs []error
			for _, reload := range reloaders {
				errs = append(errs, reload(ctx, serial))
			}
			return errors.Join(errs...)
		})
	}
	if slices.Contains(roles, "relay") {
		sub := &relay.SMTPServer{Relay: rl, Store: st, Hostname: "mx." + platform, Rate: c.smtpRate, Burst: max(1, int(c.smtpRate)), Log: log}
		if c.smtpTLSCert != "" || c.smtpTLSKey != "" {
			cert, err := tls.LoadX509KeyPair(c.smtpTLSCert, c.smtpTLSKey)
			if err != nil {
				return fmt.Errorf("--smtp-tls-cert/--smtp-tls-key: %w", err)
			}
			sub.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		addr, err := sub.Listen(ctx, c.smtp)
		if err != nil {
			return fmt.Errorf("--smtp %s: %w", c.smtp, err)
		}
		// Deliveries in flight stop with ctx; those cut short are retried
		// after their lease. The store closes only after the workers.
		relayDone := make(chan struct{})
		go func() {
			rl.Run(ctx)
			close(relayDone)
		}()
		afterShutdown = append(afterShutdown, func() { <-relayDone })
		delivery := c.delivery
		if delivery == "" {
			delivery = "per cluster (POST /v1/delivery-servers; no --delivery default)"
		}
		lines = append(lines, [2]string{"smtp", addr.String() + " submission: STARTTLS, AUTH PLAIN <cluster id> <API key>; delivery " + delivery})
		bs := &bounce.Server{Store: st, Hostname: "mx." + platform, Log: log, Events: hooks}
		baddr, err := bs.Listen(ctx, c.bounceSMTP)
		if err != nil {
			return fmt.Errorf("--bounce-smtp %s: %w", c.bounceSMTP, err)
		}
		lines = append(lines, [2]string{"bounces", baddr.String() + " inbound SMTP for the VERP addresses of relayed mail (DSN, ARF)"})
		if c.milterAddr != "" {
			ms := &milter.Server{Composer: rl.Composer, Store: st, Log: log, Cluster: c.milterClust}
			maddr, err := ms.Listen(ctx, c.milterAddr)
			if err != nil {
				return fmt.Errorf("--milter %s: %w", c.milterAddr, err)
			}
			lines = append(lines, [2]string{"milter", maddr.String() + " (Postfix: smtpd_milters = inet:" + maddr.String() + ")"})
		}
	}
	if slices.Contains(roles, "api") {
		ln, err := net.Listen("tcp", c.http)
		if err != nil {
			return fmt.Errorf("--http %s: %w", c.http, err)
		}
		h := api.New(api.Options{Store: st, PlatformDomain: platform, Logger: log, Registry: reg,
			ZoneChanged: zoneChanged, Checker: mon, Tokens: keys, Box: box, Relay: rl,
			Rotation: rotation})
		// The dashboard shares the port: /v1/, /healthz and /metrics are the
		// API's, every other path the dashboard's (which calls the API).
		top := http.NewServeMux()
		top.Handle("/v1/", h)
		top.Handle("/healthz", h)
		top.Handle("/metrics", h)
		top.Handle("/", web.New(h, box, log))
		srv := &http.Server{Handler: top, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(ln) }()
		base := "http://" + ln.Addr().String()
		lines = append(lines,
			[2]string{"dashboard", base + "/  (sign in with an API key)"},
			[2]string{"api", base + "/v1/  (OpenAPI: " + base + "/v1/openapi.json)"},
			[2]string{"health", base + "/healthz, metrics " + base + "/metrics"})
	}
	if slices.Contains(roles, "monitor") {
		go mon.Run(ctx, 15*time.Second)
		hooks := &webhook.Deliverer{Queue: st, AllowPrivate: c.webhookPrivate, Log: log}
		go hooks.Run(ctx, 2*time.Second)
		lines = append(lines, [2]string{"monitor", fmt.Sprintf("active domains every %s, resolver %s", c.recheck, c.resolver)})
	}
	var notBuilt []string
	for _, r := range roles {
		if !slices.Contains(builtRoles, r) {
			notBuilt = append(notBuilt, r)
		}
	}
	if len(notBuilt) > 0 {
		lines = append(lines, [2]string{"not built", strings.Join(notBuilt, ", ") + " (not in this version yet; the flags are accepted)"})
	}
	// The admin key is made only once everything listens: a first start
	// that fails (port taken) must not store a key it never showed.
	adminLine, err := ensureAdminKey(ctx, st, c.adminKey)
	if err != nil {
		return err
	}
	lines = append(lines, [2]string{"platform", platform}, [2]string{"admin key", adminLine})

	out := bufio.NewWriter(env.Stdout)
	fmt.Fprintf(out, "waymark %s ready in %s\n", version, time.Since(start).Round(time.Millisecond))
	for _, l := range lines {
		fmt.Fprintf(out, "  %-10s %s\n", l[0], l[1])
	}
	out.Flush()
	log.Info("serving", "roles", strings.Join(roles, ","), "store", st.Backend(), "resolver", c.resolver)

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	stopSignals() // a second Ctrl-C kills at once
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	for _, f := range afterShutdown {
		f()
	}
	return nil
}

func parseRoles(s string) ([]string, error) {
	var roles []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("--roles: unknown role %q; roles are %s", r, strings.Join(allRoles, ", "))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		return nil, fmt.Errorf("--roles: name at least one of %s", strings.Join(allRoles, ", "))
	}
	return roles, nil
}

// openStore opens PostgreSQL when --db is given, the embedded SQLite
// database in --data otherwise, and says which for the start banner.
func openStore(ctx context.Context, c serveConfig) (store.Store, string, error) {
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if c.db != "" {
		if !strings.HasPrefix(c.db, "postgres://") && !strings.HasPrefix(c.db, "postgresql://") {
			return nil, "", fmt.Errorf("--db must be a postgres:// URL (leave it empty for the embedded SQLite database)")
		}
		st, err := store.OpenPostgres(openCtx, c.db)
		if err != nil {
			return nil, "", err
		}
		return st, "postgres " + redactURL(c.db), nil
	}
	st, err := store.OpenSQLite(openCtx, c.data)
	if err != nil {
		return nil, "", err
	}
	return st, "sqlite " + filepath.Join(c.data, "waymark.db"), nil
}

// redactURL hides the password of a database URL, in the user part or as
// a password= parameter.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// ensureAdminKey stores the hash of --admin-key, or on first start makes a
// key and returns it for printing, once. Several nodes starting together
// agree on one key: the first to store it wins, the others print nothing.
func ensureAdminKey(ctx context.Context, st store.Store, given string) (string, error) {
	if given != "" {
		if !strings.HasPrefix(given, apikey.AdminPrefix) || len(given) < len(apikey.AdminPrefix)+20 {
			return "", fmt.Errorf("--admin-key must start with %s and have at least 20 characters after it (e.g. %s)",
				apikey.AdminPrefix, apikey.New(apikey.AdminPrefix))
		}
		if _, err := st.PutSetting(ctx, api.AdminKeySetting, apikey.Hash(given), true); err != nil {
			return "", err
		}
		return "from --admin-key", nil
	}
	key := apikey.New(apikey.AdminPrefix)
	stored, err := st.PutSetting(ctx, api.AdminKeySetting, apikey.Hash(key), false)
	if err != nil {
		return "", err
	}
	if !stored {
		return "set on first start (shown only then; --admin-key replaces it)", nil
	}
	return key + "  (shown once: keep it; export WAYMARK_KEY=" + key + ")", nil
}

// eventHooks queues webhook deliveries for committed tracking events, off
// the commit path, for the clusters that subscribe to them.
func eventHooks(ctx context.Context, st store.Store, log *slog.Logger) func([]store.Event) {
	subs := webhook.NewSubscriptions(st, 10*time.Second)
	queue := make(chan []store.Event, 1024)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case batch := <-queue:
				for _, e := range batch {
					if !subs.Wants(ctx, e.ClusterID, e.Type) {
						continue
					}
					if err := webhook.Enqueue(ctx, st, e.ClusterID, e.Type, api.EventOf(e), e.At); err != nil {
						log.Error("queueing a webhook event", "event", e.Type, "err", err)
					}
				}
			}
		}
	}()
	// Never block the commit loop (every click waits on it): when the
	// queue is full, the batch's webhooks are dropped, and said so.
	return func(batch []store.Event) {
		select {
		case queue <- batch:
		default:
			log.Error("webhook queue full: event webhooks dropped", "events", len(batch))
		}
	}
}

// portOf is the port of a listen address (a net.Addr or "host:port").
func portOf(addr any) int {
	s := fmt.Sprint(addr)
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// parseIPs reads the --edge-ip addresses; none means 127.0.0.1, right for
// a single machine.
func parseIPs(list []string) ([]netip.Addr, error) {
	if len(list) == 0 {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	var out []netip.Addr
	for _, s := range list {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("--edge-ip %q is not an IP address", s)
		}
		out = append(out, ip.Unmap())
	}
	return out, nil
}

func joinIPs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}

// systemResolver returns the first nameserver of a resolv.conf as host:53.
func systemResolver(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "127.0.0.1:53"
	}
	defer f.Close()
	return firstNameserver(f)
}

func firstNameserver(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if ip := net.ParseIP(strings.SplitN(fields[1], "%", 2)[0]); ip != nil {
				return net.JoinHostPort(fields[1], "53")
			}
		}
	}
	return "127.0.0.1:53"
}
