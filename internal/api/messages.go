package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/track"
)

// Tokens gives the key a cluster's new tokens are signed with.
type Tokens interface {
	Current(ctx context.Context, clusterID string) (store.TokenKey, error)
}

// maxMessage bounds a submitted message.
const maxMessage = 25 << 20

// TrackingHeader overrides the tracking host of one message.
const TrackingHeader = "X-Waymark-Tracking-Domain"

// isControlHeader reports the X-Waymark-* headers, removed before sending.
func isControlHeader(key string) bool {
	return strings.HasPrefix(strings.ToLower(key), "x-waymark-")
}

// submitMessage rewrites a raw MIME message for one recipient. Only
// ?dry_run=1 exists until the relay is built: the answer is the message as
// it would be sent.
func (s *Server) submitMessage(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	if q.Get("dry_run") != "1" && q.Get("dry_run") != "true" {
		writeError(w, http.StatusUnprocessableEntity, "relay_not_built",
			"this server cannot send yet (the relay is not built); use ?dry_run=1 to see the rewritten message", "dry_run")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessage))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		writeError(w, http.StatusBadRequest, "message_too_large", fmt.Sprintf("the message is larger than %d bytes", maxMessage), "")
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
	recipient := strings.TrimSpace(q.Get("recipient"))
	if recipient == "" {
		if to, err := mail.ParseAddressList(h.Get("To")); err == nil && len(to) > 0 {
			recipient = to[0].Address
		}
	}
	addr, err := mail.ParseAddress(recipient)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "recipient_invalid",
			"give the recipient as ?recipient=name@example.com or in the To header", "recipient")
		return
	}
	recipient = addr.Address // "Ann <ann@example.com>" mints for ann@example.com
	// The sending domain of the From address signs, and its click host
	// carries the links.
	fromDomain, fromErr := dkim.FromDomain(h)
	var sd *store.SendingDomain
	if fromErr == nil {
		d, err := s.store.SendingDomainByName(r.Context(), p.Cluster.ID, fromDomain)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.internal(w, r, err)
			return
		}
		if err == nil {
			sd = &d
		}
	}
	clickHost := ""
	if sd != nil {
		clickHost = sd.ClickHost
	}
	host, err := s.trackingHost(r.Context(), p.Cluster.ID, h.Get(TrackingHeader), clickHost)
	var he *track.HeaderError
	if errors.As(err, &he) {
		writeError(w, http.StatusUnprocessableEntity, "tracking_domain_not_active", he.Error(), TrackingHeader)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	key, err := s.tokens.Current(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	messageID := q.Get("message_id")
	if messageID == "" {
		messageID = apikey.NewID("msg")
	} else if len(messageID) > 128 || !utf8.ValidString(messageID) || strings.ContainsAny(messageID, "\r\n") {
		writeError(w, http.StatusBadRequest, "invalid_query", "message_id must be valid UTF-8, one line, at most 128 bytes", "message_id")
		return
	}
	issued := time.Now()
	rw := &track.Rewriter{Host: host, Drop: isControlHeader, Mint: func(kind track.Kind, url string) (string, error) {
		return track.Encode(track.Token{Kind: kind, KeyID: key.ID, Issued: issued, ClusterID: p.Cluster.ID,
			MessageID: messageID, Recipient: recipient, URL: url}, key.Secret)
	}}
	// The From domain signs: it must be one address of a verified sending
	// domain of the cluster (checked before any work is done).
	var signer *store.SendingDomain
	if q.Get("sign") != "0" {
		if fromErr != nil {
			code := "from_invalid"
			switch {
			case errors.Is(fromErr, dkim.ErrNoFrom):
				code = "from_missing"
			case errors.Is(fromErr, dkim.ErrManyFrom), errors.Is(fromErr, dkim.ErrManyAddresses):
				code = "from_multiple"
			}
			writeError(w, http.StatusUnprocessableEntity, code, strings.TrimPrefix(fromErr.Error(), "dkim: ")+"; the message needs exactly one From address", "From")
			return
		}
		if sd == nil || sd.Status != domain.StatusActive {
			writeError(w, http.StatusUnprocessableEntity, "from_domain_not_verified",
				fmt.Sprintf("%s is not a verified sending domain of this cluster: add it (waymark sending-domain add %s), publish its records and verify it; "+
					"?sign=0 previews the tracking without signing", fromDomain, fromDomain), "From")
			return
		}
		signer = sd
	}
	var out bytes.Buffer
	if err := rw.Message(&out, bytes.NewReader(raw)); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_message", "the message could not be rewritten: "+err.Error(), "")
		return
	}
	if signer != nil {
		keys, err := s.signingKeys(r.Context(), *signer)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		var signed bytes.Buffer
		if err := dkim.Sign(&signed, &out, signer.Name, keys); err != nil {
			s.internal(w, r, err)
			return
		}
		out = signed
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("X-Waymark-Message-Id", messageID)
	w.Header().Set("X-Waymark-Tracking-Host", host)
	w.Write(out.Bytes())
}

// signingKeys opens the keys that sign for d now, one per algorithm.
func (s *Server) signingKeys(ctx context.Context, d store.SendingDomain) ([]dkim.Key, error) {
	stored, err := s.store.DKIMKeys(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	return sending.SigningKeys(s.box, d, stored)
}

// trackingHost picks a message's tracking host in the SPEC's order:
// header, the sending domain's click host, (the delivery server's
// tracking domain, when the relay is built), the cluster default, the
// platform host.
func (s *Server) trackingHost(ctx context.Context, clusterID, header, clickHost string) (string, error) {
	domains, err := s.store.TrackingDomains(ctx, clusterID)
	if err != nil {
		return "", err
	}
	active := map[string]bool{}
	dflt := ""
	for _, d := range domains {
		if d.Status == domain.StatusActive {
			active[d.Name] = true
			if d.Default {
				dflt = d.Name
			}
		}
	}
	if header != "" {
		if n, err := domain.Normalize(header); err == nil {
			header = n
		}
	}
	return track.Host(track.HostChoice{Header: header, ClickHost: clickHost, Default: dflt, Platform: s.platform,
		Active: func(n string) bool { return active[n] }})
}

// Event is a tracking event as the API shows it.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	MessageID string    `json:"message_id"`
	Recipient string    `json:"recipient"`
	URL       string    `json:"url,omitempty"`
	Host      string    `json:"host"`
	ClientIP  string    `json:"client_ip"`
	UserAgent string    `json:"user_agent"`
	Class     string    `json:"class"`
	Reason    string    `json:"reason,omitempty"`
}

// EventOf is the API's view of a stored event (also webhook data).
func EventOf(e store.Event) Event {
	return Event{ID: e.ID, Type: e.Type, At: e.At, MessageID: e.MessageID, Recipient: e.Recipient, URL: e.URL,
		Host: e.Host, ClientIP: e.ClientIP, UserAgent: e.UserAgent, Class: e.Class, Reason: e.Reason}
}

// EventTypes are the event types of GET /v1/events.
var EventTypes = []string{"open", "click", "unsubscribe", "forward", "relayed", "bounce", "complaint"}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	eq := store.EventQuery{Type: q.Get("type"), MessageID: q.Get("message_id"), After: q.Get("cursor"), Limit: 100}
	if eq.Type != "" && !slices.Contains(EventTypes, eq.Type) {
		writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("type %q is not one of %s", eq.Type, strings.Join(EventTypes, ", ")), "type")
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
		out.NextCursor = evs[len(evs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}
