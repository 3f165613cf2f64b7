package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/waymark-mail/waymark/internal/store"
)

// MessageStatus is where each copy of a message is.
type MessageStatus struct {
	MessageID  string       `json:"message_id"`
	Recipients []CopyStatus `json:"recipients"`
}

// CopyStatus is one recipient's copy: its state (queued, deferred, sent,
// bounced, suppressed), attempts, the last reply (the delivery server's
// answer, or why it failed) and, while it waits, the next attempt.
type CopyStatus struct {
	Recipient   string     `json:"recipient"`
	QueueID     string     `json:"queue_id"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LastReply   string     `json:"last_reply,omitempty"`
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	QueuedAt    time.Time  `json:"queued_at"`
	Server      string     `json:"delivery_server"`
}

// copyState names a queued copy's state as the API shows it.
func copyState(m store.Mail) string {
	switch m.Status {
	case store.MailQueued:
		if m.Attempts > 0 {
			return "deferred"
		}
		return "queued"
	case store.MailFailed:
		return "bounced"
	}
	return string(m.Status) // sent, suppressed
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	mails, err := s.store.MailsOf(r.Context(), p.Cluster.ID, id)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if len(mails) == 0 {
		writeError(w, http.StatusNotFound, "not_found",
			fmt.Sprintf("message %q not found in this cluster (finished messages are kept 30 days)", id), "")
		return
	}
	out := MessageStatus{MessageID: id, Recipients: make([]CopyStatus, 0, len(mails))}
	for _, m := range mails {
		c := CopyStatus{Recipient: m.Rcpt, QueueID: m.ID, State: copyState(m), Attempts: m.Attempts, LastReply: m.LastError,
			QueuedAt: m.CreatedAt, Server: m.ServerURL}
		if m.Status == store.MailQueued {
			next := m.NextAt
			c.NextAttempt = &next
		}
		out.Recipients = append(out.Recipients, c)
	}
	writeJSON(w, http.StatusOK, out)
}

// QueueState is the cluster's part of the relay's queue.
type QueueState struct {
	Total   int          `json:"total"`
	Servers []QueueCount `json:"servers"`
	// Oldest is when the oldest message still waiting was queued.
	Oldest *time.Time `json:"oldest,omitempty"`
}

// QueueCount is a count of waiting messages of one state and server.
type QueueCount struct {
	Server string `json:"delivery_server"`
	State  string `json:"state"`
	Count  int    `json:"count"`
}

func (s *Server) getQueue(w http.ResponseWriter, r *http.Request, p principal) {
	stats, err := s.store.QueueStats(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := QueueState{Servers: []QueueCount{}}
	for _, st := range stats {
		out.Total += st.Count
		out.Servers = append(out.Servers, QueueCount{Server: st.Server, State: st.State, Count: st.Count})
		if out.Oldest == nil || st.Oldest.Before(*out.Oldest) {
			o := st.Oldest
			out.Oldest = &o
		}
	}
	writeJSON(w, http.StatusOK, out)
}
