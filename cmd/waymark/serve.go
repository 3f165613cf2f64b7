package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/cli"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/monitor"
	"github.com/waymark-mail/waymark/internal/realip"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/retention"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
)

// allRoles are the roles of `serve --roles`, in start order.
var allRoles = []string{"api", "edge", "dns", "relay", "monitor"}

// serveConfig holds the flags of `waymark serve` (docs/CONCEPTS.md#serve-flags).
type serveConfig struct {
	http, edgeHTTP, edgeHTTPS, dns, smtp, bounceSMTP string
	resolver, platformDomain                         string
	acmeDirectory, acmeEmail, acmeCARoot, delivery   string
	notifyFrom, abuseContact                         string
	data, db, roles, adminKey, logLevel              string
	logFormat                                        string
	edgeIPs, sendingIPs, spfIncludes, trustedProxies cli.List
	uribls                                           cli.List
	nsIPs                                            cli.List
	uriblAction                                      string
	recheck                                          time.Duration
	webhookPrivate, deliveryPrivate                  bool
	acmeChallenges, secretKeyFile                    string
	dkimRotation                                     time.Duration
	smtpTLSCert, smtpTLSKey, milterAddr, milterClust string
	smtpRate, dnsRate                                float64
	relayRetry, relayExpire, relayLease              time.Duration
	shutdownTimeout                                  time.Duration
	maxSending, maxTracking                          int
	pprof                                            string
	eventRetention, statsRetention                   days

	// Derived by parseServe.
	roleList      []string
	platform      string
	edgeIPList    []netip.Addr
	nsIPList      []netip.Addr
	sendingIPList []netip.Addr
	proxies       realip.Proxies
}

