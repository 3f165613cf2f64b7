package relay

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/time/rate"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/throttle"
)

// SessionStore is what an SMTP session reads: the cluster an AUTH key
// belongs to and its suppression list.
type SessionStore interface {
	ClusterByKey(ctx context.Context, keyHash string) (store.Cluster, error)
	Suppressed(ctx context.Context, clusterID, address string) (bool, error)
}

// SMTPServer is the SMTP submission service (--smtp): a client
// authenticates with its cluster id and an API key (AUTH PLAIN, after
// STARTTLS), and each message goes through Relay.Submit.
type SMTPServer struct {
	Relay *Relay
	Store SessionStore
	// Hostname is the name in the greeting and the TLS certificate.
	Hostname string
	// TLS is the certificate for STARTTLS; nil makes a self-signed one.
	TLS *tls.Config
	// Rate is how many messages a second each cluster may submit, with
	// Burst at once; zero is no limit.
	Rate  float64
	Burst int
	// MaxRecipients bounds one message's recipients (default 1000).
	MaxRecipients int
	// MaxBytes bounds one message (default MaxMessage).
	MaxBytes int64
	Log      *slog.Logger
	// ShutdownTimeout is how long sessions in flight may finish once ctx
	// ends (default DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// Failures counts failed AUTHs per client address and cluster id
	// (default throttle.Default: five in five minutes).
	Failures *throttle.Failures
	// Metrics counts sessions, failed AUTHs and refusals (the relay's).
	Metrics *Metrics

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	stopped  chan struct{}
}

// Listen starts the service on addr and returns its listener address; it
// stops when ctx ends.
func (s *SMTPServer) Listen(ctx context.Context, addr string) (net.Addr, error) {
	if s.TLS == nil {
		cert, err := selfSigned(s.Hostname)
		if err != nil {
			return nil, err
		}
		s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if s.MaxRecipients == 0 {
		s.MaxRecipients = MaxRecipients
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = MaxMessage
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	srv := smtp.NewServer(s)
	srv.Domain = s.Hostname
	srv.TLSConfig = s.TLS
	srv.MaxMessageBytes = s.MaxBytes
	srv.MaxRecipients = s.MaxRecipients
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Minute, 5*time.Minute
	srv.EnableSMTPUTF8 = false
	s.stopped = make(chan struct{})
	return Serve(ctx, addr, srv.Serve, func() error {
		defer close(s.stopped)
		return GracefulClose(srv, s.ShutdownTimeout)
	}, smtp.ErrServerClosed, s.Log, "smtp submission")
}

// selfSigned makes a certificate for STARTTLS when none is given: mail
// clients on the operator's network can pin it, and the channel is
// encrypted either way.
func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// NewSession implements smtp.Backend.
func (s *SMTPServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	remote := c.Conn().RemoteAddr().String()
	s.Metrics.Session("submission")
	// A client that kept failing AUTH is turned away at once.
	if wait, blocked := s.failures().Blocked("ip:" + throttle.Host(remote)); blocked {
		s.Metrics.AuthFailed("submission", "throttled")
		return nil, ErrClientThrottled.With("too many failed authentications from this address: try again in %d seconds", int(wait.Seconds())+1).SMTPError()
	}
	return &session{s: s, conn: c, remote: remote}, nil
}

func (s *SMTPServer) limiter(clusterID string) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limiters == nil {
		s.limiters = map[string]*rate.Limiter{}
	}
	l, ok := s.limiters[clusterID]
	if !ok {
		l = rate.NewLimiter(rate.Limit(s.Rate), max(s.Burst, 1))
		s.limiters[clusterID] = l
	}
	return l
}

type session struct {
	s       *SMTPServer
	conn    *smtp.Conn
	remote  string
	cluster string
	keyHash string // of the key AUTH took: each message checks it is still live
	from    string // the envelope sender, kept only for unsigned mail
	rcpts   []string
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, ErrAuthMechanism.SMTPError()
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		client := "ip:" + throttle.Host(ss.remote)
		throttled := func(wait time.Duration) error {
			// Guessing is slowed and the connection ends after the reply.
			ss.s.Log.Warn("smtp auth throttled", "remote", ss.remote, "user", username, "for", wait.Round(time.Second))
			ss.s.Metrics.AuthFailed("submission", "throttled")
			time.Sleep(authDelay)
			ss.closeSoon()
			return ErrAuthThrottled.With("too many failed authentications: try again in %d seconds", int(wait.Seconds())+1).SMTPError()
		}
		if wait, blocked := ss.s.failures().Blocked(client); blocked {
			return throttled(wait)
		}
		c, err := ss.s.Store.ClusterByKey(context.Background(), apikey.Hash(password))
		if err != nil || c.ID != username || (identity != "" && identity != username) {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				ss.s.Log.Error("smtp auth", "err", err)
				return ErrAuthUnavailable.SMTPError()
			}
			// A cluster id guessed at from many addresses slows every
			// wrong key for it; its right key still gets in, so nobody can
			// lock a cluster out by failing in its name.
			if wait, blocked := ss.s.failures().Blocked("cluster:" + username); blocked {
				ss.s.failures().Fail(client)
				return throttled(wait)
			}
			ss.s.failures().Fail(client)
			ss.s.failures().Fail("cluster:" + username)
			ss.s.Log.Info("smtp auth refused", "remote", ss.remote, "user", username)
			ss.s.Metrics.AuthFailed("submission", "wrong_key")
			return ErrAuthFailed.SMTPError()
		}
		ss.cluster, ss.keyHash = c.ID, apikey.Hash(password)
		return nil
	}), nil
}

