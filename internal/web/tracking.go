package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/waymark-mail/waymark/internal/api"
)

// needCluster sends an admin who has not picked a cluster to the list.
func needCluster(w http.ResponseWriter, r *http.Request, sess session) bool {
	if sess.admin && sess.cluster == "" {
		http.Redirect(w, r, "/clusters", http.StatusSeeOther)
		return true
	}
	return false
}

func (s *Server) trackingPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	listPage[api.TrackingDomain](s, w, r, sess, status, data, "/v1/tracking-domains", "Tracking domains", "Domains", "tracking.html")
}

// detailPage renders a page around one object of the API at path, titled
// with its name, with whatever else data holds (an action's error).
func detailPage[T any](s *Server, w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any,
	path, tmpl string, name func(T) string) {
	var d T
	if code, e := s.call(r, sess, "GET", path, nil, &d); code != http.StatusOK {
		s.apiFailed(w, r, code, e)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Title"], data["D"] = name(d), d
	s.render(w, status, tmpl, sess, data)
}

// listPage renders a page around one list of the API: its items under
// key, and whatever else data holds (a form's values and error).
func listPage[T any](s *Server, w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any, path, title, key, tmpl string) {
	var list struct{ Items []T }
	if code, e := s.call(r, sess, "GET", path, nil, &list); code != http.StatusOK {
		s.apiFailed(w, r, code, e)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Title"], data[key] = title, list.Items
	s.render(w, status, tmpl, sess, data)
}

// listed serves a list page: an admin picks a cluster first.
func (s *Server) listed(page func(http.ResponseWriter, *http.Request, session, int, map[string]any)) func(http.ResponseWriter, *http.Request, session) {
	return func(w http.ResponseWriter, r *http.Request, sess session) {
		if !needCluster(w, r, sess) {
			page(w, r, sess, http.StatusOK, nil)
		}
	}
}

func (s *Server) trackingAdd(w http.ResponseWriter, r *http.Request, sess session) {
	name := r.PostFormValue("name")
	var d api.TrackingDomain
	code, e := s.call(r, sess, "POST", "/v1/tracking-domains", map[string]any{"name": name, "default": r.PostFormValue("default") == "on"}, &d)
	if code != http.StatusCreated {
		s.trackingPage(w, r, sess, code, map[string]any{"Error": e.Message, "Name": name, "SetDefault": r.PostFormValue("default") == "on"})
		return
	}
	http.Redirect(w, r, "/tracking-domains/"+url.PathEscape(d.ID), http.StatusSeeOther)
}

func (s *Server) trackingShow(w http.ResponseWriter, r *http.Request, sess session) {
	s.trackingDetail(w, r, sess, http.StatusOK, nil)
}

func (s *Server) trackingDetail(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	detailPage(s, w, r, sess, status, data, "/v1/tracking-domains/"+url.PathEscape(r.PathValue("id")), "tracking_detail.html",
		func(d api.TrackingDomain) string { return d.Name })
}

func (s *Server) trackingVerify(w http.ResponseWriter, r *http.Request, sess session) {
	code, e := s.call(r, sess, "POST", "/v1/tracking-domains/"+url.PathEscape(r.PathValue("id"))+"/verify", nil, nil)
	if code != http.StatusOK {
		s.trackingDetail(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	s.trackingDetail(w, r, sess, http.StatusOK, map[string]any{"Verified": true})
}

func (s *Server) trackingDefault(w http.ResponseWriter, r *http.Request, sess session) {
	method := "PUT"
	if r.PostFormValue("set") != "1" {
		method = "DELETE"
	}
	code, e := s.call(r, sess, method, "/v1/tracking-domains/"+url.PathEscape(r.PathValue("id"))+"/default", nil, nil)
	if code >= 400 {
		s.trackingDetail(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	http.Redirect(w, r, "/tracking-domains/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
}

func (s *Server) trackingHome(w http.ResponseWriter, r *http.Request, sess session) {
	home := strings.TrimSpace(r.PostFormValue("home_url"))
	code, e := s.call(r, sess, "PATCH", "/v1/tracking-domains/"+url.PathEscape(r.PathValue("id")), map[string]any{"home_url": home}, nil)
	if code != http.StatusOK {
		s.trackingDetail(w, r, sess, code, map[string]any{"HomeError": e.Message, "HomeInput": home})
		return
	}
	s.trackingDetail(w, r, sess, http.StatusOK, map[string]any{"HomeSaved": true})
}

func (s *Server) trackingDelete(w http.ResponseWriter, r *http.Request, sess session) {
	if r.PostFormValue("confirm") != "yes" {
		s.trackingDetail(w, r, sess, http.StatusUnprocessableEntity, map[string]any{"Error": "Tick the box to confirm the deletion."})
		return
	}
	code, e := s.call(r, sess, "DELETE", "/v1/tracking-domains/"+url.PathEscape(r.PathValue("id")), nil, nil)
	if code >= 400 {
		s.trackingDetail(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	http.Redirect(w, r, "/tracking-domains", http.StatusSeeOther)
}

func (s *Server) clusters(w http.ResponseWriter, r *http.Request, sess session) {
	s.clustersPage(w, r, sess, http.StatusOK, nil)
}

func (s *Server) clustersPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	listPage[api.Cluster](s, w, r, sess, status, data, "/v1/clusters", "Clusters", "Clusters", "clusters.html")
}

// useCluster switches an admin to a cluster (a cookie; the API checks it).
func (s *Server) useCluster(w http.ResponseWriter, r *http.Request, sess session) {
	if !sess.admin {
		http.Error(w, "only the admin key switches clusters", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: clusterCookie, Value: r.PostFormValue("cluster"), Path: "/", HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/tracking-domains", http.StatusSeeOther)
}