func serveFlags(c *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("waymark serve", flag.ContinueOnError)
	fs.StringVar(&c.http, "http", "127.0.0.1:8080", "API and dashboard listen address")
	fs.StringVar(&c.edgeHTTP, "edge-http", ":8081", "edge HTTP listen address (tracking links, ACME HTTP-01)")
	fs.StringVar(&c.edgeHTTPS, "edge-https", ":8443", "edge HTTPS listen address")
	fs.StringVar(&c.dns, "dns", ":5353", "authoritative DNS listen address (UDP and TCP)")
	fs.Float64Var(&c.dnsRate, "dns-rate-limit", 100, "identical DNS answers a second to one client netblock over UDP (response rate limiting; 0: none)")
	fs.StringVar(&c.smtp, "smtp", ":2525", "SMTP submission listen address")
	fs.StringVar(&c.bounceSMTP, "bounce-smtp", ":2526", "inbound SMTP for bounce hosts")
	fs.StringVar(&c.resolver, "resolver", "", "DNS resolver host:port for verification (default: first nameserver in /etc/resolv.conf)")
	fs.Var(&c.edgeIPs, "edge-ip", "edge address answered for verification targets (repeatable)")
	fs.Var(&c.nsIPs, "ns-ip", "address of the nodes running --dns, answered for ns1.<platform> and to publish as its glue (repeatable; default the --edge-ip addresses)")
	fs.Var(&c.sendingIPs, "sending-ip", "address mail leaves from, listed in spf.<platform-domain> (repeatable; default on .localhost: the edge addresses)")
	fs.Var(&c.spfIncludes, "spf-include", "the operator's own SPF name spf.<platform-domain> includes, e.g. _spf.operator.net (repeatable)")
	fs.StringVar(&c.platformDomain, "platform-domain", "waymark.localhost", "DNS zone delegated to waymark")
	fs.StringVar(&c.acmeDirectory, "acme-directory", "", "ACME directory URL")
	fs.StringVar(&c.acmeEmail, "acme-email", "", "ACME account email")
	fs.StringVar(&c.acmeCARoot, "acme-ca-root", "", "PEM file of a CA to trust for the ACME server")
	fs.StringVar(&c.acmeChallenges, "acme-challenges", "http-01,tls-alpn-01", "ACME challenge types to use")
	fs.StringVar(&c.delivery, "delivery", "", "default delivery server, smtp://host:port")
	fs.Var(&c.uribls, "uribl", "URI blocklist zone the destinations of links are looked up in through --resolver, e.g. dbl.spamhaus.org (repeatable)")
	fs.StringVar(&c.uriblAction, "uribl-action", "refuse", "a message with a link to a listed domain: refuse it (550 5.7.1, 422), or untrack the link (leave it as it is)")
	fs.StringVar(&c.abuseContact, "abuse-contact", "", "where to report abuse, an email address or an https URL: on every tracking host's front page and security.txt")
	fs.StringVar(&c.notifyFrom, "notify-from", "", "address the clusters' email notices come from (they go through the queue to --delivery); empty: no email notices")
	fs.StringVar(&c.milterAddr, "milter", "", "milter listen address (host:port) for Postfix's smtpd_milters; empty: no milter")
	fs.StringVar(&c.milterClust, "milter-cluster", "", "cluster id that owns milter mail whose client did not log in with SASL as a cluster (a Postfix sending for one cluster)")
	fs.StringVar(&c.smtpTLSCert, "smtp-tls-cert", "", "PEM certificate for STARTTLS on --smtp (default: a self-signed one)")
	fs.StringVar(&c.smtpTLSKey, "smtp-tls-key", "", "PEM private key of --smtp-tls-cert")
	fs.Float64Var(&c.smtpRate, "smtp-rate", 100, "messages a second each cluster may submit (0: no limit)")
	fs.DurationVar(&c.relayRetry, "relay-retry", relay.DefaultRetry.Base, "first wait before a temporary delivery failure is retried (doubling up to an hour)")
	fs.DurationVar(&c.relayExpire, "relay-expire", relay.DefaultRetry.Expire, "how long a message is retried before it bounces")
	fs.DurationVar(&c.relayLease, "relay-lease", relay.DefaultLease, "how long a node's claim on a message it is delivering lasts; after a crash, others retry it then")
	fs.IntVar(&c.maxSending, "max-sending-domains", api.DefaultMaxSendingDomains, "sending domains a cluster may have")
	fs.IntVar(&c.maxTracking, "max-tracking-domains", api.DefaultMaxTrackingDomains, "tracking domains a cluster may have (click hosts included)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", relay.DefaultShutdownTimeout, "on SIGTERM or SIGINT, how long SMTP sessions and deliveries in flight may finish")
	fs.StringVar(&c.data, "data", "./waymark-data", "data directory for the embedded SQLite database")
	fs.StringVar(&c.db, "db", "", "postgres://… to use PostgreSQL instead of SQLite")
	fs.StringVar(&c.roles, "roles", strings.Join(allRoles, ","), "roles to run: "+strings.Join(allRoles, ","))
	fs.StringVar(&c.adminKey, "admin-key", "", "admin API key to use (default: generated and printed on first start)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log lines as text (key=value) or json (one object a line)")
	fs.StringVar(&c.secretKeyFile, "secret-key-file", "", "key that seals private keys at rest (default: <data>/secret.key, made on first start)")
	fs.DurationVar(&c.dkimRotation, "dkim-rotation", dkim.DefaultRotation.Period, "how long one DKIM key signs before the next takes over")
	fs.Var(&c.trustedProxies, "trusted-proxy", "address or CIDR of your own reverse proxy or load balancer in front of the API, dashboard or edge: its X-Forwarded-For names the client (repeatable)")
	fs.BoolVar(&c.webhookPrivate, "webhook-allow-private", false, "let webhooks reach loopback and private addresses")
	fs.BoolVar(&c.deliveryPrivate, "delivery-allow-private", false, "let clusters' own delivery servers be on loopback and private addresses (--delivery always may)")
	c.eventRetention, c.statsRetention = days(retention.DefaultEvents), days(retention.DefaultStats)
	fs.Var(&c.statsRetention, "stats-retention", "how long the rollups of GET /v1/stats are kept: a `DURATION` such as 730d (0: for ever)")
	fs.Var(&c.eventRetention, "event-retention", "how long raw events are kept: a `DURATION` such as 90d or 36h (0: for ever); older ones are removed every hour")
	fs.StringVar(&c.pprof, "pprof", "", "listen address of Go's profiler (net/http/pprof), e.g. 127.0.0.1:6060; empty: off. Never expose it")
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
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(env.Stderr, "waymark serve: %s; see waymark serve --help\n", cli.FlagError(ue.err))
			return 2
		}
		fmt.Fprintf(env.Stderr, "waymark serve: %v\n", err)
		return 1
	}
	return 0
}

