package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/groupcommit"
	"github.com/waymark-mail/waymark/internal/netguard"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/track"
)

// QueueStore is what the relay keeps: the mail queue, the messages saved
// for forward to a friend, and the suppression list it honours and adds to.
type QueueStore interface {
	store.MailQueue
	store.Messages
	store.Suppressions
}

// Relay queues composed messages and delivers them.
type Relay struct {
	Composer *Composer
	Store    QueueStore
	// Hostname is the name waymark gives in EHLO.
	Hostname string
	Retry    RetryPolicy
	Log      *slog.Logger
	// Events, if set, is told about committed relayed and bounce events
	// (webhooks).
	Events func([]store.Event)
	// Workers is how many deliveries run at once (default 4).
	Workers int
	// AllowPrivate lets a cluster's own delivery servers be on loopback
	// or private addresses (--delivery-allow-private); --delivery, set by
	// the operator, always may.
	AllowPrivate bool
	// Lease is how long a claimed message is left to one node's delivery
	// attempt before another node (or this one, restarted) may try it
	// (default DefaultLease).
	Lease time.Duration

	kick     chan struct{}
	commits  *groupcommit.Committer[store.Mail]
	once     sync.Once
	startTLS sync.Map // delivery server URL -> true when it offers STARTTLS
}

// RetryPolicy says when a temporary failure is tried again.
type RetryPolicy struct {
	// Base is the wait after the first failure; each next one doubles,
	// up to Max.
	Base, Max time.Duration
	// Expire is how long a message is tried before it bounces.
	Expire time.Duration
}

// DefaultLease outlasts a delivery attempt's deadlines (connect, command,
// data), so only a crash lets another worker retry a claimed message.
const DefaultLease = 10 * time.Minute

// DefaultRetry waits 1 minute, then 2, 4 … up to an hour, for 5 days.
var DefaultRetry = RetryPolicy{Base: time.Minute, Max: time.Hour, Expire: 5 * 24 * time.Hour}

// Next returns when a message that has failed attempts times (1 or more)
// is tried again, or false once it has expired.
func (p RetryPolicy) Next(created, now time.Time, attempts int) (time.Time, bool) {
	wait := p.Base
	for i := 1; i < attempts && wait < p.Max; i++ {
		wait *= 2
	}
	wait = min(wait, p.Max)
	if now.Add(wait).After(created.Add(p.Expire)) {
		return time.Time{}, false
	}
	return now.Add(wait), true
}

// Queued is one recipient's copy in the queue.
type Queued struct {
	Rcpt string
	ID   string
}

// Dropped is a recipient not sent to, and why.
type Dropped struct {
	Rcpt   string
	Reason string
}

// Result is what Submit did with a message.
type Result struct {
	MessageID string
	Queued    []Queued
	Dropped   []Dropped
}

