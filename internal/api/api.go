package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/monitor"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/throttle"
)

// AdminKeySetting names the setting holding the admin key's hash.
const AdminKeySetting = "admin_key_sha256"

// Store is what the API reads and changes.
type Store interface {
	store.Sessions
	// Backend names the database ("sqlite" or "postgres"), for /healthz.
	Backend() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	store.Clusters
	store.Settings
	store.TrackingDomains
	store.SendingDomains
	store.DeliveryServers
	store.Webhooks
	store.Events
	store.Stats
	store.BlockedDomains
	store.SuppressionList
	store.Keys
	QueueStats(ctx context.Context, clusterID string) ([]store.QueueStat, error)
	MailsOf(ctx context.Context, clusterID, messageID string) ([]store.Mail, error)
}

// TrackingDomainReader reads one tracking domain of a cluster.
type TrackingDomainReader interface {
	TrackingDomain(ctx context.Context, clusterID, id string) (store.TrackingDomain, error)
}

// Options configures a Server.
type Options struct {
	Store Store
	// PlatformDomain is the zone delegated to waymark, e.g. waymark.localhost.
	PlatformDomain string
	Logger         *slog.Logger
	// Registry receives the API's metrics; /metrics serves it.
	Registry *prometheus.Registry
	// ZoneChanged, if set, is called after a change to the names the
	// platform zone serves, so this node's DNS reloads at once (other nodes
	// notice the store's zone serial).
	ZoneChanged func()
	// Monitor checks domains and rotates keys on request.
	Monitor Monitor
	// Tokens signs tracking links.
	Tokens relay.Tokens
	// Relay queues submitted messages; nil: only dry runs.
	Relay *relay.Relay
	// Box seals DKIM private keys and webhook secrets.
	Box *secret.Box
	// Rotation is the DKIM key schedule.
	Rotation dkim.Rotation
	// MaxTrackingDomains and MaxSendingDomains bound what one cluster may
	// have (--max-tracking-domains, --max-sending-domains; 0: the defaults).
	MaxTrackingDomains, MaxSendingDomains int
	// AllowPrivateWebhooks and AllowPrivateDelivery let clusters' webhooks
	// and delivery servers be on loopback and private addresses
	// (--webhook-allow-private, --delivery-allow-private).
	AllowPrivateWebhooks, AllowPrivateDelivery bool
	// AuthFailures counts requests with a wrong key per client address;
	// past its limit the client gets 429 (default throttle.Default).
	AuthFailures *throttle.Failures
}

// Default quotas of a cluster.
const (
	DefaultMaxTrackingDomains = 1000
	DefaultMaxSendingDomains  = 100
)

// Monitor is what the API asks of the monitor: checks and key rotations
// on request, and the schedule of new domains.
type Monitor interface {
	// CheckTrackingDomain verifies a domain now and records the result.
	CheckTrackingDomain(ctx context.Context, clusterID, id string) (store.TrackingDomain, error)
	// FirstCheck is when a domain added at created is first checked.
	FirstCheck(created time.Time) time.Time
	// Deleted is the notification of d's deletion; Notice makes its
	// webhook notice, for DeleteTrackingDomain; Notified tells the log
	// (and the mail) once the deletion has committed.
	Deleted(d store.TrackingDomain) monitor.Notification
	Notice(n monitor.Notification) (*store.Notice, error)
	Notified(ctx context.Context, n monitor.Notification)
	// CheckSendingDomain verifies a sending domain's records now.
	CheckSendingDomain(ctx context.Context, clusterID, id string) (store.SendingDomain, error)
	// RotateKeys runs (force: asks for) a sending domain's key rotation.
	RotateKeys(ctx context.Context, clusterID, id string, force bool) (store.SendingDomain, error)
}

// Server is the API's HTTP handler.
type Server struct {
	store       Store
	platform    string
	log         *slog.Logger
	mux         *http.ServeMux
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	zoneChanged func()
	monitor     Monitor
	composer    *relay.Composer
	relay       *relay.Relay
	box         *secret.Box
	rotation    dkim.Rotation
	maxTracking int
	maxSending  int
	// privateWebhooks, privateDelivery: see Options.
	privateWebhooks, privateDelivery bool
	failures                         *throttle.Failures
}

// access says which keys may call a route.
type access int

