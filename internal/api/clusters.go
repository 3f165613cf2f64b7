package api

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/store"
)

// Cluster is a cluster as the API shows it. APIKey is present only in the
// response that created it.
type Cluster struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	APIKey    string    `json:"api_key,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// UnsignedMail: what the relay does with mail whose From domain is not
	// a verified sending domain of the cluster, refuse or relay (unsigned).
	UnsignedMail string `json:"unsigned_mail"`
	// NotifyEmail: the addresses that get the cluster's notices by email.
	NotifyEmail []string `json:"notify_email"`
	// Tracking: what the cluster's mail tracks unless a sending domain or
	// the message says otherwise.
	Tracking Tracking `json:"tracking"`
}

// Tracking is a tracking default: opens on|off, clicks all|html|text|off;
// a sending domain's may also be inherit (the cluster's).
type Tracking struct {
	Opens  string `json:"opens"`
	Clicks string `json:"clicks"`
}

// inherit is how a sending domain's tracking says "the cluster's".
const inherit = "inherit"

// trackingJSON shows a stored default, "" as dflt.
func trackingOf(t store.Tracking, dflt Tracking) Tracking {
	return Tracking{Opens: cmp.Or(t.Opens, dflt.Opens), Clicks: cmp.Or(t.Clicks, dflt.Clicks)}
}

// trackingChange checks a tracking change and applies it to cur; inherit
// (sending domains only, allowInherit) stores "".
func trackingChange(req *Tracking, cur store.Tracking, allowInherit bool) (store.Tracking, *ErrorDetail) {
	if req == nil {
		return cur, nil
	}
	ok := func(v string, values ...string) bool {
		return v == "" || slices.Contains(values, v) || allowInherit && v == inherit
	}
	if !ok(req.Opens, "on", "off") {
		return cur, &ErrorDetail{Code: "tracking_invalid", Field: "tracking.opens", Message: fmt.Sprintf("tracking.opens must be on or off%s, not %q", orInherit(allowInherit), req.Opens)}
	}
	if !ok(req.Clicks, "all", "html", "text", "off") {
		return cur, &ErrorDetail{Code: "tracking_invalid", Field: "tracking.clicks", Message: fmt.Sprintf("tracking.clicks must be all, html, text or off%s, not %q", orInherit(allowInherit), req.Clicks)}
	}
	set := func(dst *string, v string) {
		switch v {
		case "":
		case inherit:
			*dst = ""
		default:
			*dst = v
		}
	}
	set(&cur.Opens, req.Opens)
	set(&cur.Clicks, req.Clicks)
	return cur, nil
}

func orInherit(allow bool) string {
	if allow {
		return " (or inherit: the cluster's)"
	}
	return ""
}

func clusterJSON(c store.Cluster) Cluster {
	return Cluster{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt, UnsignedMail: cmp.Or(c.UnsignedMail, string(relay.UnsignedRefuse)),
		NotifyEmail: append([]string{}, c.NotifyEmail...), Tracking: trackingOf(c.Tracking, Tracking{Opens: "on", Clicks: "all"})}
}

// MaxNotifyEmail bounds a cluster's notice addresses.
const MaxNotifyEmail = 10

// notifyAddresses checks notify_email: at most MaxNotifyEmail plain
// addresses (a display name is dropped), each once.
func notifyAddresses(in []string) ([]string, error) {
	if len(in) > MaxNotifyEmail {
		return nil, fmt.Errorf("notify_email has %d addresses; at most %d", len(in), MaxNotifyEmail)
	}
	out := []string{}
	for _, raw := range in {
		a, err := mail.ParseAddress(strings.TrimSpace(raw))
		if err != nil || !domain.PlainAddress(a.Address) || len(a.Address) > 254 {
			return nil, fmt.Errorf("notify_email: %q is not an email address such as ops@example.com", raw)
		}
		if _, err := domain.Normalize(a.Address[strings.LastIndexByte(a.Address, '@')+1:]); err != nil {
			return nil, fmt.Errorf("notify_email: %q: the domain is not a hostname: %v", raw, err)
		}
		if slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, a.Address) }) {
			return nil, fmt.Errorf("notify_email: %s is listed twice", a.Address)
		}
		out = append(out, a.Address)
	}
	return out, nil
}

// clusterName checks a cluster's display name.
// clusterIDShape is the shape of a cluster id (apikey.NewID("cl")).
var clusterIDShape = regexp.MustCompile(`^cl_[0-9a-f]{16}$`)

// isFormat reports an invisible formatting character (Unicode category Cf:
// direction overrides, zero-width spaces), which would make a name or label
// read as another.
func isFormat(r rune) bool { return unicode.Is(unicode.Cf, r) }

func clusterName(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		return "", errors.New("cluster name is required")
	case utf8.RuneCountInString(name) > 100:
		return "", fmt.Errorf("cluster name is %d characters long; the limit is 100", utf8.RuneCountInString(name))
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", errors.New("cluster name contains a control character")
	case strings.IndexFunc(name, isFormat) >= 0:
		return "", errors.New("cluster name contains an invisible formatting character (such as a direction override)")
	case clusterIDShape.MatchString(name):
		return "", fmt.Errorf("cluster name %q looks like a cluster id: the CLI and --cluster take either, so a name may not be one", name)
	}
	return name, nil
}

func (s *Server) createCluster(w http.ResponseWriter, r *http.Request, _ principal) {
	var req struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &req) {
		return
	}
	name, err := clusterName(req.Name)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "cluster_name_invalid", err.Error(), "name")
		return
	}
	c := store.Cluster{ID: apikey.NewID("cl"), Name: name, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	key := apikey.New(apikey.ClusterPrefix)
	err = s.store.CreateCluster(r.Context(), c, apikey.Hash(key))
	if errors.Is(err, store.ErrDuplicate) {
		writeError(w, http.StatusConflict, "duplicate", fmt.Sprintf("a cluster named %q already exists", name), "name")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("cluster created", "cluster", c.ID, "name", c.Name)
	out := clusterJSON(c)
	out.APIKey = key
	w.Header().Set("Location", "/v1/clusters/"+c.ID)
	writeJSON(w, http.StatusCreated, out)
}

// listClusters shows the admin every cluster and a cluster key its own.
func (s *Server) listClusters(w http.ResponseWriter, r *http.Request, p principal) {
	if !p.Admin {
		writeJSON(w, http.StatusOK, list[Cluster]{Items: []Cluster{clusterJSON(p.Cluster)}})
		return
	}
	all, err := s.store.Clusters(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[Cluster]{Items: make([]Cluster, 0, len(all))}
	for _, c := range all {
		out.Items = append(out.Items, clusterJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	if !p.Admin {
		if id != p.Cluster.ID {
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("cluster %q not found", id), "")
			return
		}
		writeJSON(w, http.StatusOK, clusterJSON(p.Cluster))
		return
	}
	c, err := s.store.Cluster(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("cluster %q not found", id), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, clusterJSON(c))
}

// patchCluster changes a cluster's settings: its own key or the admin key
// may. Fields left out keep their value.
func (s *Server) patchCluster(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	if !p.Admin && id != p.Cluster.ID {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("cluster %q not found", id), "")
		return
	}
	var req struct {
		UnsignedMail *string   `json:"unsigned_mail"`
		NotifyEmail  *[]string `json:"notify_email"`
		Tracking     *Tracking `json:"tracking"`
	}
	if !decode(w, r, &req) {
		return
	}
	var notify []string
	if req.NotifyEmail != nil {
		var err error
		if notify, err = notifyAddresses(*req.NotifyEmail); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "notify_email_invalid", err.Error(), "notify_email")
			return
		}
	}
	var policy relay.UnsignedMail
	if req.UnsignedMail != nil {
		var err error
		if policy, err = relay.ParseUnsignedMail(*req.UnsignedMail); err != nil {
			writeError(w, http.StatusUnprocessableEntity, "unsigned_mail_invalid", err.Error(), "unsigned_mail")
			return
		}
	}
	var bad *ErrorDetail
	c, err := s.store.UpdateCluster(r.Context(), id, func(c store.Cluster) (store.Cluster, error) {
		if c.Tracking, bad = trackingChange(req.Tracking, c.Tracking, false); bad != nil {
			return c, errBadRequestDetail
		}
		if policy != "" {
			c.UnsignedMail = string(policy)
		}
		if req.NotifyEmail != nil {
			c.NotifyEmail = notify
		}
		return c, nil
	})
	if bad != nil {
		writeError(w, http.StatusUnprocessableEntity, bad.Code, bad.Message, bad.Field)
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("cluster %q not found", id), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cluster changed", "cluster", c.ID, "unsigned_mail", c.UnsignedMail, "notify_email", strings.Join(c.NotifyEmail, ","))
	writeJSON(w, http.StatusOK, clusterJSON(c))
}

// errBadRequestDetail ends an update whose change was refused: the
// refusal itself is answered by the caller.
var errBadRequestDetail = errors.New("api: the change was refused")

// list is the envelope of every list response.
type list[T any] struct {
	Items []T `json:"items"`
}
