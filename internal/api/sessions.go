package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/store"
)

// SessionLife is how long a dashboard session lasts.
const SessionLife = 12 * time.Hour

// Session is a dashboard session as the API shows it: a sign-in made with
// the calling key.
type Session struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UserAgent string    `json:"user_agent,omitempty"`
	Remote    string    `json:"remote,omitempty"`
}

func sessionJSON(s store.Session) Session {
	return Session{ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, UserAgent: s.UserAgent, Remote: s.Remote}
}

// createSession starts a session of the calling key (the dashboard's
// sign-in): 201 with its id, which the dashboard keeps in its cookie.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request, p principal) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	ua := store.Text(r.UserAgent(), 200)
	ss := store.Session{ID: apikey.NewID("ses"), KeyHash: p.KeyHash, CreatedAt: now, ExpiresAt: now.Add(SessionLife),
		UserAgent: ua, Remote: remoteHost(r.RemoteAddr)}
	if err := s.store.CreateSession(r.Context(), ss); err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/sessions/"+ss.ID)
	writeJSON(w, http.StatusCreated, sessionJSON(ss))
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p principal) {
	all, err := s.store.Sessions(r.Context(), p.KeyHash, time.Now())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[Session]{Items: make([]Session, 0, len(all))}
	for _, ss := range all {
		out.Items = append(out.Items, sessionJSON(ss))
	}
	writeJSON(w, http.StatusOK, out)
}

// getSession answers a live session of the calling key, or 404 (ended,
// expired, or another key's).
func (s *Server) getSession(w http.ResponseWriter, r *http.Request, p principal) {
	ss, err := s.store.Session(r.Context(), r.PathValue("id"), time.Now())
	if errors.Is(err, store.ErrNotFound) || (err == nil && ss.KeyHash != p.KeyHash) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("session %q not found for this key (ended or expired)", r.PathValue("id")), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionJSON(ss))
}

// deleteSession ends a session of the calling key at once, on every node.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, p principal) {
	err := s.store.EndSession(r.Context(), p.KeyHash, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("session %q not found for this key", r.PathValue("id")), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// remoteHost is the address of host:port, for people to read.
func remoteHost(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
