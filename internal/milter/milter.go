package milter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-milter"

	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/store"
)

// Store is what the milter needs: the cluster a SASL login names, its
// sending domains, and the queue where it records a VERP address for mail
// that Postfix delivers itself.
type Store interface {
	Cluster(ctx context.Context, id string) (store.Cluster, error)
	Suppressed(ctx context.Context, clusterID, address string) (bool, error)
	SendingDomainByName(ctx context.Context, clusterID, name string) (store.SendingDomain, error)
	EnqueueMail(ctx context.Context, mails []store.Mail) error
}

// Server is the milter service.
type Server struct {
	Composer *relay.Composer
	Store    Store
	Log      *slog.Logger
	// Cluster, if set, owns mail whose client did not log in as a cluster
	// (a Postfix that sends for one cluster; scope it with
	// smtpd_milter_maps to the clients allowed to send).
	Cluster string
}

// Listen starts the service on addr (host:port); it stops when ctx ends.
func (s *Server) Listen(ctx context.Context, addr string) (net.Addr, error) {
	if s.Log == nil {
		s.Log = slog.Default()
	}
	srv := &milter.Server{
		NewMilter: func() milter.Milter { return &session{s: s} },
		Actions:   milter.OptAddHeader | milter.OptChangeHeader | milter.OptChangeBody | milter.OptChangeFrom,
		Protocol:  milter.OptNoConnect | milter.OptNoHelo,
	}
	return relay.Serve(ctx, addr, srv.Serve, srv.Close, milter.ErrServerClosed, s.Log, "milter")
}

// session is one SMTP connection's messages.
type session struct {
	milter.NoOpMilter
	s      *Server
	from   string
	rcpts  []string
	fields [][2]string // header fields as Postfix passed them, in order
	body   bytes.Buffer
	big    bool
	login  string // the client's SASL login ({auth_authen})
}

func (ss *session) reset() {
	ss.from, ss.rcpts, ss.fields, ss.big, ss.login = "", nil, nil, false, ""
	ss.body.Reset()
}

func (ss *session) MailFrom(from string, m *milter.Modifier) (milter.Response, error) {
	ss.reset()
	ss.from = from
	// Postfix sends {auth_authen} with MAIL FROM; go-milter replaces its
	// macros with each stage's, so it is kept now.
	ss.login = m.Macros["{auth_authen}"]
	return milter.RespContinue, nil
}

func (ss *session) RcptTo(rcpt string, _ *milter.Modifier) (milter.Response, error) {
	ss.rcpts = append(ss.rcpts, rcpt)
	return milter.RespContinue, nil
}

func (ss *session) Header(name, value string, _ *milter.Modifier) (milter.Response, error) {
	ss.fields = append(ss.fields, [2]string{name, value})
	return milter.RespContinue, nil
}

func (ss *session) BodyChunk(chunk []byte, _ *milter.Modifier) (milter.Response, error) {
	if ss.body.Len()+len(chunk) > relay.MaxMessage {
		ss.big = true
		return milter.RespContinue, nil
	}
	ss.body.Write(chunk)
	return milter.RespContinue, nil
}

func (ss *session) Abort(*milter.Modifier) error {
	ss.reset()
	return nil
}

// field renders a header field as Postfix passed it, with CRLF folding.
func field(name, value string) string {
	value = strings.ReplaceAll(strings.ReplaceAll(value, "\r\n", "\n"), "\n", "\r\n")
	return name + ": " + value + "\r\n"
}

// Body composes the message as the relay would and tells the MTA what to
// change.
func (ss *session) Body(m *milter.Modifier) (milter.Response, error) {
	defer ss.reset()
	if ss.big {
		return milter.RespAccept, nil
	}
	var raw bytes.Buffer
	for _, f := range ss.fields {
		raw.WriteString(field(f[0], f[1]))
	}
	raw.WriteString("\r\n")
	raw.Write(ss.body.Bytes())
	ctx := context.Background()
	cluster, err := ss.cluster(ctx, raw.Bytes())
	if err != nil {
		ss.s.Log.Error("milter: find the cluster", "err", err)
		return milter.RespTempFail, nil
	}
	if cluster == "" {
		return milter.RespAccept, nil // not mail of a sending domain
	}
	// The cluster's suppression list holds here as over SMTP and the API:
	// a suppressed recipient is taken off the envelope, and a message left
	// with none is refused.
	var kept []string
	for _, rc := range ss.rcpts {
		addr := strings.Trim(rc, "<>")
		suppressed, err := ss.s.Store.Suppressed(ctx, cluster, addr)
		if err != nil {
			ss.s.Log.Error("milter: suppression check", "err", err)
			return milter.RespTempFail, nil
		}
		if !suppressed {
			kept = append(kept, rc)
			continue
		}
		ss.s.Log.Info("milter: suppressed recipient removed", "cluster", cluster, "rcpt", addr)
		if err := m.DeleteRecipient(rc); err != nil {
			return nil, err
		}
	}
	if len(kept) == 0 {
		return milter.NewResponseStr('y', relay.ErrSuppressed.With("every recipient is on this cluster's suppression list (unsubscribed, bounced or complained); not sent").Reply()), nil
	}
	ss.rcpts = kept
	msg, err := ss.s.Composer.Prepare(ctx, relay.Submission{ClusterID: cluster, Raw: raw.Bytes(), Sign: true})
	var ref *relay.Refusal
	if errors.As(err, &ref) {
		return milter.NewResponseStr('y', ref.Reply()), nil
	}
	if err != nil {
		ss.s.Log.Error("milter: compose", "err", err)
		return milter.RespTempFail, nil
	}
	// Links carry one recipient: a message to several is signed but its
	// links are left alone (an unsubscribe link must not unsubscribe
	// someone else).
	rcpt := ""
	if len(ss.rcpts) == 1 {
		rcpt = strings.Trim(ss.rcpts[0], "<>")
	} else {
		msg.Tracking = false
	}
	var out bytes.Buffer
	if err := msg.WriteCopy(&out, cluster, rcpt); err != nil {
		if errors.As(err, &ref) {
			return milter.NewResponseStr('y', ref.Reply()), nil
		}
		return milter.RespTempFail, nil
	}
	if err := ss.apply(m, out.Bytes()); err != nil {
		ss.s.Log.Error("milter: modify", "err", err)
		return milter.RespTempFail, nil
	}
	if msg.Domain == nil {
		// Unsigned (the cluster's unsigned_mail is relay): the client's
		// envelope sender stays, and its bounces go there.
		ss.s.Log.Info("milter: unsigned", "cluster", cluster, "from_domain", msg.FromDomain, "message", msg.ID)
	} else if rcpt != "" {
		// The VERP envelope sender, with the row a bounce finds it by.
		id := relay.NewMailID()
		now := time.Now()
		verp := relay.VERP(id, msg.Domain.BounceHost)
		if err := ss.s.Store.EnqueueMail(ctx, []store.Mail{{ID: id, ClusterID: cluster, MessageID: msg.ID, From: verp, Rcpt: rcpt,
			ServerURL: "milter", Status: store.MailSent, NextAt: now, CreatedAt: now, SendingDomain: msg.Domain.Name}}); err != nil {
			ss.s.Log.Error("milter: record", "err", err)
			return milter.RespTempFail, nil
		}
		if err := m.ChangeFrom("<" + verp + ">"); err != nil {
			return nil, err
		}
	}
	return milter.RespAccept, nil
}