// Submit composes a copy of the message for each recipient and queues
// them all in one transaction: when it returns without error, every copy
// is durable. Suppressed recipients are dropped, each with its reason.
func (r *Relay) Submit(ctx context.Context, clusterID string, raw []byte, rcpts []string, messageID string) (Result, error) {
	if len(rcpts) > MaxRecipients {
		return Result{}, ErrTooManyRecipients.With(
			"at most %d recipients a message: send the rest as another message", MaxRecipients)
	}
	if len(rcpts) > 1 && len(rcpts)*len(raw) > maxCopies {
		// Each recipient gets a copy of their own: bound what one
		// submission holds in memory and writes to the queue.
		return Result{}, ErrTooLarge.With(
			"a %d-byte message can go to at most %d recipients at once: send it in smaller batches", len(raw), maxCopies/len(raw))
	}
	m, err := r.Composer.Prepare(ctx, Submission{ClusterID: clusterID, Raw: raw, MessageID: messageID, Sign: true})
	if err != nil {
		return Result{}, err
	}
	if m.Server == "" {
		return Result{}, ErrNoDeliveryServer.With(
			"no delivery server is set up for this cluster: add one (POST /v1/delivery-servers) or start waymark with --delivery")
	}
	res := Result{MessageID: m.ID}
	now := time.Now()
	rawKey := ""
	if bytes.Contains(raw, []byte(track.ForwardPlaceholder)) {
		// Kept as it came, for the forward-to-a-friend form, under its
		// content's digest: copies that share a message id but not their
		// text (personalised mail) each forward what their recipient got.
		sum := sha256.Sum256(raw)
		rawKey = m.ID + "/" + hex.EncodeToString(sum[:12])
		if err := r.Store.SaveMessage(ctx, clusterID, rawKey, raw, now); err != nil {
			return Result{}, err
		}
	}
	var mails []store.Mail
	for _, rcpt := range rcpts {
		suppressed, err := r.Store.Suppressed(ctx, clusterID, rcpt)
		if err != nil {
			return Result{}, err
		}
		if suppressed {
			res.Dropped = append(res.Dropped, Dropped{Rcpt: rcpt, Reason: "on the cluster's suppression list (unsubscribed, bounced or complained)"})
			continue
		}
		id := NewMailID()
		var data bytes.Buffer
		if err := m.For(&data, clusterID, rcpt, QueueIDHeader, id); err != nil {
			return Result{}, err
		}
		mails = append(mails, store.Mail{ID: id, ClusterID: clusterID, MessageID: m.ID, From: VERP(id, m.Domain.BounceHost),
			Rcpt: rcpt, ServerURL: m.Server, Data: data.Bytes(), NextAt: now, CreatedAt: now, RawKey: rawKey})
		res.Queued = append(res.Queued, Queued{Rcpt: rcpt, ID: id})
	}
	if err := r.enqueue(ctx, mails); err != nil {
		return Result{}, err
	}
	r.wake()
	return res, nil
}

// enqueue commits mails durably. Submissions arriving together share one
// transaction, and so one fsync (group commit): with SQLite in
// synchronous=FULL mode a commit per message would bound the relay at the
// disk's fsync rate. If ctx ends first the commit may still happen: at
// least once.
func (r *Relay) enqueue(ctx context.Context, mails []store.Mail) error {
	r.init()
	return r.commits.Commit(ctx, mails)
}

// MaxRecipients bounds the recipients of one submission.
const MaxRecipients = 1000

// maxCopies bounds the bytes of one submission's copies.
const maxCopies = 256 << 20

// maxGroup and maxGroupBytes bound one group commit.
const (
	maxGroup      = 1000
	maxGroupBytes = 64 << 20
)

// MaxForwards bounds how many times one recipient may forward a message,
// so that a link in a message cannot become a way to mail anyone.
const MaxForwards = 5

// Forward sends the message one recipient got on to a friend: a new
// message, addressed To the friend, with the friend's own links and no
// forward link of its own (a forward does not multiply into more).
func (r *Relay) Forward(ctx context.Context, clusterID, messageID, recipient, friend string) (Result, error) {
	sent, err := r.Store.MailFor(ctx, clusterID, messageID, recipient)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sent.RawKey == "") {
		return Result{}, ErrForwardUnavailable
	}
	if err != nil {
		return Result{}, err
	}
	raw, err := r.Store.Message(ctx, clusterID, sent.RawKey)
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, ErrForwardUnavailable
	}
	if err != nil {
		return Result{}, err
	}
	if ok, err := r.Store.TakeForward(ctx, clusterID, messageID, recipient, MaxForwards); err != nil {
		return Result{}, err
	} else if !ok {
		return Result{}, ErrForwardLimit
	}
	raw = bytes.ReplaceAll(raw, []byte(track.ForwardPlaceholder), nil)
	raw, err = readdress(raw, friend)
	if err != nil {
		return Result{}, ErrInvalidMessage.With("the message could not be forwarded: %v", err)
	}
	return r.Submit(ctx, clusterID, raw, []string{friend}, "")
}

// readdress makes To the friend and drops Cc and Bcc.
func readdress(raw []byte, to string) ([]byte, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, err
	}
	h.Del("Cc")
	h.Del("Bcc")
	h.Set("To", to)
	var out bytes.Buffer
	if err := textproto.WriteHeader(&out, h); err != nil {
		return nil, err
	}
	_, err = out.ReadFrom(br)
	return out.Bytes(), err
}

