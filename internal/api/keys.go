package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/store"
)

// MaxKeys bounds the API keys of one cluster.
const MaxKeys = 50

// Key is one API key of a cluster. The key itself is in the answer to its
// creation only; the server keeps its hash.
type Key struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
	// Current is true for the key the request came with.
	Current bool   `json:"current"`
	Key     string `json:"key,omitempty"`
}

func keyJSON(k store.APIKey, p principal) Key {
	return Key{ID: k.ID, Label: k.Label, CreatedAt: k.CreatedAt, Current: k.Hash == p.KeyHash}
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request, p principal) {
	var req struct {
		Label string `json:"label"`
	}
	if !decode(w, r, &req) {
		return
	}
	label := strings.TrimSpace(req.Label)
	if utf8.RuneCountInString(label) > 100 || strings.IndexFunc(label, unicode.IsControl) >= 0 || strings.IndexFunc(label, isFormat) >= 0 {
		writeError(w, http.StatusUnprocessableEntity, "label_invalid", "label must be at most 100 characters, without control or invisible formatting characters", "label")
		return
	}
	key := apikey.New(apikey.ClusterPrefix)
	hash := apikey.Hash(key)
	k := store.APIKey{ID: store.KeyID(hash), ClusterID: p.Cluster.ID, Label: label, Hash: hash, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	err := s.store.CreateKey(r.Context(), k, MaxKeys)
	if errors.Is(err, store.ErrNotFound) { // the cluster was deleted meanwhile
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("cluster %q not found", p.Cluster.ID), "")
		return
	}
	var qe *store.QuotaError
	if errors.As(err, &qe) {
		writeError(w, http.StatusForbidden, "quota_exceeded", fmt.Sprintf("this cluster has %d API keys, the most it may have: revoke one first", qe.Count), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("api key created", "cluster", p.Cluster.ID, "key", k.ID, "label", k.Label)
	out := keyJSON(k, p)
	out.Key = key
	w.Header().Set("Location", "/v1/keys/"+k.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p principal) {
	all, err := s.store.APIKeys(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[Key]{Items: make([]Key, 0, len(all))}
	for _, k := range all {
		out.Items = append(out.Items, keyJSON(k, p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request, p principal) {
	all, err := s.store.APIKeys(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for _, k := range all {
		if k.ID == r.PathValue("id") {
			writeJSON(w, http.StatusOK, keyJSON(k, p))
			return
		}
	}
	writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("API key %q not found in this cluster", r.PathValue("id")), "")
}

// revokeKey deletes a key at once: the next API request, SMTP message or
// dashboard page with it is refused, and its dashboard sessions end.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	k, err := s.store.RevokeKey(r.Context(), p.Cluster.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("API key %q not found in this cluster", id), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("api key revoked", "cluster", p.Cluster.ID, "key", k.ID, "label", k.Label, "own", k.Hash == p.KeyHash)
	w.WriteHeader(http.StatusNoContent)
}

// deleteCluster removes a cluster and everything of it (admin only): its
// names leave the zone and the edge at once.
func (s *Server) deleteCluster(w http.ResponseWriter, r *http.Request, _ principal) {
	id := r.PathValue("id")
	err := s.store.DeleteCluster(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("cluster %q not found", id), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("cluster deleted", "cluster", id)
	w.WriteHeader(http.StatusNoContent)
}
