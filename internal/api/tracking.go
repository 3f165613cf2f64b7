package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/store"
)

// TrackingDomain is a tracking domain as the API shows it.
type TrackingDomain struct {
	ID        string `json:"id"`
	ClusterID string `json:"cluster_id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Default   bool   `json:"default"`
	// DefaultOnActive: the domain becomes the default once verified.
	DefaultOnActive bool         `json:"default_on_active"`
	CNAME           Record       `json:"cname"`
	FailedChecks    int          `json:"failed_checks"`
	LastCheck       *store.Check `json:"last_check"`
	// NextCheck is when the monitor checks next; null: only on request.
	NextCheck *time.Time `json:"next_check"`
	TLS       TLS        `json:"tls"`
	// HomeURL is where the domain's front door (/) sends visitors; "":
	// the edge's own page.
	HomeURL   string    `json:"home_url"`
	CreatedAt time.Time `json:"created_at"`
}

// Record is a DNS record the customer must publish.
type Record struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// TLS is the certificate state of a tracking domain on the edge.
type TLS struct {
	Status string `json:"status"`
}

// TrackingDomainOf is the API's view of a stored tracking domain (also the
// data of webhook events).
func TrackingDomainOf(d store.TrackingDomain) TrackingDomain { return trackingJSON(d) }

func trackingJSON(d store.TrackingDomain) TrackingDomain {
	return TrackingDomain{
		ID: d.ID, ClusterID: d.ClusterID, Name: d.Name, Status: string(d.Status),
		Default: d.Default, DefaultOnActive: d.DefaultOnActive,
		CNAME:        Record{Name: d.Name, Type: "CNAME", Value: d.Target},
		FailedChecks: d.FailedChecks, LastCheck: d.LastCheck,
		TLS: TLS{Status: d.TLS}, HomeURL: d.HomeURL, CreatedAt: d.CreatedAt,
		NextCheck: timeOrNil(d.NextCheck),
	}
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// target returns a fresh verification target, v-<16 hex>.track.<platform>.
func (s *Server) target() string {
	return "v-" + apikey.RandomHex(8) + ".track." + s.platform
}

func (s *Server) createTrackingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	var req struct {
		Name    string `json:"name"`
		Default bool   `json:"default"`
	}
	if !decode(w, r, &req) {
		return
	}
	if s.overQuota(w, r, "tracking domains", s.maxTracking, s.trackingCount(r, p.Cluster.ID)) {
		return
	}
	name, err := domain.TrackingName(req.Name, s.platform)
	var nameErr *domain.NameError
	if errors.As(err, &nameErr) {
		writeError(w, http.StatusUnprocessableEntity, nameErr.Code, nameErr.Message, "name")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	d := store.TrackingDomain{
		ID: apikey.NewID("td"), ClusterID: p.Cluster.ID, Name: name, Status: domain.StatusPending,
		DefaultOnActive: req.Default, TLS: "none", CreatedAt: now, UpdatedAt: now,
		NextCheck: s.monitor.FirstCheck(now),
	}
	// A duplicate is either the name (the customer's mistake) or, with odds
	// of 2^-64, the random target: then draw another.
	for attempt := 0; ; attempt++ {
		d.Target = s.target()
		err = s.store.CreateTrackingDomain(r.Context(), d, s.limits())
		if !errors.Is(err, store.ErrDuplicate) {
			break
		}
		if old, lookErr := s.store.TrackingDomainByName(r.Context(), p.Cluster.ID, name); lookErr == nil {
			writeError(w, http.StatusConflict, "duplicate",
				fmt.Sprintf("%s is already a tracking domain of this cluster (%s)", name, old.ID), "name")
			return
		}
		if attempt == 3 {
			break
		}
	}
	if writeQuota(w, err, "") {
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("tracking domain added", "cluster", d.ClusterID, "id", d.ID, "name", d.Name, "target", d.Target)
	w.Header().Set("Location", "/v1/tracking-domains/"+d.ID)
	writeJSON(w, http.StatusCreated, trackingJSON(d))
}

func (s *Server) listTrackingDomains(w http.ResponseWriter, r *http.Request, p principal) {
	all, err := s.store.TrackingDomains(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[TrackingDomain]{Items: make([]TrackingDomain, 0, len(all))}
	for _, d := range all {
		out.Items = append(out.Items, trackingJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
}

// lookup finds the tracking domain named by the {id} path segment, which
// may be its id (td_…) or its hostname, in the caller's cluster only. It
// answers 404 itself and reports false when there is none.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, p principal) (store.TrackingDomain, bool) {
	ref := r.PathValue("id")
	d, err := s.trackingDomainByRef(r, p.Cluster.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("tracking domain %q not found in this cluster", ref), "")
		return d, false
	}
	if err != nil {
		s.internal(w, r, err)
		return d, false
	}
	return d, true
}

// trackingDomainByRef finds a tracking domain of the cluster by id (td_…)
// or hostname.
func (s *Server) trackingDomainByRef(r *http.Request, clusterID, ref string) (store.TrackingDomain, error) {
	if strings.HasPrefix(ref, "td_") {
		return s.store.TrackingDomain(r.Context(), clusterID, ref)
	}
	if name, err := domain.Normalize(ref); err == nil {
		return s.store.TrackingDomainByName(r.Context(), clusterID, name)
	}
	return store.TrackingDomain{}, store.ErrNotFound
}

func (s *Server) getTrackingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	if d, ok := s.lookup(w, r, p); ok {
		writeJSON(w, http.StatusOK, trackingJSON(d))
	}
}

func (s *Server) setDefault(w http.ResponseWriter, r *http.Request, p principal) {
	s.changeDefault(w, r, p, true)
}

func (s *Server) unsetDefault(w http.ResponseWriter, r *http.Request, p principal) {
	s.changeDefault(w, r, p, false)
}

func (s *Server) changeDefault(w http.ResponseWriter, r *http.Request, p principal, on bool) {
	d, ok := s.lookup(w, r, p)
	if !ok {
		return
	}
	d, err := s.store.SetTrackingDomainDefault(r.Context(), p.Cluster.ID, d.ID, on)
	switch {
	case errors.Is(err, store.ErrNotActive):
		writeError(w, http.StatusConflict, "not_active",
			fmt.Sprintf("%s is pending: only an active tracking domain can be the default; publish its CNAME and verify it first", r.PathValue("id")), "")
		return
	case errors.Is(err, store.ErrNotFound): // deleted meanwhile
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("tracking domain %q not found in this cluster", r.PathValue("id")), "")
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	s.log.Info("tracking domain default changed", "cluster", d.ClusterID, "id", d.ID, "name", d.Name, "default", on)
	writeJSON(w, http.StatusOK, trackingJSON(d))
}

// MaxHomeURL bounds a tracking domain's home URL.
const MaxHomeURL = 2048

// homeURL checks a home_url: an absolute http(s) URL with a host and no
// user information, or "" for none.
func homeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	switch {
	case len(raw) > MaxHomeURL:
		return "", fmt.Errorf("home_url is %d bytes long; the limit is %d", len(raw), MaxHomeURL)
	case err != nil || strings.IndexFunc(raw, unicode.IsControl) >= 0:
		return "", fmt.Errorf("home_url %q is not a URL", raw)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("home_url %q must be an absolute http or https URL, such as https://www.example.com/", raw)
	case u.User != nil:
		return "", fmt.Errorf("home_url %q must not carry a user name or password", raw)
	}
	return u.String(), nil
}

// patchTrackingDomain changes a tracking domain's settings: home_url.
func (s *Server) patchTrackingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	d, ok := s.lookup(w, r, p)
	if !ok {
		return
	}
	var req struct {
		HomeURL *string `json:"home_url"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.HomeURL != nil {
		home, err := homeURL(*req.HomeURL)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "home_url_invalid", err.Error(), "home_url")
			return
		}
		if d, err = s.store.SetHomeURL(r.Context(), p.Cluster.ID, d.ID, home); errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("tracking domain %q not found in this cluster", r.PathValue("id")), "")
			return
		} else if err != nil {
			s.internal(w, r, err)
			return
		}
		s.changedZone()
		s.log.Info("tracking domain changed", "cluster", d.ClusterID, "id", d.ID, "name", d.Name, "home_url", d.HomeURL)
	}
	writeJSON(w, http.StatusOK, trackingJSON(d))
}