// stopSignals restores the default signal handling once shutdown begins.
var stopSignals = func() {}

func runServe(ctx context.Context, args []string, env cli.Env) (err error) {
	start := time.Now()
	c, err := parseServe(args, env)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	var handler slog.Handler = slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})
	switch c.logFormat {
	case "text":
	case "json":
		handler = slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level})
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	log := slog.New(handler)

	// A start that fails leaves nothing behind: what this start made (the
	// data directory, the key file) goes again, and the roles that were
	// starting stop before the store could fail under them.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var made []string
	if c.db == "" && !exists(c.data) {
		made = append(made, c.data)
	}
	st, where, err := openStore(ctx, c)
	if err != nil {
		removeAll(made)
		return err
	}
	// One process per SQLite database: its named locks (the monitor's,
	// retention's) hold within a process only.
	if c.db == "" {
		lock, err := lockData(c.data)
		if err != nil {
			st.Close()
			removeAll(made)
			return err
		}
		defer lock.Close() // held until serve returns
	}
	var n *node
	defer func() {
		if err != nil {
			cancel()
			if n != nil {
				n.abort() // what the started roles still write in the data directory
			}
			removeAll(made)
			return // the process ends now; closing would fail the roles' last reads
		}
		st.Close()
	}()
	box, save, err := secret.Open(c.secretKeyFile)
	if err != nil {
		return err
	}
	if err := secret.CheckCanary(ctx, st, box, save); err != nil {
		return fmt.Errorf("%s: %w", c.secretKeyFile, err)
	}
	if save != nil {
		made = append(made, c.secretKeyFile)
		log.Info("made a new secret key file for private keys at rest; back it up with the database", "path", c.secretKeyFile)
	}
	// Secrets stored before they were sealed at rest are sealed now.
	if n, err := secret.SealStored(ctx, st, box); err != nil {
		return fmt.Errorf("sealing stored secrets: %w", err)
	} else if n > 0 {
		log.Info("sealed secrets stored before they were sealed at rest", "secrets", n)
	}
	// The platform domain is the database's, like its keys: a node with
	// another would answer REFUSED for every customer's target.
	if pinned, err := store.Pin(ctx, st, store.PlatformDomainSetting, c.platform); err != nil {
		return err
	} else if pinned != c.platform {
		return fmt.Errorf("--platform-domain is %s, but this database serves %s: start with --platform-domain %s (or another database)", c.platform, pinned, pinned)
	}
	n = newNode(ctx, c, st, box, log)
	n.line("store", where)
	if c.pprof != "" {
		addr, err := startPprof(ctx, c.pprof)
		if err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
		n.line("pprof", "http://"+addr+"/debug/pprof/")
	}
	for _, role := range []struct {
		name  string
		start func(context.Context) error
	}{
		{"dns", n.startDNS}, {"edge", n.startEdge}, {"relay", n.startRelay}, {"api", n.startAPI}, {"monitor", n.startMonitor},
	} {
		if slices.Contains(c.roleList, role.name) {
			if err := role.start(ctx); err != nil {
				return err
			}
		}
	}
	n.watchZone(ctx)
	// The admin key is made only once everything listens: a first start
	// that fails (port taken) must not store a key it never showed.
	adminLine, err := api.EnsureAdminKey(ctx, st, c.adminKey)
	if err != nil {
		return err
	}
	n.line("platform", c.platform)
	n.line("admin key", adminLine)

	out := bufio.NewWriter(env.Stdout)
	fmt.Fprintf(out, "waymark %s ready in %s\n", strings.TrimPrefix(strings.SplitN(versionString(), "\n", 2)[0], "waymark "), time.Since(start).Round(time.Millisecond))
	for _, l := range n.lines {
		fmt.Fprintf(out, "  %-10s %s\n", l[0], l[1])
	}
	out.Flush()
	made = nil // started: from here on the data is the operator's, whatever fails
	log.Info("serving", "roles", strings.Join(c.roleList, ","), "store", st.Backend(), "resolver", c.resolver)

	select {
	case <-ctx.Done():
	case err := <-n.errc:
		return fmt.Errorf("http server: %w", err)
	}
	stopSignals() // a second Ctrl-C kills at once
	log.Info("shutting down")
	n.shutdown(c.shutdownTimeout)
	return nil
}

