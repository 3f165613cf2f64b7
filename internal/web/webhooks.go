package web

import (
	"net/http"
	"net/url"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/event"
)

func (s *Server) webhookPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Events"] = event.Names()
	listPage[api.Webhook](s, w, r, sess, status, data, "/v1/webhooks", "Webhooks", "Hooks", "webhooks.html")
}

func (s *Server) webhookAdd(w http.ResponseWriter, r *http.Request, sess session) {
	r.ParseForm()
	events := r.PostForm["events"]
	if len(events) == 0 {
		events = []string{"*"}
	}
	var h api.Webhook
	code, e := s.call(r, sess, "POST", "/v1/webhooks", map[string]any{"url": r.PostFormValue("url"), "events": events}, &h)
	if code != http.StatusCreated {
		s.webhookPage(w, r, sess, code, map[string]any{"Error": e.Message, "Field": e.Field, "URL": r.PostFormValue("url")})
		return
	}
	// The secret is shown once, as the API returns it once.
	s.webhookPage(w, r, sess, http.StatusCreated, map[string]any{"Added": h})
}

func (s *Server) webhookDelete(w http.ResponseWriter, r *http.Request, sess session) {
	code, e := s.call(r, sess, "DELETE", "/v1/webhooks/"+url.PathEscape(r.PathValue("id")), nil, nil)
	if code >= 400 {
		s.webhookPage(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	http.Redirect(w, r, "/webhooks", http.StatusSeeOther)
}