func (s *Server) deleteTrackingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	d, ok := s.lookup(w, r, p)
	if !ok {
		return
	}
	gone := s.monitor.Deleted(d)
	notice, err := s.monitor.Notice(gone)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	err = s.store.DeleteTrackingDomain(r.Context(), p.Cluster.ID, d.ID, notice)
	if inUse(w, err) {
		return
	}
	if errors.Is(err, store.ErrNotFound) { // already gone (a delete at the same time) is what was asked
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("tracking domain deleted", "cluster", d.ClusterID, "id", d.ID, "name", d.Name)
	s.monitor.Notified(r.Context(), gone)
	w.WriteHeader(http.StatusNoContent)
}

// verifyTrackingDomain checks the CNAME chain now. The answer is the domain
// with last_check {ok, code, diagnosis, chain}; a failed check is still a
// 200: the request worked, the DNS did not.
func (s *Server) verifyTrackingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	d, ok := s.lookup(w, r, p)
	if !ok {
		return
	}
	d, err := s.monitor.CheckTrackingDomain(r.Context(), p.Cluster.ID, d.ID)
	s.changedZone() // a status change changes what the edge serves
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("tracking domain %q not found in this cluster", r.PathValue("id")), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, trackingJSON(d))
}

// inUse answers a delete the store refused because another object uses
// the one to delete: 409 in_use, naming the user and what to do.
func inUse(w http.ResponseWriter, err error) bool {
	var u *store.InUseError
	if !errors.As(err, &u) {
		return false
	}
	var todo string
	switch u.Kind {
	case "sending domain":
		todo = fmt.Sprintf("delete the sending domain %s, which removes its %s with it", u.UserName, u.Role)
	default:
		todo = fmt.Sprintf("delete the %s %s first", u.Kind, u.UserName)
	}
	writeError(w, http.StatusConflict, "in_use", u.Error()+"; "+todo, "")
	return true
}

