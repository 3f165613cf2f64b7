package web

import (
	"net/http"
	"net/url"

	"github.com/waymark-mail/waymark/internal/api"
)

// blockedPage is the admin's page of the platform's blocklist of link
// destinations.
func (s *Server) blockedPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	if !sess.admin {
		s.apiFailed(w, r, http.StatusForbidden, apiError{Message: "The blocklist is the platform admin's: sign in with the admin key."})
		return
	}
	listPage[api.BlockedDomain](s, w, r, sess, status, data, "/v1/blocked-domains", "Blocked domains", "Blocked", "blocked.html")
}

func (s *Server) blockedShow(w http.ResponseWriter, r *http.Request, sess session) {
	s.blockedPage(w, r, sess, http.StatusOK, nil)
}

func (s *Server) blockedAdd(w http.ResponseWriter, r *http.Request, sess session) {
	domain := r.PostFormValue("domain")
	code, e := s.call(r, sess, "POST", "/v1/blocked-domains", map[string]any{"domain": domain, "reason": r.PostFormValue("reason")}, nil)
	if code != http.StatusCreated {
		s.blockedPage(w, r, sess, code, map[string]any{"Error": e.Message, "Domain": domain, "Reason": r.PostFormValue("reason")})
		return
	}
	http.Redirect(w, r, "/blocked-domains", http.StatusSeeOther)
}

func (s *Server) blockedDelete(w http.ResponseWriter, r *http.Request, sess session) {
	code, e := s.call(r, sess, "DELETE", "/v1/blocked-domains/"+url.PathEscape(r.PathValue("domain")), nil, nil)
	if code != http.StatusNoContent {
		s.blockedPage(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	http.Redirect(w, r, "/blocked-domains", http.StatusSeeOther)
}