// retention is how long finished queue rows (for VERP bounces) and saved
// messages (for forwards) are kept.
const retention = 30 * 24 * time.Hour

// purge drops what retention no longer needs.
func (r *Relay) purge(ctx context.Context) {
	before := time.Now().Add(-retention)
	if n, err := r.Store.PurgeMail(ctx, before); err != nil {
		r.Log.Error("relay: purge queue", "err", err)
	} else if n > 0 {
		r.Log.Info("relay: purged finished mail", "rows", n)
	}
	if _, err := r.Store.PurgeMessages(ctx, before); err != nil {
		r.Log.Error("relay: purge saved messages", "err", err)
	}
}

var mailIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewMailID returns a random id for one queued copy: 80 bits in 16 lower
// case letters and digits, so that it survives in an address's local part
// whatever an MTA does to its case, and cannot be guessed.
func NewMailID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return mailIDEncoding.EncodeToString(b)
}

// VERP is the envelope sender of a queued copy: bounces to it name the
// message and the recipient (RFC 5321 local parts stay under 64 octets).
func VERP(id, bounceHost string) string { return "b-" + id + "@" + bounceHost }

// ParseVERP returns the queue id of a VERP address, or false.
func ParseVERP(addr string) (string, bool) {
	local, _, ok := strings.Cut(strings.ToLower(strings.TrimSpace(addr)), "@")
	id, ok2 := strings.CutPrefix(local, "b-")
	if !ok || !ok2 || len(id) != 16 {
		return "", false
	}
	if _, err := mailIDEncoding.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

func (r *Relay) init() {
	r.once.Do(func() {
		r.kick = make(chan struct{}, 1)
		if r.Workers <= 0 {
			r.Workers = 4
		}
		if r.Retry == (RetryPolicy{}) {
			r.Retry = DefaultRetry
		}
		if r.Log == nil {
			r.Log = slog.Default()
		}
		if r.Hostname == "" {
			r.Hostname = "localhost"
		}
		if r.Lease <= 0 {
			r.Lease = DefaultLease
		}
		// The committer lives as long as the process, like the store.
		r.commits = groupcommit.New(context.Background(), r.Store.EnqueueMail, groupcommit.Options[store.Mail]{
			MaxItems: maxGroup, MaxBytes: maxGroupBytes, Size: func(m store.Mail) int { return len(m.Data) }, Queue: 256, Log: r.Log})
	})
}

func (r *Relay) wake() {
	r.init()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run delivers queued mail until ctx ends: Workers loops each claim a
// batch of due messages and send it, one connection per delivery server.
func (r *Relay) Run(ctx context.Context) {
	r.init()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for t := time.NewTicker(time.Hour); ; {
			r.purge(ctx)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	for range r.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx)
		}()
	}
	wg.Wait()
}

func (r *Relay) work(ctx context.Context) {
	idle := time.NewTimer(0)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		case <-r.kick:
		}
		n, err := r.DeliverDue(ctx, 10)
		if err != nil && ctx.Err() == nil {
			r.Log.Error("relay: claim queued mail", "err", err)
		}
		wait := 500 * time.Millisecond
		if n > 0 {
			wait = 0 // more may be due
		}
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(wait)
	}
}