// cluster finds whose mail this is: the cluster the client logged in as
// (a SASL login that is a cluster id), else --milter-cluster for a client
// that did not log in. Empty: nobody's, passed untouched. The From domain
// must then be an active sending domain of that cluster, unless its
// unsigned_mail is relay (Prepare).
func (ss *session) cluster(ctx context.Context, raw []byte) (string, error) {
	if ss.login != "" {
		if !strings.HasPrefix(ss.login, "cl_") {
			return "", nil
		}
		if _, err := ss.s.Store.Cluster(ctx, ss.login); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return "", nil
			}
			return "", err
		}
		return ss.login, nil
	}
	if ss.s.Cluster == "" {
		return "", nil
	}
	// Only mail from one of the cluster's sending domains is its mail,
	// unless the cluster relays unsigned mail: then all of it is.
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return "", nil
	}
	from, err := dkim.FromDomain(h)
	if err != nil {
		return "", nil
	}
	if _, err := ss.s.Store.SendingDomainByName(ctx, ss.s.Cluster, from); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		c, err := ss.s.Store.Cluster(ctx, ss.s.Cluster)
		if err != nil {
			return "", err
		}
		if relay.UnsignedMail(c.UnsignedMail) != relay.UnsignedRelay {
			return "", nil
		}
	}
	return ss.s.Cluster, nil
}

// apply changes the MTA's copy into out: header names whose fields differ
// are replaced (deleted, then added in order: DKIM compares fields of one
// name in order, so moving them together keeps signatures valid), and the
// body is replaced if it changed.
func (ss *session) apply(m *milter.Modifier, out []byte) error {
	br := bufio.NewReader(bytes.NewReader(out))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return err
	}
	var newFields [][2]string
	for f := h.Fields(); f.Next(); {
		b, err := f.Raw()
		if err != nil {
			return err
		}
		name, value, _ := strings.Cut(strings.TrimRight(string(b), "\r\n"), ":")
		newFields = append(newFields, [2]string{name, strings.TrimPrefix(value, " ")})
	}
	byName := func(fs [][2]string) map[string][]string {
		out := map[string][]string{}
		for _, f := range fs {
			k := strings.ToLower(f[0])
			out[k] = append(out[k], normalize(f[1]))
		}
		return out
	}
	before, after := byName(ss.fields), byName(newFields)
	changed := map[string]bool{}
	for k, v := range before {
		if !slices.Equal(v, after[k]) {
			changed[k] = true
		}
	}
	for k, v := range after {
		if !slices.Equal(v, before[k]) {
			changed[k] = true
		}
	}
	// Delete the old fields of changed names, last first (indices are per
	// name and shift as fields go).
	count := map[string]int{}
	for _, f := range ss.fields {
		count[strings.ToLower(f[0])]++
	}
	for k := range changed {
		for i := count[k]; i >= 1; i-- {
			if err := m.ChangeHeader(i, k, ""); err != nil {
				return err
			}
		}
	}
	for _, f := range newFields {
		if changed[strings.ToLower(f[0])] {
			if err := m.AddHeader(f[0], strings.ReplaceAll(f[1], "\r\n", "\n")); err != nil {
				return err
			}
		}
	}
	var body bytes.Buffer
	body.ReadFrom(br)
	if !bytes.Equal(body.Bytes(), ss.body.Bytes()) {
		return m.ReplaceBody(body.Bytes())
	}
	return nil
}

// normalize compares header values as relaxed canonicalisation would.
func normalize(v string) string { return strings.Join(strings.Fields(v), " ") }
