package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/sending"
)

func (s *Server) sendingPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	listPage[api.SendingDomain](s, w, r, sess, status, data, "/v1/sending-domains", "Sending domains", "Domains", "sending.html")
}

func (s *Server) sendingAdd(w http.ResponseWriter, r *http.Request, sess session) {
	body := map[string]any{"name": r.PostFormValue("name")}
	if v := r.PostFormValue("click_host"); v != "" {
		body["click_host"] = v
	}
	if v := r.PostFormValue("bounce_host"); v != "" {
		body["bounce_host"] = v
	}
	if r.PostFormValue("ed25519") == "on" {
		body["algorithms"] = []string{"rsa", "ed25519"}
	}
	var d api.SendingDomain
	code, e := s.call(r, sess, "POST", "/v1/sending-domains", body, &d)
	if code != http.StatusCreated {
		s.sendingPage(w, r, sess, code, map[string]any{"Error": e.Message, "Field": e.Field, "Form": r.PostForm})
		return
	}
	http.Redirect(w, r, "/sending-domains/"+url.PathEscape(d.ID), http.StatusSeeOther)
}

func (s *Server) sendingShow(w http.ResponseWriter, r *http.Request, sess session) {
	s.sendingDetail(w, r, sess, http.StatusOK, nil)
}

func (s *Server) sendingDetail(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["OpensChoices"], data["ClicksChoices"] = []string{"inherit", "on", "off"}, []string{"inherit", "all", "html", "text", "off"}
	detailPage(s, w, r, sess, status, data, "/v1/sending-domains/"+url.PathEscape(r.PathValue("id")), "sending_detail.html",
		func(d api.SendingDomain) string { return d.Name })
}

// sendingDMARC saves a sending domain's DMARC policy, written as tags.
func (s *Server) sendingDMARC(w http.ResponseWriter, r *http.Request, sess session) {
	in := strings.TrimSpace(r.PostFormValue("dmarc"))
	var policy any // empty: the default (null)
	if in != "" && !strings.EqualFold(in, sending.DefaultDMARC) {
		d, err := sending.ParseTags(in)
		if err != nil {
			s.sendingDetail(w, r, sess, http.StatusUnprocessableEntity, map[string]any{"DMARCError": err.Error(), "DMARCInput": in})
			return
		}
		policy = d
	}
	code, e := s.call(r, sess, "PATCH", "/v1/sending-domains/"+url.PathEscape(r.PathValue("id")), map[string]any{"dmarc": policy}, nil)
	if code != http.StatusOK {
		s.sendingDetail(w, r, sess, code, map[string]any{"DMARCError": e.Message, "DMARCInput": in})
		return
	}
	s.sendingDetail(w, r, sess, http.StatusOK, map[string]any{"Done": "dmarc"})
}

// sendingTracking saves a sending domain's tracking defaults.
func (s *Server) sendingTracking(w http.ResponseWriter, r *http.Request, sess session) {
	code, e := s.call(r, sess, "PATCH", "/v1/sending-domains/"+url.PathEscape(r.PathValue("id")),
		map[string]any{"tracking": map[string]string{"opens": r.PostFormValue("opens"), "clicks": r.PostFormValue("clicks")}}, nil)
	if code != http.StatusOK {
		s.sendingDetail(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	s.sendingDetail(w, r, sess, http.StatusOK, map[string]any{"Done": "tracking"})
}

// sendingAction runs verify or rotate and shows the domain again.
func (s *Server) sendingAction(action string) func(http.ResponseWriter, *http.Request, session) {
	return func(w http.ResponseWriter, r *http.Request, sess session) {
		if action == "rotate" && r.PostFormValue("confirm") != "yes" {
			s.sendingDetail(w, r, sess, http.StatusUnprocessableEntity, map[string]any{"Error": "Tick the box to confirm the rotation."})
			return
		}
		code, e := s.call(r, sess, "POST", "/v1/sending-domains/"+url.PathEscape(r.PathValue("id"))+"/"+action, nil, nil)
		if code != http.StatusOK {
			s.sendingDetail(w, r, sess, code, map[string]any{"Error": e.Message})
			return
		}
		s.sendingDetail(w, r, sess, http.StatusOK, map[string]any{"Done": action})
	}
}
