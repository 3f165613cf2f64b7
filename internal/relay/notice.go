package relay

import (
	"context"
	"errors"
	"strings"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
)

// NoticePrefix begins the message id of the platform's own notices (a
// cluster's domain failed a check, …): their deliveries make no relayed
// events in the cluster's log, whose mail they are not (a bounce of one
// still suppresses the address there, and says so).
const NoticePrefix = "ntc_"

// NewNoticeID makes a notice's message id.
func NewNoticeID() string { return NoticePrefix + strings.TrimPrefix(apikey.NewID("m"), "m_") }

// IsNotice reports whether a queued copy is one of the platform's notices.
func IsNotice(m store.Mail) bool { return strings.HasPrefix(m.MessageID, NoticePrefix) }

// ErrNoNoticeServer is QueueNotice without --delivery.
var ErrNoNoticeServer = errors.New("relay: notices go to --delivery, which is not set")

// QueueNotice queues one of the platform's notices, a whole message from
// from, for each of rcpts under the notified cluster (so it goes when the
// cluster goes), to --delivery, durable before it returns. It is signed by
// the platform's own sending domain if from's domain is an active one (in
// any cluster), with VERP on its bounce host; otherwise it goes unsigned
// from from. Nothing in it is tracked. Recipients on the cluster's
// suppression list are left out.
func (r *Relay) QueueNotice(ctx context.Context, clusterID, messageID, from string, raw []byte, rcpts []string) ([]string, error) {
	if r.Composer.DefaultServer == "" {
		return nil, ErrNoNoticeServer
	}
	var d *store.SendingDomain
	var keys []dkim.Key
	at := strings.LastIndexByte(from, '@')
	sd, err := r.Composer.Store.ActiveSendingDomainByName(ctx, strings.ToLower(from[at+1:]))
	switch {
	case err == nil:
		stored, err := r.Composer.Store.DKIMKeys(ctx, sd.ID)
		if err != nil {
			return nil, err
		}
		if keys, err = sending.SigningKeys(r.Composer.Box, sd, stored); err != nil {
			return nil, err
		}
		d = &sd
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	now := r.now()
	var mails []store.Mail
	var queued []string
	for _, rcpt := range rcpts {
		suppressed, err := r.Store.Suppressed(ctx, clusterID, rcpt)
		if err != nil {
			return nil, err
		}
		if suppressed {
			r.Log.Info("relay: notice not sent to a suppressed address", "cluster", clusterID, "rcpt", rcpt)
			continue
		}
		id := NewMailID()
		var data strings.Builder
		data.WriteString(QueueIDHeader + ": " + id + "\r\n")
		envelope := from
		if d != nil {
			envelope = VERP(id, d.BounceHost)
			var signed strings.Builder
			if err := dkim.SignBytes(&signed, append([]byte(data.String()), raw...), d.Name, keys); err != nil {
				return nil, err
			}
			data.Reset()
			data.WriteString(signed.String())
		} else {
			data.Write(raw)
		}
		mails = append(mails, store.Mail{ID: id, ClusterID: clusterID, MessageID: messageID, From: envelope, Rcpt: rcpt,
			ServerURL: r.Composer.DefaultServer, Data: []byte(data.String()), NextAt: now, CreatedAt: now})
		queued = append(queued, id)
	}
	if len(mails) == 0 {
		return nil, nil
	}
	if err := r.enqueue(ctx, mails); err != nil {
		return nil, err
	}
	r.wake()
	return queued, nil
}
