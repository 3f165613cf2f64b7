package web

import (
	"net/http"
	"net/url"

	"github.com/waymark-mail/waymark/internal/api"
)

// deliveryPage lists the cluster's delivery servers with the forms to add
// and delete them; the tracking domains are offered for a server's mail.
func (s *Server) deliveryPage(w http.ResponseWriter, r *http.Request, sess session, status int, data map[string]any) {
	var domains struct{ Items []api.TrackingDomain }
	if code, e := s.call(r, sess, "GET", "/v1/tracking-domains", nil, &domains); code != http.StatusOK {
		s.apiFailed(w, r, code, e)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	names := map[string]string{}
	for _, d := range domains.Items {
		names[d.ID] = d.Name
	}
	data["Domains"], data["DomainNames"] = domains.Items, names
	listPage[api.DeliveryServer](s, w, r, sess, status, data, "/v1/delivery-servers", "Delivery servers", "Servers", "delivery.html")
}

func (s *Server) deliveryAdd(w http.ResponseWriter, r *http.Request, sess session) {
	form := map[string]any{"name": r.PostFormValue("name"), "url": r.PostFormValue("url"), "default": r.PostFormValue("default") == "on"}
	if td := r.PostFormValue("tracking_domain_id"); td != "" {
		form["tracking_domain_id"] = td
	}
	code, e := s.call(r, sess, "POST", "/v1/delivery-servers", form, nil)
	if code != http.StatusCreated {
		s.deliveryPage(w, r, sess, code, map[string]any{"Error": e.Message, "Field": e.Field, "Name": form["name"], "URL": form["url"]})
		return
	}
	http.Redirect(w, r, "/delivery-servers", http.StatusSeeOther)
}

func (s *Server) deliveryDelete(w http.ResponseWriter, r *http.Request, sess session) {
	code, e := s.call(r, sess, "DELETE", "/v1/delivery-servers/"+url.PathEscape(r.PathValue("id")), nil, nil)
	if code != http.StatusNoContent {
		s.deliveryPage(w, r, sess, code, map[string]any{"Error": e.Message})
		return
	}
	http.Redirect(w, r, "/delivery-servers", http.StatusSeeOther)
}