const (
	public      access = iota // no key
	anyKey                    // an admin or a cluster key; cluster-scoped
	adminOnly                 // the admin key
	clusterWide               // any key, not scoped to one cluster
)

// route is one entry of the route table, the single list that the mux and
// the OpenAPI test both read.
type route struct {
	method, path string
	access       access
	handle       func(*Server, http.ResponseWriter, *http.Request, principal)
}

var routes = []route{
	{"GET", "/healthz", public, (*Server).healthz},
	{"GET", "/metrics", public, nil}, // served by promhttp
	{"GET", "/v1/openapi.json", public, (*Server).openapi},
	{"POST", "/v1/clusters", adminOnly, (*Server).createCluster},
	{"GET", "/v1/clusters", clusterWide, (*Server).listClusters},
	{"GET", "/v1/clusters/{id}", clusterWide, (*Server).getCluster},
	{"PATCH", "/v1/clusters/{id}", clusterWide, (*Server).patchCluster},
	{"DELETE", "/v1/clusters/{id}", adminOnly, (*Server).deleteCluster},
	{"POST", "/v1/keys", anyKey, (*Server).createKey},
	{"GET", "/v1/keys", anyKey, (*Server).listKeys},
	{"GET", "/v1/keys/{id}", anyKey, (*Server).getKey},
	{"DELETE", "/v1/keys/{id}", anyKey, (*Server).revokeKey},
	{"GET", "/v1/blocked-domains", adminOnly, (*Server).listBlocked},
	{"POST", "/v1/blocked-domains", adminOnly, (*Server).blockDomain},
	{"DELETE", "/v1/blocked-domains/{domain}", adminOnly, (*Server).unblockDomain},
	{"POST", "/v1/sessions", clusterWide, (*Server).createSession},
	{"GET", "/v1/sessions", clusterWide, (*Server).listSessions},
	{"GET", "/v1/sessions/{id}", clusterWide, (*Server).getSession},
	{"DELETE", "/v1/sessions/{id}", clusterWide, (*Server).deleteSession},
	{"POST", "/v1/tracking-domains", anyKey, (*Server).createTrackingDomain},
	{"GET", "/v1/tracking-domains", anyKey, (*Server).listTrackingDomains},
	{"GET", "/v1/tracking-domains/{id}", anyKey, (*Server).getTrackingDomain},
	{"PATCH", "/v1/tracking-domains/{id}", anyKey, (*Server).patchTrackingDomain},
	{"PUT", "/v1/tracking-domains/{id}/default", anyKey, (*Server).setDefault},
	{"DELETE", "/v1/tracking-domains/{id}/default", anyKey, (*Server).unsetDefault},
	{"DELETE", "/v1/tracking-domains/{id}", anyKey, (*Server).deleteTrackingDomain},
	{"POST", "/v1/tracking-domains/{id}/verify", anyKey, (*Server).verifyTrackingDomain},
	{"POST", "/v1/sending-domains", anyKey, (*Server).createSendingDomain},
	{"GET", "/v1/sending-domains", anyKey, (*Server).listSendingDomains},
	{"GET", "/v1/sending-domains/{id}", anyKey, (*Server).getSendingDomain},
	{"PATCH", "/v1/sending-domains/{id}", anyKey, (*Server).patchSendingDomain},
	{"POST", "/v1/sending-domains/{id}/verify", anyKey, (*Server).verifySendingDomain},
	{"POST", "/v1/sending-domains/{id}/rotate", anyKey, (*Server).rotateSendingDomain},
	{"DELETE", "/v1/sending-domains/{id}", anyKey, (*Server).deleteSendingDomain},
	{"POST", "/v1/messages", anyKey, (*Server).submitMessage},
	{"GET", "/v1/messages/{id}", anyKey, (*Server).getMessage},
	{"GET", "/v1/queue", anyKey, (*Server).getQueue},
	{"GET", "/v1/suppressions", anyKey, (*Server).listSuppressions},
	{"POST", "/v1/suppressions", anyKey, (*Server).addSuppression},
	{"DELETE", "/v1/suppressions/{address}", anyKey, (*Server).deleteSuppression},
	{"POST", "/v1/delivery-servers", anyKey, (*Server).createDeliveryServer},
	{"GET", "/v1/delivery-servers", anyKey, (*Server).listDeliveryServers},
	{"GET", "/v1/delivery-servers/{id}", anyKey, (*Server).getDeliveryServer},
	{"DELETE", "/v1/delivery-servers/{id}", anyKey, (*Server).deleteDeliveryServer},
	{"GET", "/v1/events", anyKey, (*Server).listEvents},
	{"GET", "/v1/stats", anyKey, (*Server).getStats},
	{"POST", "/v1/webhooks", anyKey, (*Server).createWebhook},
	{"GET", "/v1/webhooks", anyKey, (*Server).listWebhooks},
	{"GET", "/v1/webhooks/{id}", anyKey, (*Server).getWebhook},
	{"DELETE", "/v1/webhooks/{id}", anyKey, (*Server).deleteWebhook},
}

