package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	secretbox "github.com/waymark-mail/waymark/internal/secret"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/store"
)

// Webhook is a webhook as the API shows it. Secret is present only in the
// response that created it.
type Webhook struct {
	ID           string         `json:"id"`
	URL          string         `json:"url"`
	Events       []string       `json:"events"`
	Secret       string         `json:"secret,omitempty"`
	MaxBatch     int            `json:"max_batch"`
	CreatedAt    time.Time      `json:"created_at"`
	LastDelivery *store.Attempt `json:"last_delivery"`
}

func webhookJSON(w store.Webhook) Webhook {
	return Webhook{ID: w.ID, URL: w.URL, Events: w.Events, MaxBatch: w.MaxBatch, CreatedAt: w.CreatedAt, LastDelivery: w.Last}
}

// minSecret is the shortest secret accepted from a client.
const minSecret = 16

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, p principal) {
	var req struct {
		URL      string   `json:"url"`
		Events   []string `json:"events"`
		Secret   string   `json:"secret"`
		MaxBatch *int     `json:"max_batch"`
	}
	if !decode(w, r, &req) {
		return
	}
	maxBatch := store.DefaultMaxBatch
	if req.MaxBatch != nil {
		if maxBatch = *req.MaxBatch; maxBatch < 1 || maxBatch > 1000 {
			writeError(w, http.StatusUnprocessableEntity, "max_batch_invalid",
				fmt.Sprintf("max_batch must be from 1 to 1000 (events a delivery carries at most), not %d", maxBatch), "max_batch")
			return
		}
	}
	u, err := url.Parse(strings.TrimSpace(req.URL))
	switch {
	case req.URL == "":
		writeError(w, http.StatusUnprocessableEntity, "url_required", "url is required: the https:// address that receives the events", "url")
		return
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "":
		writeError(w, http.StatusUnprocessableEntity, "url_invalid",
			fmt.Sprintf("%q is not an absolute http(s) URL without credentials or fragment, such as https://hooks.example.com/waymark", req.URL), "url")
		return
	}
	if err := publicHost(u, s.privateWebhooks, "--webhook-allow-private"); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "url_invalid", err.Error(), "url")
		return
	}
	if len(req.Events) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "events_required",
			`events is required: a list of event names, or ["*"] for all of them: `+strings.Join(event.Names(), ", "), "events")
		return
	}
	for _, e := range req.Events {
		if e != "*" && !slices.Contains(event.Names(), e) {
			writeError(w, http.StatusUnprocessableEntity, "event_unknown",
				fmt.Sprintf("unknown event %q; events are %s, or * for all", e, strings.Join(event.Names(), ", ")), "events")
			return
		}
	}
	secret := req.Secret
	if secret == "" {
		secret = "whsec_" + apikey.RandomHex(24)
	} else if len(secret) < minSecret {
		writeError(w, http.StatusUnprocessableEntity, "secret_too_short",
			fmt.Sprintf("secret must have at least %d characters (leave it out to get a generated one)", minSecret), "secret")
		return
	}
	hook := store.Webhook{ID: apikey.NewID("wh"), ClusterID: p.Cluster.ID, URL: u.String(), Events: req.Events, MaxBatch: maxBatch,
		Secret: s.box.Seal([]byte(secret), secretbox.WebhookSecretContext), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.store.CreateWebhook(r.Context(), hook); err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("webhook added", "cluster", hook.ClusterID, "id", hook.ID, "url", hook.URL, "events", strings.Join(hook.Events, ","))
	out := webhookJSON(hook)
	out.Secret = secret
	w.Header().Set("Location", "/v1/webhooks/"+hook.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, p principal) {
	hooks, err := s.store.Webhooks(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[Webhook]{Items: make([]Webhook, 0, len(hooks))}
	for _, h := range hooks {
		out.Items = append(out.Items, webhookJSON(h))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, p principal) {
	err := s.store.DeleteWebhook(r.Context(), p.Cluster.ID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("webhook %q not found in this cluster", r.PathValue("id")), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, p principal) {
	hooks, err := s.store.Webhooks(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	answerOne(w, r, "webhook", hooks, func(h store.Webhook) string { return h.ID }, webhookJSON)
}

// answerOne answers the object of a cluster's list whose id is the {id}
// segment, in the API's view, or 404.
func answerOne[T, V any](w http.ResponseWriter, r *http.Request, what string, all []T, id func(T) string, view func(T) V) {
	for _, o := range all {
		if id(o) == r.PathValue("id") {
			writeJSON(w, http.StatusOK, view(o))
			return
		}
	}
	writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s %q not found in this cluster", what, r.PathValue("id")), "")
}
