package edge

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/track"
	"github.com/waymark-mail/waymark/internal/uribl"
)

// Hosts is the snapshot of active tracking domains (host -> cluster id)
// and of the clusters that exist.
type Hosts struct {
	m        atomic.Pointer[map[string]string]
	clusters atomic.Pointer[map[string]bool]
	doors    atomic.Pointer[map[string]store.FrontDoor]
}

// HostSource is what Hosts reads: the active tracking domains, their front
// doors and the clusters.
type HostSource interface {
	ActiveHosts(ctx context.Context) (map[string]string, error)
	FrontDoors(ctx context.Context) (map[string]store.FrontDoor, error)
	Clusters(ctx context.Context) ([]store.Cluster, error)
}

// Reload replaces the snapshot from the store (store.Watch calls it).
func (h *Hosts) Reload(ctx context.Context, st HostSource) error {
	m, err := st.ActiveHosts(ctx)
	if err != nil {
		return err
	}
	doors, err := st.FrontDoors(ctx)
	if err != nil {
		return err
	}
	cs, err := st.Clusters(ctx)
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(cs))
	for _, c := range cs {
		known[c.ID] = true
	}
	h.m.Store(&m)
	h.doors.Store(&doors)
	h.clusters.Store(&known)
	return nil
}

// FrontDoor returns what an active host's front door shows.
func (h *Hosts) FrontDoor(host string) (store.FrontDoor, bool) {
	if m := h.doors.Load(); m != nil {
		d, ok := (*m)[host]
		return d, ok
	}
	return store.FrontDoor{}, false
}

// KnownCluster reports whether a cluster existed at the last reload.
func (h *Hosts) KnownCluster(id string) bool {
	if c := h.clusters.Load(); c != nil {
		return (*c)[id]
	}
	return false
}

// Cluster returns the cluster an active host belongs to ("" if none).
func (h *Hosts) Cluster(host string) string {
	if m := h.m.Load(); m != nil {
		return (*m)[host]
	}
	return ""
}

// Names lists the active hosts (those of one cluster only).
func (h *Hosts) Names() []string {
	m := h.m.Load()
	if m == nil {
		return nil
	}
	out := make([]string, 0, len(*m))
	for name, cluster := range *m {
		if cluster != "" {
			out = append(out, name)
		}
	}
	return out
}

// Active reports whether host is an active tracking domain of any cluster:
// the decision the TLS layer needs before asking for a certificate.
func (h *Hosts) Active(host string) bool { return h.Cluster(host) != "" }

// Suppressor puts an address on a cluster's suppression list.
type Suppressor interface {
	Suppress(ctx context.Context, clusterID, address string, reason event.Reason, source string, now time.Time) error
}

// EventRecorder makes an event durable, returning once it is.
type EventRecorder interface {
	Record(ctx context.Context, e store.Event) error
}

// Options configures an Edge.
type Options struct {
	// Platform is the platform domain; t.<Platform> serves every cluster.
	Platform string
	Hosts    *Hosts
	Keys     track.KeyFunc
	// Recorder makes each event durable before its request is answered
	// (ingest.Recorder: the node's journal).
	Recorder EventRecorder
	// Suppressions takes one-click unsubscribes.
	Suppressions Suppressor
	Log          *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Forwarder sends the message a recipient got on to a friend (the
	// relay, which also counts forwards); nil: the form says forwarding
	// is not available. relay.ErrForwardLimit answers 429; the text of
	// another relay.Refusal is shown to the visitor.
	Forwarder Forwarder
	// AbuseContact is where to report abuse (--abuse-contact): an email
	// address or a URL, shown on the front doors and in security.txt.
	AbuseContact string
	// Links, if set, refuses clicks on destinations listed on the
	// blocklists since the mail was sent.
	Links *uribl.Checker
	// Viewer renders a message's web version (the relay); nil: /v/ links
	// say it is not available.
	Viewer Viewer
}

// Viewer renders the web version of the message one recipient got.
type Viewer interface {
	View(ctx context.Context, clusterID, messageID, recipient string) ([]byte, error)
}

// Forwarder sends a message one recipient got on to a friend.
type Forwarder interface {
	Forward(ctx context.Context, clusterID, messageID, recipient, friend string) (relay.Result, error)
}

// Edge is the HTTP handler of the tracking hosts.
type Edge struct {
	Options
	honeypots honeypotLog
	requests  *prometheus.CounterVec
}

// New returns an edge handler; metrics go to reg when it is not nil.
func New(o Options, reg prometheus.Registerer) *Edge {
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Edge{Options: o, honeypots: honeypotLog{hits: map[string]time.Time{}}}
	e.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waymark_edge_requests_total",
		Help: "Tracking requests by kind and outcome.",
	}, []string{"kind", "outcome"})
	if reg != nil {
		reg.MustRegister(e.requests)
	}
	return e
}