// lockData takes <data>/LOCK until the file returned is closed, or says
// that another process has it.
func lockData(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another waymark serve uses the database in %s: one process per SQLite database (several nodes share a PostgreSQL one, --db)", dir)
	}
	return f, nil
}

// days is a duration flag that also takes whole days ("90d").
type days time.Duration

func (d *days) String() string {
	if *d == 0 {
		return "for ever"
	}
	if v := time.Duration(*d); v%(24*time.Hour) == 0 && v > 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return time.Duration(*d).String()
}

func (d *days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is not a number of days such as 90d", s)
		}
		*d = days(time.Duration(v) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is neither days (90d) nor a duration (36h)", s)
	case v < 0:
		return fmt.Errorf("%q is negative: give how long to keep, such as 90d (0: for ever)", s)
	case v > 0 && v < time.Hour:
		return fmt.Errorf("%q is shorter than an hour, the smallest the hourly retention keeps apart (0: for ever)", s)
	}
	*d = days(v)
	return nil
}

// usageError is a flag serve does not know, or a flag's value it cannot
// read: one line and the hint, exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// serveUsage is serve --help: every flag with its WAYMARK_* variable.
func serveUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "usage: waymark serve [flags]\n\nRuns the service: the API and dashboard, the DNS server, the edge, the relay, the bounce and milter servers\n"+
		"and the monitor, on embedded SQLite (--data) or PostgreSQL (--db). Every flag can also be set with the\n"+
		"environment variable shown beside it; a flag on the command line wins.\n\nflags:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		if kind != "" {
			kind = " " + strings.ToUpper(kind)
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\t%s\n", f.Name, kind, cli.EnvName(f.Name), usage)
	})
	tw.Flush()
	fmt.Fprint(w, "\nexamples:\n  waymark serve\n  WAYMARK_DB=postgres://waymark@db/waymark waymark serve --roles api,edge\n"+
		"  waymark serve --platform-domain mail.example.net --edge-ip 192.0.2.10 --sending-ip 192.0.2.20\n")
}

