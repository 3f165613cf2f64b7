package api

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/monitor"
	"github.com/waymark-mail/waymark/internal/notice"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/webhook"
)

// Notifier renders the monitor's notifications as webhook events whose
// data shows the domain as the API does: {"tracking_domain": …} or
// {"sending_domain": …}, with the diagnosis (Body, the monitor's Render,
// queued with the change), and mails the warnings and deactivations
// (Notify, once the change has committed).
type Notifier struct {
	Platform string
	Log      *slog.Logger
	// Mail, if set, mails the warnings and deactivations to the cluster's
	// notify_email (notice.Mailer.Send).
	Mail func(ctx context.Context, clusterID string, n notice.Notice)
}

// NotificationData is the data of a notification's webhook event.
type NotificationData struct {
	TrackingDomain *TrackingDomain `json:"tracking_domain,omitempty"`
	SendingDomain  *SendingDomain  `json:"sending_domain,omitempty"`
	Diagnosis      string          `json:"diagnosis"`
}

// Data is the webhook data of n, and its cluster.
func (nt *Notifier) Data(n monitor.Notification) (string, NotificationData, error) {
	data := NotificationData{Diagnosis: n.Diagnosis}
	if n.Sending != nil {
		var click store.TrackingDomain
		if n.Click != nil {
			click = *n.Click
		}
		sd, err := sendingDomainView(nt.Platform, *n.Sending, click, click.ID == "")
		if err != nil {
			return "", data, err
		}
		data.SendingDomain = &sd
		return n.Sending.ClusterID, data, nil
	}
	td := TrackingDomainOf(n.Domain)
	data.TrackingDomain = &td
	return n.Domain.ClusterID, data, nil
}

// Body is n's webhook event, the whole body (monitor.Monitor.Render).
func (nt *Notifier) Body(n monitor.Notification) ([]byte, error) {
	cluster, data, err := nt.Data(n)
	if err != nil {
		return nil, err
	}
	return webhook.Body(cluster, string(n.Event), data, n.At)
}

// Notify mails n if it is a warning or a deactivation
// (monitor.Monitor.Notify); its webhook event was queued with the change.
func (nt *Notifier) Notify(ctx context.Context, n monitor.Notification) {
	if nt.Mail == nil || !n.Event.Failure() {
		return
	}
	cluster, data, err := nt.Data(n)
	if err != nil {
		nt.Log.Error("a notice's mail", "event", n.Event, "err", err)
		return
	}
	nt.Mail(ctx, cluster, NoticeOf(n, data))
}

// NoticeOf is the email notice of a warning or deactivation: what was
// found, and the records to publish with what each check found wrong.
func NoticeOf(n monitor.Notification, data NotificationData) notice.Notice {
	out := notice.Notice{Kind: notice.Warning, At: n.At, Diagnosis: n.Diagnosis}
	if strings.HasSuffix(string(n.Event), ".deactivated") {
		out.Kind = notice.Deactivated
	}
	if d := data.SendingDomain; d != nil {
		out.What, out.Name = "sending domain", d.Name
		for _, r := range d.Records {
			rec := notice.Record{Name: r.Name, Type: r.Type, Value: r.Value}
			if r.Status != string(domain.StatusActive) {
				rec.Problem = cmp.Or(r.Diagnosis, "not verified")
			}
			out.Records = append(out.Records, rec)
		}
		return out
	}
	d := data.TrackingDomain
	out.What, out.Name = "tracking domain", d.Name
	out.Records = []notice.Record{{Name: d.CNAME.Name, Type: d.CNAME.Type, Value: d.CNAME.Value, Problem: n.Diagnosis}}
	return out
}

// EnsureAdminKey stores the hash of given (--admin-key), or on first start
// makes a key and returns it for printing, once; it returns the line the
// start banner shows. Several nodes starting together agree on one key:
// the first to store it wins, the others print nothing.
func EnsureAdminKey(ctx context.Context, st store.Settings, given string) (string, error) {
	if given != "" {
		if !strings.HasPrefix(given, apikey.AdminPrefix) || len(given) < len(apikey.AdminPrefix)+20 {
			return "", fmt.Errorf("--admin-key must start with %s and have at least 20 characters after it (e.g. %s)",
				apikey.AdminPrefix, apikey.New(apikey.AdminPrefix))
		}
		if _, err := st.PutSetting(ctx, AdminKeySetting, apikey.Hash(given), true); err != nil {
			return "", err
		}
		return "from --admin-key", nil
	}
	key := apikey.New(apikey.AdminPrefix)
	stored, err := st.PutSetting(ctx, AdminKeySetting, apikey.Hash(key), false)
	if err != nil {
		return "", err
	}
	if !stored {
		return "set on first start (shown only then; --admin-key replaces it)", nil
	}
	return key + "  (shown once: keep it; export WAYMARK_KEY=" + key + ")", nil
}