// honeypotWindow is how long after a honeypot hit the recipient's clicks
// count as a scanner's.
const honeypotWindow = 10 * time.Minute

// honeypotLog remembers recent honeypot hits per cluster and recipient.
type honeypotLog struct {
	mu   sync.Mutex
	hits map[string]time.Time
}

// maxHoneypots bounds the log; past it, hits evict arbitrary entries
// (Go's map order), a few per hit, so a scanner burst costs O(1) per hit.
const maxHoneypots = 100_000

func (l *honeypotLog) hit(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.hits) >= maxHoneypots {
		n := 0
		for k := range l.hits {
			delete(l.hits, k)
			if n++; n == 4 {
				break
			}
		}
	}
	l.hits[key] = at
}

func (l *honeypotLog) recent(key string, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.hits[key]
	return ok && at.Sub(t) < honeypotWindow
}

// frontPaths are the front door's paths and their outcome labels.
// Metric labels are always constants of the code, never a request's own
// strings: behind fasthttp those alias buffers it reuses (edge/fast.go).
var frontPaths = map[string]string{"/": "", "/robots.txt": "robots.txt", "/.well-known/security.txt": ".well-known/security.txt"}

// pathKinds maps the first path segment to the token kinds it answers.
var pathKinds = map[string][]track.Kind{
	"c": {track.Click, track.Honeypot},
	"o": {track.Open},
	"u": {track.Unsubscribe},
	"f": {track.Forward},
	"v": {track.View},
}

// segNames are pathKinds' keys as constants of the code.
var segNames = map[string]string{"c": "c", "o": "o", "u": "u", "f": "f", "v": "v"}

// clickHeaders and pixelHeaders go with a click's answer and with the
// pixel, on the fast path and in ServeHTTP alike.
var (
	clickHeaders = [][2]string{{"Cache-Control", "no-store"}, {"Referrer-Policy", "no-referrer"}}
	pixelHeaders = [][2]string{{"Content-Type", "image/gif"}, {"Cache-Control", "no-store, no-cache, must-revalidate, max-age=0"},
		{"Pragma", "no-cache"}, {"Expires", "0"}}
)

// gif is the 1x1 transparent pixel.
var gif = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func hostOf(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

func (e *Edge) notFound(w http.ResponseWriter, kind, why string) {
	e.requests.WithLabelValues(kind, why).Inc()
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "404 page not found", http.StatusNotFound)
}

