package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/autotls"
	"github.com/waymark-mail/waymark/internal/bounce"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/edge"
	"github.com/waymark-mail/waymark/internal/ingest"
	"github.com/waymark-mail/waymark/internal/journal"
	"github.com/waymark-mail/waymark/internal/milter"
	"github.com/waymark-mail/waymark/internal/monitor"
	"github.com/waymark-mail/waymark/internal/notice"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/retention"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/track"
	"github.com/waymark-mail/waymark/internal/uribl"
	"github.com/waymark-mail/waymark/internal/verify"
	"github.com/waymark-mail/waymark/internal/web"
	"github.com/waymark-mail/waymark/internal/webhook"
)

// node is one `waymark serve`: what its roles share, and what they leave
// to shut down.
type node struct {
	c   serveConfig
	st  store.Store
	box *secret.Box
	log *slog.Logger
	reg *prometheus.Registry

	keys     *track.Keys
	relay    *relay.Relay
	monitor  *monitor.Monitor
	rotation dkim.Rotation
	// notices mails the clusters' notices (nil without --notify-from).
	notices *notice.Mailer
	// links checks links' destinations against the blocklists.
	links *uribl.Checker

	lines [][2]string
	// servers stop accepting and drain, first thing on shutdown.
	servers []func(context.Context) error
	errc    chan error
	// afterShutdown runs once the HTTP servers have drained, in order,
	// until the shutdown's deadline.
	afterShutdown []func(context.Context)
	// aborts stop what the roles started, when a later role fails to
	// start: nothing may still be writing in a data directory removed.
	aborts []func()
	// reloaders follow the store's zone serial for this node's DNS and
	// edge; poke makes them run at once after this node's own changes.
	reloaders []func(ctx context.Context, serial int64) error
	poke      chan struct{}
}

// newNode builds the parts every role may use: the token-key cache, the
// webhook fan-out of events, the relay (the API and the edge's forwards
// queue through it) and the monitor (the API checks through it).
func newNode(ctx context.Context, c serveConfig, st store.Store, box *secret.Box, log *slog.Logger) *node {
	n := &node{c: c, st: st, box: box, log: log, reg: prometheus.NewRegistry(), errc: make(chan error, 4),
		poke: make(chan struct{}, 1), keys: track.NewKeys(st, box)}
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "waymark"}))
	n.rotation = dkim.Rotation{Period: c.dkimRotation, PrePublish: dkim.DefaultRotation.PrePublish}
	n.reg.MustRegister(relay.QueueCollector{Store: st}, webhook.BacklogCollector{Queue: st})
	n.links = uribl.New(c.uribls, &verify.DNSResolver{Addr: c.resolver, Timeout: time.Second, Attempts: 1}, log, n.reg)
	n.reloaders = append(n.reloaders, func(ctx context.Context, _ int64) error {
		list, err := st.BlockedDomains(ctx)
		if err != nil {
			return err
		}
		m := make(map[string]string, len(list))
		for _, d := range list {
			m[d.Domain] = d.Reason
		}
		n.links.SetBlocked(m)
		return nil
	})
	n.relay = &relay.Relay{Store: st, Hostname: "mx." + c.platform, Log: log, Lease: c.relayLease,
		Metrics:      relay.NewMetrics(n.reg),
		AllowPrivate: c.deliveryPrivate,
		Retry:        relay.RetryPolicy{Base: c.relayRetry, Max: max(c.relayRetry, time.Hour), Expire: c.relayExpire},
		Composer: &relay.Composer{Store: st, Tokens: n.keys, Box: box, Platform: c.platform, DefaultServer: c.delivery,
			Links: n.links, UntrackListed: c.uriblAction == "untrack"}}
	notifier := &api.Notifier{Platform: c.platform, Log: log}
	if c.notifyFrom != "" {
		n.notices = &notice.Mailer{Clusters: st, Queue: n.relay, From: c.notifyFrom, Platform: c.platform, Log: log}
		notifier.Mail = n.notices.Send
	}
	n.monitor = &monitor.Monitor{
		Store:    st,
		Platform: c.platform,
		Box:      box,
		Rotation: n.rotation,
		Checker:  &verify.Verifier{Resolver: &verify.DNSResolver{Addr: c.resolver}, Platform: c.platform},
		Policy: monitor.Policy{Interval: c.recheck, PendingWindow: monitor.DefaultPolicy.PendingWindow,
			TransientRetry: monitor.DefaultPolicy.TransientRetry},
		Log:     log,
		Render:  notifier.Body,
		Notify:  notifier.Notify,
		Metrics: monitor.NewMetrics(n.reg),
	}
	return n
}

