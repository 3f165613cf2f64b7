package api

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/store"
)

// submitMessage takes a raw MIME message: it is rewritten, signed and
// queued for each recipient, or, with ?dry_run=1, returned as it would be
// sent to one recipient.
func (s *Server) submitMessage(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	// A misspelt dry run must not send mail: only these values are taken.
	dryRun, ok := queryBool(q.Get("dry_run"), false)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("dry_run %q must be 1, true, 0 or false", q.Get("dry_run")), "dry_run")
		return
	}
	sign, ok := queryBool(q.Get("sign"), true)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("sign %q must be 1, true, 0 or false", q.Get("sign")), "sign")
		return
	}
	if !dryRun && s.relay == nil {
		writeError(w, http.StatusUnprocessableEntity, "relay_not_running",
			"this server only previews messages; use ?dry_run=1", "dry_run")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, relay.MaxMessage))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		writeError(w, http.StatusBadRequest, "message_too_large", fmt.Sprintf("the message is larger than %d bytes", relay.MaxMessage), "")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_message", "could not read the message: "+err.Error(), "")
		return
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil || h.Len() == 0 {
		writeError(w, http.StatusBadRequest, "invalid_message", "the body is not an RFC 5322 message (send raw MIME, Content-Type: message/rfc822)", "")
		return
	}
	if !dryRun {
		s.queueMessage(w, r, p, raw, h)
		return
	}
	recipient := strings.TrimSpace(q.Get("recipient"))
	if recipient == "" {
		if to, err := mail.ParseAddressList(h.Get("To")); err == nil && len(to) > 0 {
			recipient = to[0].Address
		}
	}
	if recipient, err = relay.ParseRecipient(recipient); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "recipient_invalid",
			"give the recipient as ?recipient=name@example.com or in the To header", "recipient")
		return
	}
	m, err := s.composer.Prepare(r.Context(), relay.Submission{ClusterID: p.Cluster.ID, Raw: raw,
		MessageID: q.Get("message_id"), Sign: sign})
	if err == nil {
		var out bytes.Buffer
		if err = m.WriteCopy(&out, p.Cluster.ID, recipient); err == nil {
			w.Header().Set("Content-Type", "message/rfc822")
			w.Header().Set("X-Waymark-Message-Id", m.ID)
			w.Header().Set("X-Waymark-Tracking-Host", m.Host)
			w.Write(out.Bytes())
			return
		}
	}
	s.refused(w, r, err)
}

// Submitted is the answer to a queued message.
type Submitted struct {
	MessageID string           `json:"message_id"`
	Queued    []QueuedCopy     `json:"queued"`
	Dropped   []DroppedAddress `json:"dropped"`
}

// QueuedCopy is one recipient's copy in the queue.
type QueuedCopy struct {
	Recipient string `json:"recipient"`
	QueueID   string `json:"queue_id"`
}

// DroppedAddress is a recipient not sent to.
type DroppedAddress struct {
	Recipient string `json:"recipient"`
	Reason    string `json:"reason"`
}

// queueMessage sends a message on through the relay: to each ?recipient=,
// or else to every To and Cc address.
func (s *Server) queueMessage(w http.ResponseWriter, r *http.Request, p principal, raw []byte, h textproto.Header) {
	var rcpts []string
	given := r.URL.Query()["recipient"]
	var from []string // the header each given address is from, when not ?recipient=
	if len(given) == 0 {
		for _, k := range []string{"To", "Cc"} {
			if v := h.Get(k); v != "" {
				list, err := mail.ParseAddressList(v)
				if err != nil {
					writeError(w, http.StatusUnprocessableEntity, "recipient_invalid", fmt.Sprintf("the %s header is not a list of addresses: %v", k, err), k)
					return
				}
				for _, a := range list {
					given = append(given, a.Address)
					from = append(from, k)
				}
			}
		}
	}
	for i, g := range given {
		a, err := relay.ParseRecipient(g)
		if err != nil {
			field := "recipient"
			if from != nil {
				field = from[i]
			}
			writeError(w, http.StatusUnprocessableEntity, "recipient_invalid", fmt.Sprintf("%q is not an email address", g), field)
			return
		}
		if !slices.Contains(rcpts, a) {
			rcpts = append(rcpts, a)
		}
	}
	if len(rcpts) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "recipient_invalid", "no recipient: give ?recipient=name@example.com or a To header", "recipient")
		return
	}
	res, err := s.relay.Submit(r.Context(), p.Cluster.ID, "", raw, rcpts, r.URL.Query().Get("message_id"))
	if err != nil {
		s.refused(w, r, err)
		return
	}
	out := Submitted{MessageID: res.MessageID, Queued: []QueuedCopy{}, Dropped: []DroppedAddress{}}
	for _, c := range res.Queued {
		out.Queued = append(out.Queued, QueuedCopy{Recipient: c.Rcpt, QueueID: c.ID})
	}
	for _, d := range res.Dropped {
		out.Dropped = append(out.Dropped, DroppedAddress{Recipient: d.Rcpt, Reason: d.Reason})
	}
	writeJSON(w, http.StatusAccepted, out)
}

