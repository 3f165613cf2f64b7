package web

import (
	"net/http"
	"net/url"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/event"
)

// suppressionPage is the cluster's suppression list, filtered by the
// query's reason and prefix, a page at a time (cursor).
func (s *Server) suppressionPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	in := r.URL.Query()
	q := url.Values{"limit": {"100"}}
	for _, k := range []string{"reason", "prefix", "cursor"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	var page api.SuppressionPage
	if code, e := s.call(r, sess, "GET", "/v1/suppressions?"+q.Encode(), nil, &page); code != http.StatusOK {
		s.apiFailed(w, r, code, e)
		return
	}
	if page.NextCursor != "" {
		next := url.Values{"reason": {in.Get("reason")}, "prefix": {in.Get("prefix")}, "cursor": {page.NextCursor}}
		data["Next"] = "/suppressions?" + next.Encode()
	}
	data["Title"], data["Items"], data["Reasons"] = "Suppressions", page.Items, event.Reasons
	data["Reason"], data["Prefix"], data["Paged"] = in.Get("reason"), in.Get("prefix"), in.Get("cursor") != ""
	s.render(w, status, "suppressions.html", sess, data)
}

func (s *Server) suppressionAdd(w http.ResponseWriter, r *http.Request, sess session) {
	addr := r.PostFormValue("address")
	code, e := s.call(r, sess, "POST", "/v1/suppressions", map[string]any{"address": addr}, nil)
	if code != http.StatusCreated {
		s.suppressionPage(w, r, sess, code, map[string]any{"Error": e.Message, "Address": addr})
		return
	}
	http.Redirect(w, r, "/suppressions", http.StatusSeeOther)
}

// suppressionImport sends an uploaded CSV file to the API and shows what
// the import did.
func (s *Server) suppressionImport(w http.ResponseWriter, r *http.Request, sess session) {
	f, _, err := r.FormFile("file")
	if err != nil {
		s.suppressionPage(w, r, sess, http.StatusBadRequest, map[string]any{"ImportError": "Choose a CSV file to import."})
		return
	}
	defer f.Close()
	var res api.ImportResult
	code, e := s.call(r, sess, "POST", "/v1/suppressions", rawBody{"text/csv", f}, &res)
	if code != http.StatusOK {
		s.suppressionPage(w, r, sess, code, map[string]any{"ImportError": e.Message})
		return
	}
	s.suppressionPage(w, r, sess, http.StatusOK, map[string]any{"Imported": res})
}

func (s *Server) suppressionDelete(w http.ResponseWriter, r *http.Request, sess session) {
	code, e := s.call(r, sess, "DELETE", "/v1/suppressions/"+url.PathEscape(r.PostFormValue("address")), nil, nil)
	if code != http.StatusNoContent {
		s.suppressionPage(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	http.Redirect(w, r, "/suppressions", http.StatusSeeOther)
}
