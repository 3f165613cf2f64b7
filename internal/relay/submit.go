package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/track"
)

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
// from is the client's envelope sender (empty: none given), which only
// unsigned mail keeps: signed copies get their VERP address.
func (r *Relay) Submit(ctx context.Context, clusterID, from string, raw []byte, rcpts []string, messageID string) (Result, error) {
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
	m, err := r.Composer.Prepare(ctx, Submission{ClusterID: clusterID, Raw: raw, MessageID: messageID, Sign: true, EnvelopeFrom: from})
	if err != nil {
		return Result{}, err
	}
	if m.Server == "" {
		return Result{}, ErrNoDeliveryServer.With(
			"no delivery server is set up for this cluster: add one (POST /v1/delivery-servers) or start waymark with --delivery")
	}
	res := Result{MessageID: m.ID}
	now := r.now()
	rawKey := ""
	if bytes.Contains(raw, []byte(track.ForwardPlaceholder)) || bytes.Contains(raw, []byte(track.WebVersionPlaceholder)) {
		// Kept as it came, for the forward-to-a-friend form and the web
		// version, under its
		// content's digest: copies that share a message id but not their
		// text (personalised mail) each forward what their recipient got.
		sum := sha256.Sum256(raw)
		rawKey = m.ID + "/" + hex.EncodeToString(sum[:12])
		if err := r.Store.SaveMessage(ctx, clusterID, rawKey, raw, now); err != nil {
			return Result{}, err
		}
	}
	signedFor := ""
	if m.Domain != nil {
		signedFor = m.Domain.Name
	}
	var mails []store.Mail
	for _, rcpt := range rcpts {
		suppressed, err := r.Store.Suppressed(ctx, clusterID, rcpt)
		if err != nil {
			return Result{}, err
		}
		if suppressed {
			res.Dropped = append(res.Dropped, Dropped{Rcpt: rcpt, Reason: "on the cluster's suppression list (unsubscribed, bounced or complained)"})
			mails = append(mails, store.Mail{ID: NewMailID(), ClusterID: clusterID, MessageID: m.ID, Rcpt: rcpt, Status: store.MailSuppressed,
				ServerURL: m.Server, NextAt: now, CreatedAt: now, SendingDomain: signedFor}) // so the message's status says so
			continue
		}
		id := NewMailID()
		var data bytes.Buffer
		if err := m.WriteCopy(&data, clusterID, rcpt, QueueIDHeader, id); err != nil {
			return Result{}, err
		}
		mails = append(mails, store.Mail{ID: id, ClusterID: clusterID, MessageID: m.ID, From: m.EnvelopeFrom(id),
			Rcpt: rcpt, ServerURL: m.Server, Data: data.Bytes(), NextAt: now, CreatedAt: now, SavedMessage: rawKey, SendingDomain: signedFor})
		res.Queued = append(res.Queued, Queued{Rcpt: rcpt, ID: id})
	}
	if err := r.enqueue(ctx, mails); err != nil {
		return Result{}, err
	}
	for _, q := range mails {
		if q.Status == store.MailSuppressed {
			continue
		}
		r.Log.Info("relay: queued", "queue_id", q.ID, "cluster", clusterID, "message", m.ID, "from", q.From, "to", q.Rcpt,
			"server", q.ServerURL, "size", len(q.Data), "signed", m.Domain != nil)
	}
	for _, d := range res.Dropped {
		r.Log.Info("relay: not queued", "cluster", clusterID, "message", m.ID, "to", d.Rcpt, "why", d.Reason)
	}
	if m.Domain == nil && len(mails) > 0 {
		r.Log.Info("relay: queued unsigned", "cluster", clusterID, "message", m.ID, "from_domain", m.FromDomain, "copies", len(mails),
			"why", "not a verified sending domain of the cluster; its unsigned_mail is relay")
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