// refused answers a message the composer refused, or an internal error.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, err error) {
	var ref *relay.Refusal
	if !errors.As(err, &ref) {
		s.internal(w, r, err)
		return
	}
	status := http.StatusUnprocessableEntity
	if ref.BadRequest {
		status = http.StatusBadRequest
	}
	msg := ref.Message
	if errors.Is(err, relay.ErrFromNotVerified) {
		msg += "; ?sign=0 previews the tracking without signing"
	}
	writeError(w, status, ref.Code, msg, ref.Field)
}

// Event is a tracking event as the API shows it.
type Event struct {
	ID        string      `json:"id"`
	Type      event.Type  `json:"type"`
	At        time.Time   `json:"at"`
	MessageID string      `json:"message_id"`
	Recipient string      `json:"recipient"`
	URL       string      `json:"url,omitempty"`
	Host      string      `json:"host"`
	ClientIP  string      `json:"client_ip"`
	UserAgent string      `json:"user_agent"`
	Class     event.Class `json:"class"`
	Reason    string      `json:"reason,omitempty"`
}

// EventOf is the API's view of a stored event (also webhook data).
func EventOf(e store.Event) Event {
	return Event{ID: e.ID, Type: e.Type, At: e.At, MessageID: e.MessageID, Recipient: e.Recipient, URL: e.URL,
		Host: e.Host, ClientIP: e.ClientIP, UserAgent: e.UserAgent, Class: e.Class, Reason: e.Reason}
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	eq := store.EventQuery{Type: event.Type(q.Get("type")), MessageID: q.Get("message_id"), Limit: 100}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || strconv.FormatInt(n, 10) != v {
			writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("cursor %q is not a next_cursor of this API: page again from the start", v), "cursor")
			return
		}
		eq.After = n
	}
	if eq.Type != "" && !eq.Type.Valid() {
		writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("type %q is not one of %s", eq.Type, joinTypes(event.Types)), "type")
		return
	}
	switch q.Get("order") {
	case "", "oldest":
	case "newest":
		eq.Newest = true
	default:
		writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("order must be oldest or newest, not %q", q.Get("order")), "order")
		return
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("since %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", v), "since")
			return
		}
		eq.Since = t
	}
	if v := q.Get("limit"); v != "" {
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 1 || n > 1000 || fmt.Sprint(n) != v {
			writeError(w, http.StatusBadRequest, "invalid_query", "limit must be a whole number from 1 to 1000", "limit")
			return
		}
		eq.Limit = n
	}
	evs, err := s.store.Events(r.Context(), p.Cluster.ID, eq)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := struct {
		Items      []Event `json:"items"`
		NextCursor string  `json:"next_cursor,omitempty"`
	}{Items: make([]Event, 0, len(evs))}
	for _, e := range evs {
		out.Items = append(out.Items, EventOf(e))
	}
	if len(evs) == eq.Limit {
		out.NextCursor = strconv.FormatInt(evs[len(evs)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

// joinTypes lists event types for an error message.
func joinTypes(ts []event.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// queryBool reads a boolean query parameter: 1/true or 0/false, dflt when
// absent; ok is false for any other value.
func queryBool(v string, dflt bool) (value, ok bool) {
	switch v {
	case "":
		return dflt, true
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}
