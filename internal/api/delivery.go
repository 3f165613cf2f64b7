package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/netguard"
	"github.com/waymark-mail/waymark/internal/store"
)

// DeliveryServer is a delivery server as the API shows it.
type DeliveryServer struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	URL              string    `json:"url"`
	TrackingDomainID string    `json:"tracking_domain_id,omitempty"`
	Default          bool      `json:"default"`
	CreatedAt        time.Time `json:"created_at"`
}

func deliveryServerJSON(d store.DeliveryServer) DeliveryServer {
	return DeliveryServer{ID: d.ID, Name: d.Name, URL: d.URL, TrackingDomainID: d.TrackingDomainID, Default: d.Default, CreatedAt: d.CreatedAt}
}

// ParseDeliveryURL checks a delivery server's address: smtp://host:port.
func ParseDeliveryURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("%q is not smtp://host:port (such as smtp://mta1.example.net:25)", s)
	}
	return "smtp://" + u.Host, nil
}

func (s *Server) createDeliveryServer(w http.ResponseWriter, r *http.Request, p principal) {
	var req struct {
		Name             string `json:"name"`
		URL              string `json:"url"`
		TrackingDomainID string `json:"tracking_domain_id"`
		Default          bool   `json:"default"`
	}
	if !decode(w, r, &req) {
		return
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\r\n") {
		writeError(w, http.StatusUnprocessableEntity, "name_invalid", "name is required: up to 64 characters without spaces, such as mta1", "name")
		return
	}
	u, err := ParseDeliveryURL(req.URL)
	if err == nil {
		var pu *url.URL
		if pu, err = url.Parse(u); err == nil {
			err = publicHost(pu, s.privateDelivery, "--delivery-allow-private")
		} else {
			err = fmt.Errorf("%q is not smtp://host:port (such as smtp://mta1.example.net:25)", req.URL)
		}
	}
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "url_invalid", err.Error(), "url")
		return
	}
	if req.TrackingDomainID != "" {
		d, err := s.trackingDomainByRef(r, p.Cluster.ID, req.TrackingDomainID)
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusUnprocessableEntity, "tracking_domain_unknown",
				fmt.Sprintf("tracking domain %q is not in this cluster", req.TrackingDomainID), "tracking_domain_id")
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		req.TrackingDomainID = d.ID
		if d.Status != domain.StatusActive {
			s.log.Info("delivery server uses a tracking domain that is not active yet", "domain", d.Name)
		}
	}
	d := store.DeliveryServer{ID: apikey.NewID("ds"), ClusterID: p.Cluster.ID, Name: name, URL: u,
		TrackingDomainID: req.TrackingDomainID, Default: req.Default, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.store.CreateDeliveryServer(r.Context(), d); errors.Is(err, store.ErrDuplicate) {
		writeError(w, http.StatusConflict, "name_taken", fmt.Sprintf("this cluster already has a delivery server named %s", name), "name")
		return
	} else if errors.Is(err, store.ErrNotFound) { // its tracking domain was deleted a moment ago
		writeError(w, http.StatusUnprocessableEntity, "tracking_domain_unknown",
			fmt.Sprintf("tracking domain %q is not in this cluster", req.TrackingDomainID), "tracking_domain_id")
		return
	} else if err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/delivery-servers/"+d.ID)
	writeJSON(w, http.StatusCreated, deliveryServerJSON(d))
}

func (s *Server) listDeliveryServers(w http.ResponseWriter, r *http.Request, p principal) {
	ds, err := s.store.DeliveryServers(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[DeliveryServer]{Items: make([]DeliveryServer, 0, len(ds))}
	for _, d := range ds {
		out.Items = append(out.Items, deliveryServerJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteDeliveryServer(w http.ResponseWriter, r *http.Request, p principal) {
	err := s.store.DeleteDeliveryServer(r.Context(), p.Cluster.ID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("delivery server %q not found in this cluster", r.PathValue("id")), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getDeliveryServer(w http.ResponseWriter, r *http.Request, p principal) {
	ds, err := s.store.DeliveryServers(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	answerOne(w, r, "delivery server", ds, func(d store.DeliveryServer) string { return d.ID }, deliveryServerJSON)
}

// publicHost checks, at creation, the host and port of a cluster's URL:
// a port from 1 to 65535, and, unless allow, not an address or name of
// loopback, a private network or link-local (netguard's rule; a name is
// checked again on the address dialled, since its DNS can change), so the
// cluster hears of it now rather than from five days of failed attempts.
func publicHost(u *url.URL, allow bool, flag string) error {
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535", p)
		}
	}
	if allow {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	ip, err := netip.ParseAddr(host)
	if err != nil && inetAton(host) {
		// Numbers that some resolvers read as an address (2130706433,
		// 0x7f000001, 127.1): neither a hostname nor an address here.
		return fmt.Errorf("%s is neither a hostname nor an IP address in the usual notation", host)
	}
	switch {
	case host == "localhost", strings.HasSuffix(host, ".localhost"), host == "localhost.localdomain",
		host == "ip6-localhost", host == "ip6-loopback", err == nil && !netguard.Public(ip):
		return fmt.Errorf("%s is not on the public Internet (loopback, private or link-local); the operator may allow such addresses with %s", host, flag)
	}
	return nil
}

// inetAton reports a name that inet_aton(3) reads as an IPv4 address:
// every label a number, decimal, octal (0…) or hexadecimal (0x…).
func inetAton(host string) bool {
	labels := strings.Split(host, ".")
	if len(labels) > 4 {
		return false
	}
	for _, l := range labels {
		digits, base := l, "0123456789"
		if rest, ok := strings.CutPrefix(l, "0x"); ok {
			digits, base = rest, "0123456789abcdef"
		}
		if digits == "" && l != "0x" || strings.Trim(digits, base) != "" {
			return false
		}
	}
	return true
}
