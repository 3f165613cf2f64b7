package web

import (
	"net/http"
	"net/url"

	"github.com/waymark-mail/waymark/internal/api"
)

// keyPage lists the cluster's API keys, with the forms to create and
// revoke them.
func (s *Server) keyPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	listPage[api.Key](s, w, r, sess, status, data, "/v1/keys", "API keys", "Keys", "keys.html")
}

func (s *Server) keyCreate(w http.ResponseWriter, r *http.Request, sess session) {
	label := r.PostFormValue("label")
	var k api.Key
	code, e := s.call(r, sess, "POST", "/v1/keys", map[string]any{"label": label}, &k)
	if code != http.StatusCreated {
		s.keyPage(w, r, sess, code, map[string]any{"Error": e.Message, "Label": label})
		return
	}
	// The key is shown once, as the API returns it once.
	s.keyPage(w, r, sess, http.StatusCreated, map[string]any{"Added": k})
}

func (s *Server) keyRevoke(w http.ResponseWriter, r *http.Request, sess session) {
	code, e := s.call(r, sess, "DELETE", "/v1/keys/"+url.PathEscape(r.PathValue("id")), nil, nil)
	if code != http.StatusNoContent {
		s.keyPage(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	// Revoking the key of this session signs it out: the next page says so.
	http.Redirect(w, r, "/keys", http.StatusSeeOther)
}

// clusterDelete deletes a cluster (the admin), once the box is ticked.
func (s *Server) clusterDelete(w http.ResponseWriter, r *http.Request, sess session) {
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		s.clustersPage(w, r, sess, http.StatusUnprocessableEntity, map[string]any{"Error": "Tick the box to confirm the deletion.", "Confirm": id})
		return
	}
	if code, e := s.call(r, sess, "DELETE", "/v1/clusters/"+url.PathEscape(id), nil, nil); code != http.StatusNoContent {
		s.clustersPage(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	if sess.cluster == id {
		http.SetCookie(w, &http.Cookie{Name: clusterCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	}
	http.Redirect(w, r, "/clusters", http.StatusSeeOther)
}