// authDelay is how long a throttled AUTH waits before its answer.
const authDelay = time.Second

// closeSoon ends the connection once the reply being written is out.
func (ss *session) closeSoon() {
	if ss.conn != nil {
		time.AfterFunc(200*time.Millisecond, func() { ss.conn.Close() })
	}
}

// failures is the count of failed AUTHs by client and cluster id.
func (s *SMTPServer) failures() *throttle.Failures {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Failures == nil {
		s.Failures = throttle.Default()
	}
	return s.Failures
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	return ss.s.Metrics.Refused("submission", ss.mail(from, opts))
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	return ss.s.Metrics.Refused("submission", ss.rcpt(to, opts))
}

func (ss *session) Data(r io.Reader) error {
	err := ss.data(r)
	if se, ok := err.(*smtp.SMTPError); ok && se.Code < 400 {
		return err // the 250 go-smtp sends as an error
	}
	return ss.s.Metrics.Refused("submission", err)
}

func (ss *session) mail(from string, _ *smtp.MailOptions) error {
	if ss.cluster == "" {
		return ErrAuthRequired.SMTPError()
	}
	if err := ss.keyLive(); err != nil {
		return err
	}
	if ss.s.Rate > 0 && !ss.s.limiter(ss.cluster).Allow() {
		return ErrRateLimited.With("this cluster is over its rate of %g messages a second: try again shortly", ss.s.Rate).SMTPError()
	}
	ss.from = from // signed mail gets a VERP address instead
	return nil
}

// keyLive refuses a session whose key was revoked (or its cluster
// deleted) since AUTH: asked at each MAIL FROM and again before a message
// is queued, so a revocation holds at once (one lookup by primary key).
func (ss *session) keyLive() error {
	c, err := ss.s.Store.ClusterByKey(context.Background(), ss.keyHash)
	if err == nil && c.ID == ss.cluster {
		return nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		ss.s.Log.Error("smtp: checking the session's key", "err", err)
		return ErrAuthUnavailable.SMTPError()
	}
	ss.s.Log.Info("smtp: key revoked during the session", "remote", ss.remote, "cluster", ss.cluster)
	ss.cluster, ss.keyHash = "", ""
	return ErrKeyRevoked.SMTPError()
}