// parseServe reads serve's flags (and WAYMARK_* variables) and checks them.
func parseServe(args []string, env cli.Env) (serveConfig, error) {
	var c serveConfig
	fs := serveFlags(&c)
	fs.SetOutput(io.Discard)
	pos, err := cli.Parse(fs, args, env.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		serveUsage(env.Stdout, fs)
		return c, err
	}
	if err != nil {
		return c, usageError{err}
	}
	if len(pos) > 0 {
		return c, fmt.Errorf("unexpected argument %q", pos[0])
	}
	if c.roleList, err = parseRoles(c.roles); err != nil {
		return c, err
	}
	if c.platform, err = domain.Normalize(c.platformDomain); err != nil {
		return c, fmt.Errorf("--platform-domain: %v", err)
	}
	if c.resolver == "" {
		c.resolver = systemResolver("/etc/resolv.conf")
	}
	if _, _, err := net.SplitHostPort(c.resolver); err != nil {
		return c, fmt.Errorf("--resolver %q must be host:port, e.g. 127.0.0.1:53", c.resolver)
	}
	if c.maxSending < 1 || c.maxTracking < 1 {
		return c, fmt.Errorf("--max-sending-domains and --max-tracking-domains must be at least 1")
	}
	if ev, st := time.Duration(c.eventRetention), time.Duration(c.statsRetention); st > 0 && (ev == 0 || st < ev) {
		return c, fmt.Errorf("--stats-retention %s is shorter than --event-retention %s: the rollups would go before the events they count; "+
			"keep them at least as long (or 0: for ever)", c.statsRetention.String(), c.eventRetention.String())
	}
	if c.recheck < time.Minute {
		return c, fmt.Errorf("--recheck-interval %s is shorter than a minute", c.recheck)
	}
	if c.secretKeyFile == "" {
		c.secretKeyFile = filepath.Join(c.data, "secret.key")
	}
	if c.dkimRotation < 4*dkim.DefaultRotation.PrePublish {
		return c, fmt.Errorf("--dkim-rotation %s is too short: keys are published %s before they sign", c.dkimRotation, dkim.DefaultRotation.PrePublish)
	}
	local := c.platform == "localhost" || strings.HasSuffix(c.platform, ".localhost")
	if !local && len(c.edgeIPs) == 0 {
		return c, fmt.Errorf("--platform-domain %s is not under .localhost: set --edge-ip to the public addresses of the edge (tracking hosts resolve to them)", c.platform)
	}
	if c.edgeIPList, err = parseIPs("--edge-ip", c.edgeIPs); err != nil {
		return c, err
	}
	if len(c.nsIPs) > 0 { // none: the edge's addresses (dnsserver.Config.NSIPs)
		if c.nsIPList, err = parseIPs("--ns-ip", c.nsIPs); err != nil {
			return c, err
		}
	}
	if !local && len(c.sendingIPs) == 0 && len(c.spfIncludes) == 0 {
		return c, fmt.Errorf("--platform-domain %s is not under .localhost: set --sending-ip to the addresses your delivery servers send from, "+
			"or --spf-include to your own SPF name (e.g. _spf.operator.net): spf.%s must list who sends the mail", c.platform, c.platform)
	}
	c.sendingIPList = c.edgeIPList // a single machine: the edge sends too
	if len(c.sendingIPs) > 0 {
		if c.sendingIPList, err = parseIPs("--sending-ip", c.sendingIPs); err != nil {
			return c, err
		}
	} else if len(c.spfIncludes) > 0 {
		c.sendingIPList = nil
	}
	if len(c.spfIncludes) > sending.MaxSPFIncludes {
		return c, fmt.Errorf("--spf-include names %d records; at most %d fit the 10 DNS lookups SPF allows (RFC 7208 section 4.6.4), one of them spent by the bounce hosts' include of spf.%s",
			len(c.spfIncludes), sending.MaxSPFIncludes, c.platform)
	}
	for i, name := range c.spfIncludes {
		n, err := domain.DNSName(name)
		if err != nil {
			return c, fmt.Errorf("--spf-include %q: %v", name, err)
		}
		c.spfIncludes[i] = n
	}
	if c.notifyFrom != "" {
		a, err := mail.ParseAddress(c.notifyFrom)
		if err != nil || strings.ContainsAny(a.Address, " \t\r\n") {
			return c, fmt.Errorf("--notify-from %q is not an email address such as notices@%s", c.notifyFrom, c.platform)
		}
		if c.delivery == "" {
			return c, fmt.Errorf("--notify-from needs --delivery: notices go through the relay's queue to that server")
		}
		c.notifyFrom = a.Address
	}
	if c.uriblAction != "refuse" && c.uriblAction != "untrack" {
		return c, fmt.Errorf("--uribl-action must be refuse or untrack, not %q", c.uriblAction)
	}
	for i, z := range c.uribls {
		n, err := domain.DNSName(z)
		if err != nil {
			return c, fmt.Errorf("--uribl %q: %v", z, err)
		}
		c.uribls[i] = n
	}
	if c.abuseContact != "" {
		u, uerr := url.Parse(c.abuseContact)
		_, merr := mail.ParseAddress(c.abuseContact)
		if (uerr != nil || u.Scheme != "https" || u.Host == "") && (merr != nil || strings.Contains(c.abuseContact, "<")) {
			return c, fmt.Errorf("--abuse-contact %q is neither an email address (abuse@%s) nor an https URL", c.abuseContact, c.platform)
		}
	}
	if c.proxies, err = realip.Parse(c.trustedProxies); err != nil {
		return c, err
	}
	if c.delivery != "" {
		if c.delivery, err = api.ParseDeliveryURL(c.delivery); err != nil {
			return c, fmt.Errorf("--delivery: %v", err)
		}
	}
	return c, nil
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

// parseIPs reads the addresses of a flag; none means 127.0.0.1, right for
// a single machine.
func parseIPs(flag string, list []string) ([]netip.Addr, error) {
	if len(list) == 0 {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	var out []netip.Addr
	for _, s := range list {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("%s %q is not an IP address", flag, s)
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

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// removeAll removes what a failed start made.
func removeAll(paths []string) {
	for _, p := range paths {
		_ = os.RemoveAll(p)
	}
}
