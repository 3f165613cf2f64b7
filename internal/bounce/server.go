package bounce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/store"
)

// Store is what the bounce server needs: the queue row behind a VERP
// address, the suppression list and the event log.
type Store interface {
	MailByID(ctx context.Context, id string) (store.Mail, error)
	FirstReport(ctx context.Context, mailID, kind, reporter string, now time.Time) (bool, error)
	store.Suppressions
	InsertEvents(ctx context.Context, events []store.Event) error
}

// Server is the inbound SMTP service of the bounce hosts (--bounce-smtp).
// It takes mail only for the VERP addresses of messages waymark relayed,
// and turns DSNs into bounce events and ARF reports into complaints; hard
// bounces and complaints put the recipient on the suppression list.
type Server struct {
	Store    Store
	Hostname string
	Log      *slog.Logger
	// Metrics counts sessions and refusals, with the relay's (nil: none).
	Metrics *relay.Metrics
	// Events, if set, is told about committed events (webhooks).
	Events func([]store.Event)
	// ShutdownTimeout is how long sessions in flight may finish once ctx
	// ends (default relay.DefaultShutdownTimeout).
	ShutdownTimeout time.Duration

	stopped chan struct{}
}

// Stopped is closed once the service has stopped after its context ended:
// every session is over.
func (s *Server) Stopped() <-chan struct{} { return s.stopped }

// maxReport bounds a bounce message: reports carry the original message,
// but nothing needs more.
const maxReport = 10 << 20

// Listen starts the service on addr; it stops when ctx ends.
func (s *Server) Listen(ctx context.Context, addr string) (net.Addr, error) {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	srv := smtp.NewServer(s)
	srv.Domain = s.Hostname
	srv.MaxMessageBytes = maxReport
	srv.MaxRecipients = 100
	srv.ReadTimeout, srv.WriteTimeout = 2*time.Minute, 2*time.Minute
	s.stopped = make(chan struct{})
	return relay.Serve(ctx, addr, srv.Serve, func() error {
		defer close(s.stopped)
		return relay.GracefulClose(srv, s.ShutdownTimeout)
	}, smtp.ErrServerClosed, s.Log, "bounce smtp")
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.Metrics.Session("bounce")
	return &session{s: s, remote: c.Conn().RemoteAddr().String()}, nil
}

type session struct {
	s      *Server
	remote string
	mails  []store.Mail
}

func (ss *session) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *session) Reset()                               { ss.mails = nil }
func (ss *session) Logout() error                        { return nil }

func noSuchAddress(to string) error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: fmt.Sprintf("%s: no such address here (this host only takes bounces of mail it sent)", to)}
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	return ss.s.Metrics.Refused("bounce", ss.rcpt(to, opts))
}

func (ss *session) Data(r io.Reader) error {
	return ss.s.Metrics.Refused("bounce", ss.data(r))
}

func (ss *session) rcpt(to string, _ *smtp.RcptOptions) error {
	id, ok := relay.ParseVERP(to)
	if !ok {
		return noSuchAddress(to)
	}
	m, err := ss.s.Store.MailByID(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !strings.EqualFold(m.From, strings.TrimSpace(to))) {
		return noSuchAddress(to)
	}
	if err != nil {
		ss.s.Log.Error("bounce smtp: look up", "id", id, "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	ss.mails = append(ss.mails, m)
	return nil
}

func (ss *session) data(r io.Reader) error {
	data, err := relay.ReadData(r)
	if err != nil {
		return err
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return relay.ErrNUL.SMTPError()
	}
	rep, err := Parse(data)
	if err != nil {
		// Taken and dropped: refusing a bounce only makes another one.
		ss.s.Log.Info("bounce smtp: not a report, ignored", "remote", ss.remote, "err", err)
		return nil
	}
	now := time.Now()
	var events []store.Event
	for _, m := range ss.mails {
		ev := store.Event{ID: store.NewEventID(now), ClusterID: m.ClusterID, At: now, MessageID: m.MessageID, Recipient: m.Rcpt}
		// One event per copy, type and reporter: a replayed report must not
		// inflate the cluster's bounce or complaint rate.
		first := func(typ event.Type) (bool, error) {
			ok, err := ss.s.Store.FirstReport(context.Background(), m.ID, string(typ), rep.Reporter, now)
			if err == nil && !ok {
				ss.s.Log.Info("bounce smtp: a report already counted, ignored", "mail", m.ID, "type", typ, "reporter", rep.Reporter)
			}
			return ok, err
		}
		switch rep.Kind {
		case ARF:
			if ok, err := first(event.Complaint); err != nil {
				return ss.tempfail(err)
			} else if !ok {
				continue
			}
			ev.Type, ev.Reason = event.Complaint, rep.FeedbackType
			if err := ss.s.Store.Suppress(context.Background(), m.ClusterID, m.Rcpt, event.ReasonComplaint, "message "+m.MessageID, now); err != nil {
				return ss.tempfail(err)
			}
		case DSN:
			rc, own, ok := recipientOf(rep, m.Rcpt)
			if !ok {
				continue // a success or delay notice without a failure
			}
			if ok, err := first(event.Bounce); err != nil {
				return ss.tempfail(err)
			} else if !ok {
				continue
			}
			ev.Type, ev.Class = event.Bounce, event.Soft
			ev.Reason = strings.TrimSpace(rc.Status + " " + rc.Diagnostic)
			if !own {
				// Another address failed (an auto-forward, an alias): it says
				// nothing for sure about this recipient.
				ev.Reason = strings.TrimSpace("reported for " + rc.Address + ": " + ev.Reason)
			} else if rc.Hard() {
				ev.Class = event.Hard
				if err := ss.s.Store.Suppress(context.Background(), m.ClusterID, m.Rcpt, event.ReasonBounce, "message "+m.MessageID, now); err != nil {
					return ss.tempfail(err)
				}
			}
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		return nil
	}
	if err := ss.s.Store.InsertEvents(context.Background(), events); err != nil {
		return ss.tempfail(err)
	}
	for _, e := range events {
		ss.s.Metrics.Recorded(string(e.Type), string(e.Class))
	}
	if ss.s.Events != nil {
		ss.s.Events(events)
	}
	return nil
}

func (ss *session) tempfail(err error) error {
	ss.s.Log.Error("bounce smtp: record", "err", err)
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "could not record the report, try again later"}
}

// recipientOf picks the failure that concerns rcpt in a DSN: its own
// entry (own), or else the only failure it reports.
func recipientOf(rep Report, rcpt string) (r Recipient, own, ok bool) {
	var failed []Recipient
	for _, r := range rep.Recipients {
		if r.Failed() {
			if strings.EqualFold(r.Address, rcpt) {
				return r, true, true
			}
			failed = append(failed, r)
		}
	}
	if len(failed) == 1 {
		return failed[0], false, true
	}
	return Recipient{}, false, false
}