// DeliverDue claims up to limit due messages, tries each once and records
// the outcome; it returns how many it tried.
func (r *Relay) DeliverDue(ctx context.Context, limit int) (int, error) {
	r.init()
	now := time.Now()
	mails, err := r.Store.ClaimMail(ctx, now, r.Lease, limit)
	if err != nil || len(mails) == 0 {
		return 0, err
	}
	byServer := map[string][]store.Mail{}
	var order []string
	for _, m := range mails {
		if _, ok := byServer[m.ServerURL]; !ok {
			order = append(order, m.ServerURL)
		}
		byServer[m.ServerURL] = append(byServer[m.ServerURL], m)
	}
	// One goroutine per delivery server: a slow or silent server of one
	// cluster does not hold up the others' mail in the same batch.
	var mu sync.Mutex
	var events []store.Event
	var wg sync.WaitGroup
	for _, u := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes := r.send(ctx, u, byServer[u], now.Add(r.Lease/2))
			for i, m := range byServer[u] {
				if ev := r.finish(ctx, m, outcomes[i]); ev != nil {
					mu.Lock()
					events = append(events, *ev)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(events) > 0 && r.Events != nil {
		r.Events(events) // committed with their messages' outcome
	}
	return len(mails), nil
}

// outcome is one delivery attempt.
type outcome struct {
	permanent bool   // refused for good (5xx)
	mailbox   bool   // refused because the mailbox does not exist (or is disabled)
	err       error  // nil: accepted
	reply     string // the server's final answer
}

// mailboxGone reports a RCPT refusal that says the address itself is bad
// (RFC 3463: 5.1.1, 5.1.2, 5.1.3, 5.1.6, 5.1.10, 5.2.1; or a bare 550, 551
// or 553): only those suppress the recipient. A refused relay, a policy
// or content refusal, or a broken delivery server is not the recipient's
// doing.
func mailboxGone(err error) bool {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return false
	}
	switch se.EnhancedCode {
	case smtp.EnhancedCode{5, 1, 1}, smtp.EnhancedCode{5, 1, 2}, smtp.EnhancedCode{5, 1, 3}, smtp.EnhancedCode{5, 1, 6},
		smtp.EnhancedCode{5, 1, 10}, smtp.EnhancedCode{5, 2, 1}:
		return true
	case smtp.NoEnhancedCode, smtp.EnhancedCodeNotSet:
		return se.Code == 550 || se.Code == 551 || se.Code == 553
	}
	return false
}

// finish records an attempt, with the event it makes in the same
// transaction, and returns that event for the webhooks (nil if none).
func (r *Relay) finish(ctx context.Context, m store.Mail, o outcome) *store.Event {
	now := time.Now()
	ev := store.Event{ID: store.NewEventID(now), ClusterID: m.ClusterID, At: now, MessageID: m.MessageID, Recipient: m.Rcpt}
	status, lastError := store.MailFailed, ""
	switch {
	case o.err == nil:
		status, ev.Type, ev.Reason = store.MailSent, event.Relayed, o.reply
	case o.permanent:
		// The suppression first: if it fails, the message stays queued and
		// this is tried again, rather than losing both.
		if o.mailbox {
			if err := r.Store.Suppress(ctx, m.ClusterID, m.Rcpt, event.ReasonBounce, now); err != nil {
				r.Log.Error("relay: suppress", "mail", m.ID, "err", err)
				return nil
			}
		}
		lastError = o.err.Error()
		ev.Type, ev.Class, ev.Reason = event.Bounce, event.Failed, lastError
		if o.mailbox {
			ev.Class = event.Hard
		}
	default:
		if next, ok := r.Retry.Next(m.CreatedAt, now, m.Attempts+1); ok {
			if err := r.Store.FinishMail(ctx, m.ID, store.MailQueued, o.err.Error(), next, now, nil); err != nil {
				r.Log.Error("relay: record delivery", "mail", m.ID, "err", err)
			} else {
				r.Log.Info("relay: will retry", "mail", m.ID, "rcpt", m.Rcpt, "at", next, "err", o.err)
			}
			return nil
		}
		lastError = fmt.Sprintf("4.4.7 not delivered in %s: %v", r.Retry.Expire, o.err)
		ev.Type, ev.Class, ev.Reason = event.Bounce, event.Soft, lastError
	}
	if err := r.Store.FinishMail(ctx, m.ID, status, lastError, time.Time{}, now, &ev); err != nil {
		r.Log.Error("relay: record delivery", "mail", m.ID, "err", err)
		return nil
	}
	return &ev
}

// send delivers mails to one server over one connection and returns each
// one's outcome. No message is started after stop (half the lease): a
// slow server's rest is retried later rather than sent while the lease
// may run out, which would let another worker send it too.
func (r *Relay) send(ctx context.Context, serverURL string, mails []store.Mail, stop time.Time) []outcome {
	out := make([]outcome, len(mails))
	c, err := r.dial(ctx, serverURL)
	if err != nil {
		// Even a 5xx greeting is the server's state, not the message's:
		// retried until the message expires.
		for i := range out {
			out[i] = outcome{err: classify(err).err}
		}
		return out
	}
	defer c.Close()
	for i, m := range mails {
		if time.Now().After(stop) {
			for j := i; j < len(mails); j++ {
				out[j] = outcome{err: errors.New("not tried: the delivery server was slow with the messages before it")}
			}
			break
		}
		out[i] = r.sendOne(c, m)
		if out[i].err != nil && !isSMTPError(out[i].err) {
			for j := i + 1; j < len(mails); j++ { // the connection is gone
				out[j] = out[i]
			}
			return out
		}
	}
	_ = c.Quit()
	return out
}

// Deadlines of a delivery, shorter than RFC 5321's suggestions (5 and 10
// minutes) so that a silent server costs little, and well within the
// lease so that no other worker takes the message meanwhile.
const (
	commandTimeout    = 2 * time.Minute
	submissionTimeout = 5 * time.Minute
)

func (r *Relay) dial(ctx context.Context, serverURL string) (*smtp.Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme != "smtp" || u.Host == "" {
		return nil, fmt.Errorf("delivery server %q is not smtp://host:port", serverURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "25")
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	if !r.AllowPrivate && serverURL != r.Composer.DefaultServer {
		// A tenant's server must be on the Internet: checked on the
		// address dialled, after DNS, so a name for 127.0.0.1 is caught.
		d.Control = func(network, address string, c syscall.RawConn) error {
			if err := netguard.Control(network, address, c); err != nil {
				return fmt.Errorf("delivery server %s is at a private address (%w; the operator may allow it with --delivery-allow-private)", serverURL, err)
			}
			return nil
		}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, ok := r.startTLS.Load(serverURL); ok {
		// Opportunistic TLS (RFC 7435): encrypt when offered, without
		// checking the certificate: delivery servers on private networks
		// rarely have a public one.
		c, err := smtp.NewClientStartTLS(conn, &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: true})
		if err != nil {
			r.startTLS.Delete(serverURL) // maybe no longer offered: look again next time
			return nil, err
		}
		c.CommandTimeout, c.SubmissionTimeout = commandTimeout, submissionTimeout
		if err := c.Hello(r.Hostname); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = commandTimeout, submissionTimeout
	if err := c.Hello(r.Hostname); err != nil {
		c.Close()
		return nil, err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		// go-smtp starts TLS only on a new client: remember, and dial again.
		r.startTLS.Store(serverURL, true)
		_ = c.Quit()
		return r.dial(ctx, serverURL)
	}
	return c, nil
}

func (r *Relay) sendOne(c *smtp.Client, m store.Mail) outcome {
	var opts *smtp.MailOptions
	if ok, _ := c.Extension("8BITMIME"); ok && !isASCII(m.Data) {
		opts = &smtp.MailOptions{Body: smtp.Body8BitMIME}
	}
	err := c.Mail(m.From, opts)
	if err == nil {
		if err = c.Rcpt(m.Rcpt, nil); err != nil {
			_ = c.Reset()
			o := classify(err)
			o.mailbox = o.permanent && mailboxGone(err)
			return o
		}
	}
	var w *smtp.DataCommand
	if err == nil {
		w, err = c.Data()
	}
	if err == nil {
		_, err = w.Write(m.Data)
		var resp *smtp.DataResponse
		if err == nil {
			resp, err = w.CloseWithResponse()
		}
		if err == nil {
			return outcome{reply: resp.StatusText}
		}
	}
	if isSMTPError(err) {
		_ = c.Reset()
	}
	return classify(err)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func isSMTPError(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// classify turns a delivery error into an outcome: a 5xx reply is
// permanent; 4xx replies, timeouts and connection errors are temporary.
func classify(err error) outcome {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		text := fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
		if se.EnhancedCode == smtp.NoEnhancedCode {
			text = fmt.Sprintf("%d %s", se.Code, se.Message)
		}
		return outcome{permanent: se.Code >= 500, err: errors.New(text)}
	}
	return outcome{err: err}
}