// token reads the tracking link at path on host: its first segment and
// token, or why it is a 404 (no_route, unknown_host, bad_token,
// wrong_kind, wrong_host). The key is looked up only for a cluster this host may
// serve, so a forged token naming random clusters costs no database read.
func (e *Edge) token(host, path string) (seg string, tok track.Token, why string) {
	seg, tokStr, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	kinds, known := pathKinds[seg]
	if !ok || !known || tokStr == "" || strings.Contains(tokStr, "/") {
		return "", tok, "no_route"
	}
	seg = segNames[seg] // the constant: seg is a label of metrics
	platformHost := host == "t."+e.Platform
	hostCluster := "" // whose tracking domain host is, read once for the checks below
	if !platformHost {
		if hostCluster = e.Hosts.Cluster(host); hostCluster == "" {
			// No tracking domain of any cluster (a CNAME to the edge that
			// was never added, or not verified yet), as the front door
			// counts it.
			return seg, tok, "unknown_host"
		}
	}
	tok, err := track.Decode(tokStr, func(cluster string, keyID uint32) (*track.Key, bool) {
		if platformHost && !e.Hosts.KnownCluster(cluster) || !platformHost && hostCluster != cluster {
			return nil, false
		}
		return e.Keys(cluster, keyID)
	})
	if err != nil {
		return seg, tok, "bad_token"
	}
	kindOK := false
	for _, k := range kinds {
		kindOK = kindOK || tok.Kind == k
	}
	if !kindOK {
		return seg, tok, "wrong_kind"
	}
	// The host must be the platform host or an active tracking domain of
	// the token's own cluster: a token is a 404 anywhere else.
	if !platformHost && hostCluster != tok.ClusterID {
		return seg, tok, "wrong_host"
	}
	return seg, tok, ""
}

