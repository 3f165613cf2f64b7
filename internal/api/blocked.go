package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/uribl"
	"golang.org/x/net/publicsuffix"
)

// BlockedDomain is a domain of the platform's blocklist as the API shows
// it.
type BlockedDomain struct {
	Domain    string    `json:"domain"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) listBlocked(w http.ResponseWriter, r *http.Request, _ principal) {
	all, err := s.store.BlockedDomains(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[BlockedDomain]{Items: make([]BlockedDomain, 0, len(all))}
	for _, d := range all {
		out.Items = append(out.Items, BlockedDomain(d))
	}
	writeJSON(w, http.StatusOK, out)
}

// blockDomain adds a domain to the platform's blocklist: links to it, or
// to any host under its registrable domain, are refused or left untracked
// (--uribl-action), and the edge stops redirecting to it.
func (s *Server) blockDomain(w http.ResponseWriter, r *http.Request, _ principal) {
	var req struct {
		Domain string `json:"domain"`
		Reason string `json:"reason"`
	}
	if !decode(w, r, &req) {
		return
	}
	name, err := domain.Normalize(req.Domain)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "domain_invalid", fmt.Sprintf("domain %q: %v", req.Domain, err), "domain")
		return
	}
	reason := strings.TrimSpace(req.Reason)
	if len(reason) > 200 || strings.IndexFunc(reason, unicode.IsControl) >= 0 {
		writeError(w, http.StatusUnprocessableEntity, "reason_invalid", "reason must be at most 200 characters, without control characters", "reason")
		return
	}
	if ps, _ := publicsuffix.PublicSuffix(name); ps == name {
		writeError(w, http.StatusUnprocessableEntity, "domain_invalid",
			fmt.Sprintf("%s is a public suffix: links are looked up by their registrable domain (a name under it), so block that", name), "domain")
		return
	}
	d := store.BlockedDomain{Domain: uribl.Registrable("https://" + name + "/"), Reason: reason, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	err = s.store.BlockDomain(r.Context(), d)
	if errors.Is(err, store.ErrDuplicate) {
		writeError(w, http.StatusConflict, "duplicate", fmt.Sprintf("%s is already on the blocklist", d.Domain), "domain")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("domain blocked", "domain", d.Domain, "reason", d.Reason)
	w.Header().Set("Location", "/v1/blocked-domains/"+d.Domain)
	writeJSON(w, http.StatusCreated, BlockedDomain(d))
}

func (s *Server) unblockDomain(w http.ResponseWriter, r *http.Request, _ principal) {
	name := strings.ToLower(strings.TrimSpace(r.PathValue("domain")))
	err := s.store.UnblockDomain(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s is not on the blocklist", name), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("domain unblocked", "domain", name)
	w.WriteHeader(http.StatusNoContent)
}