// limits are the quotas the store enforces on each add (under a lock on
// the cluster, so nodes sharing a database cannot pass them together).
func (s *Server) limits() store.Limits {
	return store.Limits{TrackingDomains: s.maxTracking, SendingDomains: s.maxSending}
}

// overQuota answers 403 quota_exceeded when the cluster has max objects of
// a kind already (what is its count). It is the early answer, before work
// such as key generation; the store's check at the add is the one that
// holds against adds at the same moment.
func (s *Server) overQuota(w http.ResponseWriter, r *http.Request, what string, max int, count func() (int, error)) bool {
	n, err := count()
	if err != nil {
		s.internal(w, r, err)
		return true
	}
	if n < max {
		return false
	}
	writeQuota(w, &store.QuotaError{What: what, Count: n}, "")
	return true
}

// writeQuota answers 403 quota_exceeded for err if it is a
// *store.QuotaError, naming the flag that sets the quota; hint follows the
// kind (why an add of another kind counts).
func writeQuota(w http.ResponseWriter, err error, hint string) bool {
	var qe *store.QuotaError
	if !errors.As(err, &qe) {
		return false
	}
	flag := "--max-tracking-domains"
	if qe.What == "sending domains" {
		flag = "--max-sending-domains"
	} else {
		qe.What += hint
	}
	what := qe.What
	if qe.Count == 1 {
		what = strings.Replace(what, "domains", "domain", 1)
	}
	writeError(w, http.StatusForbidden, "quota_exceeded",
		fmt.Sprintf("this cluster has %d %s, the most it may have (%s on this server): delete one first", qe.Count, what, flag), "")
	return true
}

// trackingCount counts a cluster's tracking domains.
func (s *Server) trackingCount(r *http.Request, clusterID string) func() (int, error) {
	return func() (int, error) {
		all, err := s.store.TrackingDomains(r.Context(), clusterID)
		return len(all), err
	}
}