// ServeHTTP implements http.Handler.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostOf(r)
	// Host and SNI must agree (RFC 9110 section 7.4: 421 Misdirected).
	if r.TLS != nil && r.TLS.ServerName != "" && !strings.EqualFold(r.TLS.ServerName, host) {
		e.requests.WithLabelValues("", "misdirected").Inc()
		http.Error(w, "421 misdirected request: Host does not match the TLS server name", http.StatusMisdirectedRequest)
		return
	}
	switch r.URL.Path {
	case "/", "/robots.txt", "/.well-known/security.txt":
		e.frontDoor(w, r, host)
		return
	}
	seg, tok, why := e.token(host, r.URL.Path)
	if why != "" {
		e.notFound(w, seg, why)
		return
	}
	// Only unsubscribe and forward take a POST (RFC 9110 section 15.5.6:
	// Allow lists what this resource takes).
	posts := tok.Kind == track.Unsubscribe || tok.Kind == track.Forward
	switch {
	case r.Method == http.MethodGet, r.Method == http.MethodHead, r.Method == http.MethodPost && posts:
	default:
		allow := "GET, HEAD"
		if posts {
			allow += ", POST"
		}
		w.Header().Set("Allow", allow)
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	head := r.Method == http.MethodHead // HEAD never counts
	outcome := "ok"
	switch tok.Kind {
	case track.Click, track.Honeypot:
		if !head && !e.record(w, r, tok, host, event.Click) {
			return
		}
		for _, kv := range clickHeaders {
			w.Header().Set(kv[0], kv[1])
		}
		if tok.Kind == track.Honeypot {
			e.requests.WithLabelValues(seg, "honeypot").Inc()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// A destination listed since the mail was sent is not redirected
		// to: from the checker's memory only (an unknown one is looked up
		// in the background, for the next click).
		if l := e.Links.Cached(tok.URL); l != nil {
			e.Log.Info("edge: a click on a listed destination refused", "cluster", tok.ClusterID, "listing", l.String())
			e.pageStatus(w, http.StatusForbidden, "blocked", map[string]any{"Title": "Link blocked", "Listing": l.String()})
			e.requests.WithLabelValues(seg, "blocked").Inc()
			return
		}
		http.Redirect(w, r, tok.URL, http.StatusFound)
	case track.Open:
		if !head && !e.record(w, r, tok, host, event.Open) {
			return
		}
		for _, kv := range pixelHeaders {
			w.Header().Set(kv[0], kv[1])
		}
		w.Write(gif)
	case track.Unsubscribe:
		outcome = e.unsubscribe(w, r, tok, host)
	case track.Forward:
		outcome = e.forward(w, r, tok, host)
	case track.View:
		outcome = e.view(w, r, tok, host, head)
	}
	if outcome != "" {
		e.requests.WithLabelValues(seg, outcome).Inc()
	}
}

// clientIP is the peer address: behind the operator's own proxies
// (--trusted-proxy), realip has already put the client's there; the edge
// itself never reads X-Forwarded-For.
func clientIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// record classifies and commits the event, answering 503 if it cannot be
// stored: a request is answered only once its event is safe.
func (e *Edge) record(w http.ResponseWriter, r *http.Request, tok track.Token, host string, typ event.Type) bool {
	if err := e.Recorder.Record(r.Context(), e.event(tok, host, typ, clientIP(r), r.UserAgent())); err != nil {
		e.storeError(typ, tok.Kind, err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "503 service unavailable", http.StatusServiceUnavailable)
		return false
	}
	return true
}

func (e *Edge) storeError(typ event.Type, kind track.Kind, err error) {
	e.Log.Error("event not stored; answering 503", "type", typ, "err", err)
	e.requests.WithLabelValues(string(kind), "store_error").Inc()
}

// event is the event of a request for tok on host, classified.
func (e *Edge) event(tok track.Token, host string, typ event.Type, ip, ua string) store.Event {
	now := e.Now().UTC()
	key := tok.ClusterID + "\x00" + strings.ToLower(tok.Recipient)
	if tok.Kind == track.Honeypot {
		e.honeypots.hit(key, now)
	}
	class, reason := Classify(Request{Kind: tok.Kind, UserAgent: ua, Issued: tok.Issued, At: now,
		HoneypotHit: tok.Kind == track.Click && e.honeypots.recent(key, now)})
	return store.Event{ClusterID: tok.ClusterID, Type: typ, At: now,
		MessageID: store.Text(tok.MessageID, 128), Recipient: store.Text(tok.Recipient, 320), URL: store.Text(tok.URL, 4096), Host: store.Text(host, 253),
		ClientIP: ip, UserAgent: store.Text(ua, 512), Class: class, Reason: store.Text(reason, 200)}
}

// frontDoor answers the paths of a tracking host that are not links (see
// docs/CONCEPTS.md#front-door): / redirects to the domain's home URL or
// shows who sends mail with links on it and where to report abuse;
// robots.txt keeps crawlers off every link (RFC 9309); security.txt
// names the abuse contact (RFC 9116). Only active hosts and the platform
// host answer: anything else is a 404, as it is for links.
func (e *Edge) frontDoor(w http.ResponseWriter, r *http.Request, host string) {
	platform := host == "t."+e.Platform
	door, ok := e.Hosts.FrontDoor(host)
	if !platform && (!ok || e.Hosts.Cluster(host) == "") {
		e.notFound(w, "front", "unknown_host")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	e.requests.WithLabelValues("front", frontPaths[r.URL.Path]).Inc()
	w.Header().Set("Cache-Control", "public, max-age=300")
	switch r.URL.Path {
	case "/robots.txt":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "User-agent: *\nDisallow: /\n")
	case "/.well-known/security.txt":
		if e.AbuseContact == "" {
			e.notFound(w, "front", "no_security_txt")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		// Expires is required and at most a year away (RFC 9116 §2.5.5).
		fmt.Fprintf(w, "Contact: %s\nExpires: %s\nPreferred-Languages: en\n", contactURI(e.AbuseContact),
			e.Now().UTC().Truncate(24*time.Hour).AddDate(0, 6, 0).Format(time.RFC3339))
	default:
		if door.HomeURL != "" {
			http.Redirect(w, r, door.HomeURL, http.StatusFound)
			return
		}
		title := "Tracking links of " + host
		if platform {
			title = "The shared tracking host of " + e.Platform
		}
		e.render(w, http.StatusOK, "public, max-age=300", "front", map[string]any{"Title": title, "Host": host, "Shared": platform,
			"Platform": e.Platform, "Door": door, "Abuse": e.AbuseContact, "AbuseURI": template.URL(contactURI(e.AbuseContact))})
	}
}

// contactURI is an abuse contact as a URI: an email address becomes a
// mailto: URI; a URL stays.
func contactURI(c string) string {
	if c != "" && !strings.Contains(c, "://") && strings.Contains(c, "@") && !strings.HasPrefix(c, "mailto:") {
		return "mailto:" + c
	}
	return c
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}button{font:inherit;padding:.5rem 1rem;border:1px solid #1a1a1a;border-radius:4px;background:#1a1a1a;color:#fff}</style></head><body>{{end}}
{{define "front"}}{{template "head" .}}<h1>{{.Title}}</h1>{{if .Shared}}<p>This host carries the tracking links in email sent through {{.Platform}} by senders who have no tracking domain of their own.</p>{{else}}<p>This host carries the links in email sent by <strong>{{.Door.Cluster}}</strong>{{with .Door.SendingDomains}} from {{range $i, $d := .}}{{if $i}}, {{end}}<strong>{{$d}}</strong>{{end}}{{end}}: a link takes you on to its destination once your visit is counted.</p>{{end}}<p>{{if .Abuse}}If you received unwanted email with links on this host, report it to <a href="{{.AbuseURI}}">{{.Abuse}}</a>.{{else}}To report unwanted email with links on this host, contact the operator of {{.Platform}}, which runs it.{{end}}</p></body></html>{{end}}
{{define "gone"}}{{template "head" .}}<h1>No longer available</h1><p>The web version of this email is kept for 30 days, and this one is not kept any more.</p></body></html>{{end}}
{{define "blocked"}}{{template "head" .}}<h1>Link blocked</h1><p>This link is not followed: {{.Listing}}.</p></body></html>{{end}}
{{define "unsubscribe"}}{{template "head" .}}<h1>Unsubscribe</h1><p>Stop receiving these emails at <strong>{{.Recipient}}</strong>?</p><form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form></body></html>{{end}}
{{define "unsubscribed"}}{{template "head" .}}<h1>Unsubscribed</h1><p><strong>{{.Recipient}}</strong> will not receive these emails any more.</p></body></html>{{end}}
{{define "forward"}}{{template "head" .}}<h1>Forward to a friend</h1>{{if .Sent}}<p>Sent to <strong>{{.To}}</strong>. Thank you.</p>{{else if .Available}}{{if .Error}}<p role="alert"><strong>{{.Error}}</strong></p>{{end}}<form method="post"><label for="to">Friend's email address</label><br><input id="to" name="to" type="email" required autocomplete="email"><p><button type="submit">Forward</button></p></form>{{else}}<p>Forwarding is not available for this email.</p>{{end}}</body></html>{{end}}
`))

func (e *Edge) page(w http.ResponseWriter, name string, data map[string]any) {
	e.pageStatus(w, http.StatusOK, name, data)
}

func (e *Edge) pageStatus(w http.ResponseWriter, status int, name string, data map[string]any) {
	e.render(w, status, "no-store", name, data)
}

// render writes one of the edge's pages with its status and caching.
func (e *Edge) render(w http.ResponseWriter, status int, cache, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		e.Log.Warn("edge page", "page", name, "err", err)
	}
}

// view answers a web-version link: the recipient's copy as a page, with a
// view event; 404 once the message is no longer kept. The page is the
// sender's HTML, so it runs no script and submits no form: images and
// styles load as they would in a mailbox.
func (e *Edge) view(w http.ResponseWriter, r *http.Request, tok track.Token, host string, head bool) string {
	var page []byte
	err := relay.ErrViewUnavailable
	if e.Viewer != nil {
		page, err = e.Viewer.View(r.Context(), tok.ClusterID, tok.MessageID, tok.Recipient)
	}
	if errors.Is(err, relay.ErrViewUnavailable) {
		w.Header().Set("Cache-Control", "no-store")
		e.pageStatus(w, http.StatusNotFound, "gone", map[string]any{"Title": "No longer available"})
		return "gone"
	}
	if err != nil {
		e.Log.Error("edge: web version", "cluster", tok.ClusterID, "message", tok.MessageID, "err", err)
		http.Error(w, "503 service unavailable", http.StatusServiceUnavailable)
		return "error"
	}
	if !head && !e.record(w, r, tok, host, event.View) {
		return ""
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src * data:; style-src * 'unsafe-inline'; font-src * data:; form-action 'none'; base-uri 'none'")
	w.Write(page)
	return "ok"
}

// MaskAddress is how the edge's pages name a recipient: the first character
// of the local part and the domain (ann@example.com is a•••@example.com), so
// whoever opens a link from a forwarded mail does not learn the address,
// while its owner still recognises it.
func MaskAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "•••"
	}
	first, _ := utf8.DecodeRuneInString(addr)
	return string(first) + "•••" + addr[at:]
}

// unsubscribe: GET shows a confirmation and changes nothing (link scanners
// follow GETs); POST, from the form or a mailbox's one-click (RFC 8058),
// puts the recipient on the cluster's suppression list, idempotently.
// It returns the outcome to count ("" when record counted it already).
func (e *Edge) unsubscribe(w http.ResponseWriter, r *http.Request, tok track.Token, host string) string {
	if r.Method != http.MethodPost {
		e.page(w, "unsubscribe", map[string]any{"Title": "Unsubscribe", "Recipient": MaskAddress(tok.Recipient)})
		return "ok"
	}
	if err := e.Suppressions.Suppress(r.Context(), tok.ClusterID, tok.Recipient, event.ReasonUnsubscribe, "message "+tok.MessageID, e.Now().UTC()); err != nil {
		e.Log.Error("suppress", "err", err)
		http.Error(w, "503 service unavailable", http.StatusServiceUnavailable)
		return "store_error"
	}
	if !e.record(w, r, tok, host, event.Unsubscribe) {
		return ""
	}
	e.page(w, "unsubscribed", map[string]any{"Title": "Unsubscribed", "Recipient": MaskAddress(tok.Recipient)})
	return "ok"
}

// forward: GET shows the form; POST sends the message on to the friend
// through the relay and records the forward. It returns the outcome to
// count ("" when record counted it already).
func (e *Edge) forward(w http.ResponseWriter, r *http.Request, tok track.Token, host string) string {
	data := map[string]any{"Title": "Forward", "Available": e.Forwarder != nil}
	if r.Method != http.MethodPost {
		e.page(w, "forward", data)
		return "ok"
	}
	if e.Forwarder == nil {
		e.page(w, "forward", data)
		return "forward_unavailable"
	}
	fail := func(code int, msg string) {
		w.WriteHeader(code)
		data["Error"] = msg
		e.page(w, "forward", data)
	}
	friend, err := domain.Mailbox(r.PostFormValue("to"))
	if err != nil {
		fail(http.StatusUnprocessableEntity, "That is not an email address: write it as name@example.com.")
		return "bad_address"
	}
	if _, err := e.Forwarder.Forward(r.Context(), tok.ClusterID, tok.MessageID, tok.Recipient, friend); err != nil {
		var refusal *relay.Refusal
		switch {
		case errors.Is(err, relay.ErrForwardLimit):
			fail(http.StatusTooManyRequests, "This email has already been forwarded too many times from your address.")
			return "forward_limit"
		case errors.As(err, &refusal):
			fail(http.StatusUnprocessableEntity, "It could not be forwarded: "+refusal.Message)
			return "forward_refused"
		default:
			e.Log.Error("forward", "cluster", tok.ClusterID, "message", tok.MessageID, "err", err)
			fail(http.StatusServiceUnavailable, "It could not be forwarded just now: try again in a moment.")
			return "forward_error"
		}
	}
	if !e.record(w, r, tok, host, event.Forward) {
		return ""
	}
	data["Sent"], data["To"] = true, friend
	e.page(w, "forward", data)
	return "ok"
}
