package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/store"
)

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
//
// When ctx ends (shutdown) no further message is started: what is being
// sent is finished and its outcome recorded (with a context that is not
// ctx), and what was claimed but not started goes back to the queue at
// once, so neither is sent twice nor waits out its lease.
func (r *Relay) DeliverDue(ctx context.Context, limit int) (int, error) {
	r.init()
	now := r.now()
	mails, err := r.Store.ClaimMail(ctx, now, r.Lease, limit)
	if err != nil || len(mails) == 0 {
		return 0, err
	}
	record := context.WithoutCancel(ctx)
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
	var untried []string
	var wg sync.WaitGroup
	for _, u := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes := r.send(ctx, u, byServer[u], now.Add(r.Lease/2))
			for i, m := range byServer[u] {
				if outcomes[i].untried {
					mu.Lock()
					untried = append(untried, m.ID)
					mu.Unlock()
					continue
				}
				r.finish(record, m, outcomes[i])
			}
		}()
	}
	wg.Wait()
	if err := r.Store.ReleaseMail(record, untried, r.now()); err != nil {
		r.Log.Error("relay: release untried mail", "mails", len(untried), "err", err)
	} else if len(untried) > 0 {
		r.Log.Info("relay: shutting down; untried mail back in the queue", "mails", len(untried))
	}
	return len(mails), nil
}

// outcome is one delivery attempt.
type outcome struct {
	untried   bool   // not tried: the node is shutting down; the lease goes back
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
// transaction (webhooks read it from there).
func (r *Relay) finish(ctx context.Context, m store.Mail, o outcome) {
	now := r.now()
	ev := store.Event{ID: store.NewEventID(now), ClusterID: m.ClusterID, At: now, MessageID: m.MessageID, Recipient: m.Rcpt}
	status, lastError := store.MailFailed, ""
	switch {
	case o.err == nil:
		status, ev.Type, ev.Reason = store.MailSent, event.Relayed, o.reply
		lastError = o.reply // the last reply, for the message's status
		r.Metrics.delivered("sent", m.ServerURL)
		r.Metrics.sentAfter(now.Sub(m.CreatedAt))
		if _, verp := ParseVERP(m.From); !verp {
			ev.Reason = UnsignedReason + o.reply // the cluster's unsigned_mail let it through unsigned
		}
	case o.permanent:
		// The suppression first: if it fails, the message stays queued and
		// this is tried again, rather than losing both.
		if o.mailbox {
			if err := r.Store.Suppress(ctx, m.ClusterID, m.Rcpt, event.ReasonBounce, "message "+m.MessageID, now); err != nil {
				r.Log.Error("relay: suppress", "mail", m.ID, "err", err)
				return
			}
		}
		lastError = o.err.Error()
		r.Metrics.delivered("bounced", m.ServerURL)
		ev.Type, ev.Class, ev.Reason = event.Bounce, event.Failed, lastError
		if o.mailbox {
			ev.Class = event.Hard
		}
	default:
		if next, ok := r.Retry.Next(m.CreatedAt, now, m.Attempts+1); ok {
			r.Metrics.delivered("deferred", m.ServerURL)
			if err := r.Store.FinishMail(ctx, m.ID, store.MailQueued, o.err.Error(), next, now, nil); err != nil {
				r.Log.Error("relay: record delivery", "mail", m.ID, "err", err)
			} else {
				r.logDelivery(m, now, "deferred", o.err.Error(), "retry_at", next.UTC().Format(time.RFC3339))
			}
			return
		}
		lastError = fmt.Sprintf("4.4.7 not delivered in %s: %v", r.Retry.Expire, o.err)
		r.Metrics.delivered("bounced", m.ServerURL)
		ev.Type, ev.Class, ev.Reason = event.Bounce, event.Soft, lastError
	}
	if IsNotice(m) {
		// The platform's own mail: its outcome is logged, not the
		// cluster's event.
		if err := r.Store.FinishMail(ctx, m.ID, status, lastError, time.Time{}, now, nil); err != nil {
			r.Log.Error("relay: record delivery", "mail", m.ID, "err", err)
		} else {
			r.Log.Info("relay: notice "+string(ev.Type), "mail", m.ID, "cluster", m.ClusterID, "rcpt", m.Rcpt, "reply", ev.Reason)
		}
		return
	}
	if err := r.Store.FinishMail(ctx, m.ID, status, lastError, time.Time{}, now, &ev); err != nil {
		r.Log.Error("relay: record delivery", "mail", m.ID, "err", err)
		return
	}
	if ev.Type == event.Bounce {
		r.Metrics.Recorded(string(ev.Type), string(ev.Class))
		r.logDelivery(m, now, "bounced", lastError, "class", string(ev.Class))
	} else {
		r.logDelivery(m, now, "sent", o.reply)
	}
}

// logDelivery writes the line of one delivery attempt, as Postfix's
// smtp(8) does: queue id, cluster, envelope, server, status, delay since
// queueing, attempts and the server's reply.
func (r *Relay) logDelivery(m store.Mail, now time.Time, status, reply string, extra ...any) {
	args := append([]any{"queue_id", m.ID, "cluster", m.ClusterID, "message", m.MessageID, "from", m.From, "to", m.Rcpt,
		"server", m.ServerURL, "status", status, "delay", now.Sub(m.CreatedAt).Round(time.Millisecond).String(),
		"attempts", m.Attempts + 1, "reply", reply}, extra...)
	r.Log.Info("relay: delivery", args...)
}

// send delivers mails to one server over one connection and returns each
// one's outcome. No message is started after stop (half the lease): a
// slow server's rest is retried later rather than sent while the lease
// may run out, which would let another worker send it too.
func (r *Relay) send(ctx context.Context, serverURL string, mails []store.Mail, stop time.Time) []outcome {
	out := make([]outcome, len(mails))
	if ctx.Err() != nil { // shutting down: nothing started
		for i := range out {
			out[i] = outcome{untried: true}
		}
		return out
	}
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
		if ctx.Err() != nil { // shutting down: start no other message
			for j := i; j < len(mails); j++ {
				out[j] = outcome{untried: true}
			}
			break
		}
		if r.now().After(stop) {
			for j := i; j < len(mails); j++ {
				out[j] = outcome{err: errors.New("not tried: the delivery server was slow with the messages before it")}
			}
			break
		}
		started := time.Now()
		out[i] = r.sendOne(c, m)
		r.Metrics.attempted(time.Since(started))
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