// certFailed mails the cluster of a tracking domain whose certificate the
// CA would not issue (nil without --notify-from).
func (n *node) certFailed(hosts *edge.Hosts) func(ctx context.Context, name string, err error) {
	if n.notices == nil {
		return nil
	}
	return func(ctx context.Context, name string, err error) {
		cluster := hosts.Cluster(name)
		if cluster == "" {
			return // the platform's own host, or no longer active
		}
		d, lookErr := n.st.TrackingDomainByName(ctx, cluster, name)
		if lookErr != nil {
			n.log.Error("notice: certificate failure of an unknown domain", "name", name, "err", lookErr)
			return
		}
		n.notices.CertFailed(ctx, d, err)
	}
}

// line adds a line to the start banner.
func (n *node) line(name, text string) { n.lines = append(n.lines, [2]string{name, text}) }

// serveHTTP serves srv on ln until shutdown.
func (n *node) serveHTTP(srv *http.Server, ln net.Listener) {
	n.servers = append(n.servers, srv.Shutdown)
	go func() { n.errc <- srv.Serve(ln) }()
}

// edgeJournalDelay holds a journal flush open under load so that more
// clicks share its fdatasync (measured: 18 records a flush without, about
// 30 with 200 µs, for a few percent more clicks a second).
const edgeJournalDelay = 200 * time.Microsecond

// journalFlushes registers waymark_journal_flush_records and returns what
// the journal tells of each flush.
func (n *node) journalFlushes() func(int) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "waymark_journal_flush_records",
		Help:    "Events per write and fdatasync of the edge's journal (group commit).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	})
	n.reg.MustRegister(h)
	return func(records int) { h.Observe(float64(records)) }
}

// zoneChanged makes this node's DNS and edge reload now.
func (n *node) zoneChanged() {
	select {
	case n.poke <- struct{}{}:
	default:
	}
}

// watchZone runs the reloaders whenever the store's zone serial moves.
func (n *node) watchZone(ctx context.Context) {
	if len(n.reloaders) == 0 {
		return
	}
	go store.Watch(ctx, n.st, time.Second, n.poke, func(ctx context.Context, serial int64) error {
		var errs []error
		for _, reload := range n.reloaders {
			errs = append(errs, reload(ctx, serial))
		}
		return errors.Join(errs...)
	})
}

// shutdown drains the HTTP servers, then runs what waits for them (the
// event recorder, SMTP sessions and deliveries in flight), all within
// timeout.
func (n *node) shutdown(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, stop := range n.servers {
		_ = stop(ctx)
	}
	for _, f := range n.afterShutdown {
		f(ctx)
	}
}

// abort runs the aborts, last first.
func (n *node) abort() {
	for i := len(n.aborts) - 1; i >= 0; i-- {
		n.aborts[i]()
	}
}

// waitFor waits for done, or for ctx to end, and says which.
func (n *node) waitFor(ctx context.Context, done <-chan struct{}, what string) {
	select {
	case <-done:
	case <-ctx.Done():
		n.log.Warn("shutdown timeout: not waiting any longer", "for", what)
	}
}

// startDNS runs the authoritative DNS server of the platform zone.
func (n *node) startDNS(ctx context.Context) error {
	c := n.c
	zc := dnsserver.Config{Platform: c.platform, EdgeIPs: c.edgeIPList, NSIPs: c.nsIPList}
	srv := dnsserver.NewServer(dnsserver.Build(zc, 0, nil, nil), n.log, n.reg)
	srv.RateLimit(c.dnsRate, 2) // every second answer over the rate goes out truncated
	addr, err := srv.Listen(ctx, c.dns)
	if err != nil {
		return fmt.Errorf("--dns: %w", err)
	}
	src := sending.ZoneSource{Store: n.st, Config: sending.ZoneConfig{Platform: c.platform, SendingIPs: c.sendingIPList,
		SPFIncludes: c.spfIncludes, MXIPs: c.edgeIPList}}
	// Ready means answering: the zone is loaded before the banner, not
	// a moment after it.
	serial, err := n.st.ZoneSerial(ctx)
	if err == nil {
		err = srv.Reload(ctx, src, zc, serial)
	}
	if err != nil {
		return fmt.Errorf("loading the platform zone: %w", err)
	}
	n.reloaders = append(n.reloaders, func(ctx context.Context, serial int64) error { return srv.Reload(ctx, src, zc, serial) })
	n.line("dns", addr.String()+" udp+tcp, zone "+c.platform+", edge "+joinIPs(c.edgeIPList))
	return nil
}