// New builds the API handler.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Monitor == nil || o.Tokens == nil || o.Box == nil {
		panic("api: Options.Monitor, Tokens and Box are required")
	}
	if o.Rotation.Period == 0 {
		o.Rotation = dkim.DefaultRotation
	}
	composer := &relay.Composer{Store: o.Store, Tokens: o.Tokens, Box: o.Box, Platform: o.PlatformDomain}
	if o.Relay != nil {
		composer = o.Relay.Composer // the same choices as the queue's
	}
	s := &Server{
		store:       o.Store,
		platform:    o.PlatformDomain,
		log:         o.Logger,
		zoneChanged: o.ZoneChanged,
		monitor:     o.Monitor,
		composer:    composer,
		relay:       o.Relay,
		box:         o.Box,
		rotation:    o.Rotation,
		mux:         http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waymark_http_requests_total",
			Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waymark_http_request_duration_seconds",
			Help:    "API request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}, []string{"route"}),
		privateWebhooks: o.AllowPrivateWebhooks, privateDelivery: o.AllowPrivateDelivery,
		failures:    cmp.Or(o.AuthFailures, throttle.Default()),
		maxTracking: cmp.Or(o.MaxTrackingDomains, DefaultMaxTrackingDomains),
		maxSending:  cmp.Or(o.MaxSendingDomains, DefaultMaxSendingDomains),
	}
	o.Registry.MustRegister(s.requests, s.latency)
	metrics := promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry})
	for _, rt := range routes {
		pattern := rt.method + " " + rt.path
		var h http.Handler
		if rt.handle == nil {
			h = metrics
		} else {
			h = s.authorize(rt)
		}
		s.mux.Handle(pattern, s.observe(pattern, h))
	}
	s.mux.Handle("/", s.observe("unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s %s; see /v1/openapi.json", r.Method, r.URL.Path), "")
	})))
	return s
}

// changedZone tells this node's DNS server to reload.
func (s *Server) changedZone() {
	if s.zoneChanged != nil {
		s.zoneChanged()
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// statusWriter remembers the status code for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) observe(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		d := time.Since(start)
		s.requests.WithLabelValues(pattern, strconv.Itoa(sw.code)).Inc()
		s.latency.WithLabelValues(pattern).Observe(d.Seconds())
		s.log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", sw.code, "duration", d)
	})
}

// principal is who called: the operator (admin) or one cluster. For
// cluster-scoped routes Cluster is always set, for an admin too (chosen with
// the X-Waymark-Cluster header or ?cluster=).
type principal struct {
	Admin   bool
	Cluster store.Cluster
	// KeyHash is the hash of the key the request came with.
	KeyHash string
}

// ClusterHeader lets the admin key act inside one cluster.
const ClusterHeader = "X-Waymark-Cluster"

func (s *Server) authorize(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.access == public {
			rt.handle(s, w, r, principal{})
			return
		}
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		switch {
		case rt.access == adminOnly && !p.Admin:
			writeError(w, http.StatusForbidden, "forbidden", "this route needs the admin key; a cluster key cannot use it", "")
			return
		case rt.access == anyKey && !s.scope(w, r, &p):
			return
		}
		rt.handle(s, w, r, p)
	})
}

type sessionKey struct{}

// FromSession marks a request the dashboard makes in process with the key
// of a signed-in session: that key was accepted at sign-in and comes from a
// cookie only the server can seal, not from what a client typed, so it is
// neither held back nor counted by the failed-key throttle. (A key replaced
// since, in a browser's old cookie, must sign that browser out, not lock
// its address out of the API.)
func FromSession(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionKey{}, true)
}

