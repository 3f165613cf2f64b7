package web

import (
	"net/http"
	"net/url"

	"github.com/waymark-mail/waymark/internal/api"
)

// sessionsPage lists the dashboard sessions signed in with this key, the
// current one marked, each with a button that ends it on every node.
func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Current"] = sess.id
	listPage[api.Session](s, w, r, sess, status, data, "/v1/sessions", "Sessions", "Sessions", "sessions.html")
}

func (s *Server) sessionsShow(w http.ResponseWriter, r *http.Request, sess session) {
	s.sessionsPage(w, r, sess, http.StatusOK, nil)
}

// sessionEnd ends one session; ending the current one signs out.
func (s *Server) sessionEnd(w http.ResponseWriter, r *http.Request, sess session) {
	id := r.PathValue("id")
	code, e := s.call(r, sess, "DELETE", "/v1/sessions/"+url.PathEscape(id), nil, nil)
	if code != http.StatusNoContent {
		s.sessionsPage(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	if id == sess.id {
		clearCookies(w, r)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}
