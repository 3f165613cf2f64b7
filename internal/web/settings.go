package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/waymark-mail/waymark/internal/api"
)

// clusterID is the cluster a session acts in: the one an admin picked, or
// a cluster key's own.
func (s *Server) clusterID(w http.ResponseWriter, r *http.Request, sess session) (string, bool) {
	if sess.admin {
		return sess.cluster, true
	}
	var l struct{ Items []api.Cluster }
	if code, e := s.call(r, sess, "GET", "/v1/clusters", nil, &l); code != http.StatusOK || len(l.Items) != 1 {
		s.apiFailed(w, r, code, e)
		return "", false
	}
	return l.Items[0].ID, true
}

// settingsPage shows the cluster's settings in a form.
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	id, ok := s.clusterID(w, r, sess)
	if !ok {
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["OpensChoices"], data["ClicksChoices"] = []string{"on", "off"}, []string{"all", "html", "text", "off"}
	detailPage(s, w, r, sess, status, data, "/v1/clusters/"+url.PathEscape(id), "settings.html",
		func(api.Cluster) string { return "Settings" })
}

func (s *Server) settingsSave(w http.ResponseWriter, r *http.Request, sess session) {
	if needCluster(w, r, sess) {
		return
	}
	id, ok := s.clusterID(w, r, sess)
	if !ok {
		return
	}
	notify := []string{}
	for _, a := range strings.Split(r.PostFormValue("notify_email"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			notify = append(notify, a)
		}
	}
	code, e := s.call(r, sess, "PATCH", "/v1/clusters/"+url.PathEscape(id),
		map[string]any{"unsigned_mail": r.PostFormValue("unsigned_mail"), "notify_email": notify,
			"tracking": map[string]string{"opens": r.PostFormValue("opens"), "clicks": r.PostFormValue("clicks")}}, nil)
	if code != http.StatusOK {
		s.settingsPage(w, r, sess, code, map[string]any{"Error": e.Message, "Field": e.Field, "NotifyInput": r.PostFormValue("notify_email")})
		return
	}
	s.settingsPage(w, r, sess, http.StatusOK, map[string]any{"Saved": true})
}