// authenticate resolves the bearer key to a principal, or answers 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (principal, bool) {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	// RFC 7235 section 2.1: the scheme name is case-insensitive.
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="waymark"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing API key: send the header Authorization: Bearer <key>", "")
		return principal{}, false
	}
	client := throttle.Host(r.RemoteAddr)
	fromSession := r.Context().Value(sessionKey{}) != nil
	if wait, blocked := s.failures.Blocked(client); blocked && !fromSession {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "too_many_failures",
			fmt.Sprintf("too many requests with a wrong API key from this address: try again in %d seconds", int(wait.Seconds())+1), "")
		return principal{}, false
	}
	hash := apikey.Hash(h[len(prefix):])
	if admin, err := s.store.Setting(r.Context(), AdminKeySetting); err == nil && apikey.Equal(admin, hash) {
		return principal{Admin: true, KeyHash: hash}, true
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return principal{}, false
	}
	c, err := s.store.ClusterByKey(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		if !fromSession {
			s.failures.Fail(client)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="waymark", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "invalid API key", "")
		return principal{}, false
	}
	if err != nil {
		s.internal(w, r, err)
		return principal{}, false
	}
	return principal{Cluster: c, KeyHash: hash}, true
}

// scope fixes the cluster a cluster-scoped request acts in. A cluster key
// acts in its own cluster; naming another one is a 404, as if it did not
// exist. The admin key must name a cluster.
func (s *Server) scope(w http.ResponseWriter, r *http.Request, p *principal) bool {
	want := r.Header.Get(ClusterHeader)
	if want == "" {
		want = r.URL.Query().Get("cluster")
	}
	if !p.Admin {
		if want != "" && want != p.Cluster.ID {
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("cluster %q not found", want), "cluster")
			return false
		}
		return true
	}
	if want == "" {
		writeError(w, http.StatusBadRequest, "cluster_required",
			"the admin key acts inside one cluster: name it with the "+ClusterHeader+" header or ?cluster=<id> (CLI: --cluster)", "cluster")
		return false
	}
	c, err := s.store.Cluster(r.Context(), want)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("cluster %q not found", want), "cluster")
		return false
	}
	if err != nil {
		s.internal(w, r, err)
		return false
	}
	p.Cluster = c
	return true
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a stable code, a sentence, and the
// request field at fault, if one is.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func writeError(w http.ResponseWriter, status int, code, message, field string) {
	writeJSON(w, status, ErrorBody{ErrorDetail{Code: code, Message: message, Field: field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// internal logs an unexpected error and answers 500 without its details.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; the server log has the details", "")
}

// maxBody bounds request bodies of the JSON routes.
const maxBody = 1 << 20

// decode reads a JSON request body strictly into v, a pointer to a struct:
// the body must be one JSON object whose keys are exactly v's json names
// (encoding/json alone would accept "Name" for "name", and null). Any
// other body is a 400 that names the problem.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		writeError(w, http.StatusBadRequest, "invalid_json", fmt.Sprintf("request body is larger than %d bytes", maxBody), "")
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "could not read the request body: "+err.Error(), "")
		return false
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_json", "request body is empty; send a JSON object", "")
		return false
	}
	var keys map[string]json.RawMessage
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &keys) != nil {
		msg := "request body must be a JSON object, such as {\"name\": \"…\"}"
		if !json.Valid(trimmed) {
			msg = "request body is not valid JSON"
			var syn *json.SyntaxError
			if err := json.Unmarshal(trimmed, new(any)); errors.As(err, &syn) {
				msg += fmt.Sprintf(" (at byte %d: %v)", syn.Offset, syn)
			}
		}
		writeError(w, http.StatusBadRequest, "invalid_json", msg, "")
		return false
	}
	known := jsonNames(v)
	for k := range keys {
		if !known[k] {
			writeError(w, http.StatusBadRequest, "invalid_json", fmt.Sprintf("unknown field %q; see /v1/openapi.json", k), k)
			return false
		}
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			writeError(w, http.StatusBadRequest, "invalid_json",
				fmt.Sprintf("field %q must be a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind())), typeErr.Field)
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid_json", "request body is not valid JSON: "+err.Error(), "")
		return false
	}
	return true
}

// jsonNames returns the json field names of the struct v points to.
func jsonNames(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		names[name] = true
	}
	return names
}

// jsonKind names a Go kind as the JSON type a client must send.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	}
	return "number"
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ principal) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("health check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": s.store.Backend()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "store": s.store.Backend()})
}