// startEdge runs the tracking hosts over HTTP and, with --acme-directory,
// HTTPS with certificates over ACME.
func (n *node) startEdge(ctx context.Context) error {
	c := n.c
	hosts := &edge.Hosts{}
	if err := hosts.Reload(ctx, n.st); err != nil {
		return err
	}
	// Each event is appended to this node's journal before its request is
	// answered, and loaded into the store from there; what a killed run
	// left in it is loaded first (docs/ARCHITECTURE.md#events).
	j, err := journal.Open(filepath.Join(c.data, "journal"), journal.Options{Log: n.log, Observe: n.journalFlushes(), Delay: edgeJournalDelay})
	if errors.Is(err, journal.ErrLocked) {
		return fmt.Errorf("another waymark serve uses the data directory %s (its journal is locked): give each node its own --data", c.data)
	}
	if err != nil {
		return fmt.Errorf("the edge's journal: %w", err)
	}
	loader := ingest.NewLoader(j, n.st, n.log, n.reg)
	if pending := loader.Pending(); pending > 0 || j.End() > 0 {
		start := time.Now()
		loaded, err := loader.Drain(ctx)
		if err != nil {
			j.Close()
			return fmt.Errorf("loading the events the last run left in %s: %w", j.Dir(), err)
		}
		if loaded > 0 {
			n.log.Info("journal: loaded the events the last run left", "events", loaded, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	// On shutdown the loader stops with the signal, the HTTP servers
	// drain, then what they recorded is loaded and the journal closes.
	loaded := make(chan struct{})
	go func() {
		loader.Run(ctx)
		close(loaded)
	}()
	n.afterShutdown = append(n.afterShutdown, func(ctx context.Context) {
		n.waitFor(ctx, loaded, "the event loader")
		if _, err := loader.Drain(ctx); err != nil {
			n.log.Warn("journal: events left to load at the next start", "bytes", loader.Pending(), "err", err)
		}
		j.Close()
	})
	n.aborts = append(n.aborts, func() {
		<-loaded // ctx has ended: Run returns after its batch
		j.Close()
	})
	rec := &ingest.Recorder{J: j}
	e := edge.New(edge.Options{Platform: c.platform, Hosts: hosts, Keys: n.keys.Lookup, Recorder: rec,
		Suppressions: n.st, Log: n.log, Forwarder: n.relay, AbuseContact: c.abuseContact, Links: n.links, Viewer: n.relay}, n.reg)
	var h http.Handler = e
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
		certs, err = autotls.New(autotls.Options{Store: n.st, Box: n.box, Hosts: hosts, Directory: c.acmeDirectory, Email: c.acmeEmail,
			CARoot: c.acmeCARoot, HTTPPort: portOf(httpLn.Addr()), TLSPort: portOf(tlsLn.Addr()), Log: n.log,
			Challenges: strings.Split(strings.ReplaceAll(c.acmeChallenges, " ", ""), ","), Always: []string{"t." + c.platform},
			Failed: n.certFailed(hosts)})
		if err != nil {
			return err
		}
		h = certs.HTTPHandler(h)
		n.reg.MustRegister(certs)
	}
	n.reloaders = append(n.reloaders, func(ctx context.Context, _ int64) error {
		if err := hosts.Reload(ctx, n.st); err != nil {
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
	h = c.proxies.Handler(n.log, h)
	fast := e.Fast(h, c.proxies)
	serve := func(ln net.Listener) {
		srv := edge.Server(fast, n.log)
		n.servers = append(n.servers, srv.ShutdownWithContext)
		go func() { n.errc <- srv.Serve(ln) }()
	}
	serve(httpLn)
	if certs != nil {
		// HTTP/1.1 only: the edge's server does not speak HTTP/2.
		tlsConfig := certs.TLSConfig()
		tlsConfig.NextProtos = slices.DeleteFunc(tlsConfig.NextProtos, func(p string) bool { return p == "h2" })
		serve(tls.NewListener(tlsLn, tlsConfig))
		edgeLine += ", https://" + tlsLn.Addr().String() + " (ACME " + c.acmeDirectory + ")"
	}
	if c.abuseContact != "" {
		edgeLine += "; abuse contact " + c.abuseContact
	}
	n.line("edge", edgeLine)
	return nil
}

// startRelay runs SMTP submission, queue delivery, the bounce service and,
// with --milter, the milter.
func (n *node) startRelay(ctx context.Context) error {
	c := n.c
	sub := &relay.SMTPServer{Relay: n.relay, Store: n.st, Hostname: "mx." + c.platform, Metrics: n.relay.Metrics, Rate: c.smtpRate, Burst: max(1, int(c.smtpRate)),
		Log: n.log, ShutdownTimeout: c.shutdownTimeout}
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
	// On shutdown the sessions in flight finish (SMTPServer.Stopped), no
	// delivery starts, those in flight finish and are recorded, and what
	// was claimed but not started goes back to the queue. The store
	// closes only after them.
	relayDone := make(chan struct{})
	go func() {
		n.relay.Run(ctx)
		close(relayDone)
	}()
	n.afterShutdown = append(n.afterShutdown, func(ctx context.Context) {
		n.waitFor(ctx, sub.Stopped(), "smtp sessions")
		n.waitFor(ctx, relayDone, "deliveries")
	})
	delivery := c.delivery
	if delivery == "" {
		delivery = "per cluster (POST /v1/delivery-servers; no --delivery default)"
	}
	n.line("smtp", addr.String()+" submission: STARTTLS, AUTH PLAIN <cluster id> <API key>; delivery "+delivery)
	if len(c.uribls) > 0 {
		n.line("links", "destinations checked against "+strings.Join(c.uribls, ", ")+" and the platform's blocklist; a listed one: "+c.uriblAction)
	}
	bs := &bounce.Server{Store: n.st, Hostname: "mx." + c.platform, Log: n.log, ShutdownTimeout: c.shutdownTimeout,
		Metrics: n.relay.Metrics}
	baddr, err := bs.Listen(ctx, c.bounceSMTP)
	if err != nil {
		return fmt.Errorf("--bounce-smtp %s: %w", c.bounceSMTP, err)
	}
	n.afterShutdown = append(n.afterShutdown, func(ctx context.Context) { n.waitFor(ctx, bs.Stopped(), "bounce smtp sessions") })
	n.line("bounces", baddr.String()+" inbound SMTP for the VERP addresses of relayed mail (DSN, ARF)")
	if c.milterAddr != "" {
		ms := &milter.Server{Composer: n.relay.Composer, Store: n.st, Log: n.log, Cluster: c.milterClust}
		maddr, err := ms.Listen(ctx, c.milterAddr)
		if err != nil {
			return fmt.Errorf("--milter %s: %w", c.milterAddr, err)
		}
		n.line("milter", maddr.String()+" (Postfix: smtpd_milters = inet:"+maddr.String()+")")
	}
	return nil
}

// startAPI runs the REST API and the dashboard on one port: /v1/, /healthz
// and /metrics are the API's, every other path the dashboard's (which
// calls the API in process).
func (n *node) startAPI(context.Context) error {
	c := n.c
	ln, err := net.Listen("tcp", c.http)
	if err != nil {
		return fmt.Errorf("--http %s: %w", c.http, err)
	}
	h := api.New(api.Options{Store: n.st, PlatformDomain: c.platform, Logger: n.log, Registry: n.reg,
		ZoneChanged: n.zoneChanged, Monitor: n.monitor, Tokens: n.keys, Box: n.box, Relay: n.relay, Rotation: n.rotation,
		MaxTrackingDomains: c.maxTracking, MaxSendingDomains: c.maxSending,
		AllowPrivateWebhooks: c.webhookPrivate, AllowPrivateDelivery: c.deliveryPrivate})
	top := http.NewServeMux()
	top.Handle("/v1/", h)
	top.Handle("/healthz", h)
	top.Handle("/metrics", h)
	top.Handle("/", web.New(h, n.box, n.log))
	n.serveHTTP(&http.Server{Handler: c.proxies.Handler(n.log, top), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}, ln)
	base := "http://" + ln.Addr().String()
	n.line("dashboard", base+"/  (sign in with an API key)")
	n.line("api", base+"/v1/  (OpenAPI: "+base+"/v1/openapi.json)")
	n.line("health", base+"/healthz, metrics "+base+"/metrics")
	return nil
}

// startMonitor runs the scheduled checks and key rotations, and the
// webhook deliveries.
func (n *node) startMonitor(ctx context.Context) error {
	go n.monitor.Run(ctx, 15*time.Second)
	// Event webhooks read the stored events from their cursors, so what
	// is stored reaches them whatever crashes; domain notices come from
	// their queue.
	hooks := &webhook.Deliverer{Queue: n.st, Events: n.st, EventData: func(e store.Event) any { return api.EventOf(e) }, Box: n.box, AllowPrivate: n.c.webhookPrivate, Log: n.log, Attempts: webhook.NewAttempts(n.reg)}
	hooksDone := make(chan struct{})
	go func() {
		hooks.Run(ctx, 500*time.Millisecond)
		close(hooksDone)
	}()
	n.afterShutdown = append(n.afterShutdown, func(ctx context.Context) { n.waitFor(ctx, hooksDone, "webhook deliveries") })
	// Raw events past --event-retention go every hour, on one node.
	go retention.New(n.st, time.Duration(n.c.eventRetention), time.Duration(n.c.statsRetention), n.log, n.reg).Run(ctx, time.Hour)
	n.line("monitor", fmt.Sprintf("active domains every %s, resolver %s; events kept %s, rollups %s", n.c.recheck, n.c.resolver,
		n.c.eventRetention.String(), n.c.statsRetention.String()))
	if n.c.notifyFrom != "" {
		n.line("notices", "emailed from "+n.c.notifyFrom+" through "+n.c.delivery+" to each cluster's notify_email")
	}
	return nil
}