func (ss *session) rcpt(to string, _ *smtp.RcptOptions) error {
	addr, err := ParseRecipient(to)
	if err != nil {
		return ErrBadAddress.With("%q is not an email address", to).SMTPError()
	}
	suppressed, err := ss.s.Store.Suppressed(context.Background(), ss.cluster, addr)
	if err != nil {
		return ErrSuppressionCheck.SMTPError()
	}
	if suppressed {
		return ErrSuppressed.With("%s is on this cluster's suppression list (unsubscribed, bounced or complained); not sent", addr).SMTPError()
	}
	ss.rcpts = append(ss.rcpts, addr)
	return nil
}

// ReadData reads a DATA body whole. Its error is an SMTP reply: go-smtp's
// own for a message over the size limit, a permanent refusal for a line
// too long to read (sending it again cannot help), else 451 4.3.0.
func ReadData(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, se // too large
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			return nil, ErrLineTooLong.SMTPError()
		}
		return nil, ErrReadFailed.With("could not read the message: %v", err).SMTPError()
	}
	return buf.Bytes(), nil
}

func (ss *session) data(r io.Reader) error {
	data, err := ReadData(r)
	if err != nil {
		return err
	}
	if bareLineBreak(data) {
		return ErrBareLineBreak.SMTPError()
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return ErrNUL.SMTPError()
	}
	if err := ss.keyLive(); err != nil {
		return err
	}
	res, err := ss.s.Relay.Submit(context.Background(), ss.cluster, ss.from, data, ss.rcpts, "")
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		return ref.SMTPError()
	case err != nil:
		ss.s.Log.Error("smtp submission", "cluster", ss.cluster, "err", err)
		return ErrQueueFailed.SMTPError()
	}
	ids := make([]string, len(res.Queued))
	for i, q := range res.Queued {
		ids[i] = q.ID
	}
	// go-smtp sends a 250 "error" as the reply to DATA.
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: queuedText(res.MessageID, ids)}
}

func (ss *session) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *session) Logout() error { return nil }

// Serve listens on addr and runs serve on the listener until ctx ends,
// when closeFn stops it; an error other than closed is logged as what.
// The SMTP submission, bounce and milter services start this way.
func Serve(ctx context.Context, addr string, serve func(net.Listener) error, closeFn func() error, closed error, log *slog.Logger, what string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		closeFn()
	}()
	go func() {
		if err := serve(ln); err != nil && !errors.Is(err, closed) && ctx.Err() == nil {
			log.Error(what, "err", err)
		}
	}()
	return ln.Addr(), nil
}

// bareLineBreak reports a CR not followed by LF, or an LF not after a CR.
func bareLineBreak(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			return true
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return true
		}
	}
	return false
}

// maxReplyText is what a reply line leaves for its text: 512 octets with
// the code and CRLF (RFC 5321 section 4.5.3.1.5), less "250 2.0.0 ".
const maxReplyText = 512 - len("250 2.0.0 ") - len("\r\n")

// queuedText is the text of the reply to DATA: the message id and the queue
// ids of its copies, as many as fit on one reply line, then how many more.
func queuedText(messageID string, ids []string) string {
	text := "queued as " + messageID + " ("
	for i, id := range ids {
		sep := " "
		if i == 0 {
			sep = ""
		}
		tail := ")"
		if rest := len(ids) - i - 1; rest > 0 {
			tail = fmt.Sprintf(" and %d more)", rest)
		}
		if len(text)+len(sep)+len(id)+len(tail) > maxReplyText {
			// The previous round made room for this.
			return text + sep + fmt.Sprintf("and %d more)", len(ids)-i)
		}
		text += sep + id
	}
	return text + ")"
}

// GracefulClose stops srv taking connections and lets the sessions it has
// finish for up to timeout (a message whose DATA is in flight gets its
// reply); sessions still open then end with the process.
func GracefulClose(srv *smtp.Server, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return srv.Shutdown(ctx)
}

// DefaultShutdownTimeout is how long a stopping node lets SMTP sessions and
// deliveries in flight finish (--shutdown-timeout).
const DefaultShutdownTimeout = 30 * time.Second

// Stopped is closed once the service has stopped after its context ended:
// every session is over.
func (s *SMTPServer) Stopped() <-chan struct{} { return s.stopped }
