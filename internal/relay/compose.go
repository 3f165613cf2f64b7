package relay

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/track"
	"github.com/waymark-mail/waymark/internal/uribl"
)

// Control headers a sender sets; all X-Waymark-* fields are removed before
// a message leaves.
const (
	// TrackingDomainHeader picks the tracking host of one message.
	TrackingDomainHeader = "X-Waymark-Tracking-Domain"
	// TrackingHeader set to "off" leaves links and pixels alone.
	TrackingHeader = "X-Waymark-Tracking"
	// TrackHeader sets what this message tracks: "opens=on|off,
	// clicks=all|html|text|off", either or both.
	TrackHeader = "X-Waymark-Track"
	// DeliveryServerHeader names the delivery server (by name or id).
	DeliveryServerHeader = "X-Waymark-Delivery-Server"
	// QueueIDHeader is added to each relayed copy, so that a receiver can
	// spot the duplicates at-least-once delivery may cause.
	QueueIDHeader = "X-Waymark-Queue-Id"
)

// IsControlHeader reports the X-Waymark-* headers.
func IsControlHeader(key string) bool {
	return strings.HasPrefix(strings.ToLower(key), "x-waymark-")
}

// MaxMessage bounds a submitted message.
const MaxMessage = 25 << 20

// Tokens gives the key a cluster's new tokens are signed with.
type Tokens interface {
	Current(ctx context.Context, clusterID string) (*track.Key, error)
}

// ComposerStore is what composing reads: a cluster's settings, its sending
// domains and their keys, its delivery servers and its tracking domains;
// and the platform's own sending domain, which signs its notices.
type ComposerStore interface {
	Cluster(ctx context.Context, id string) (store.Cluster, error)
	SendingDomainByName(ctx context.Context, clusterID, name string) (store.SendingDomain, error)
	ActiveSendingDomainByName(ctx context.Context, name string) (store.SendingDomain, error)
	SendingDomainClusters(ctx context.Context, name string) ([]string, error)
	DKIMKeys(ctx context.Context, domainID string) ([]store.DKIMKey, error)
	DeliveryServers(ctx context.Context, clusterID string) ([]store.DeliveryServer, error)
	TrackingDomains(ctx context.Context, clusterID string) ([]store.TrackingDomain, error)
}

// Composer holds what composing needs.
type Composer struct {
	Store    ComposerStore
	Tokens   Tokens
	Box      *secret.Box
	Platform string
	// DefaultServer is the delivery server (smtp://host:port) of clusters
	// that have none of their own (--delivery).
	DefaultServer string
	// Links checks the destinations of a tracked message's links against
	// the blocklists (nil: none); a listed one is refused, or with
	// UntrackListed left as it is. LinkDeadline bounds the lookups of one
	// message (default DefaultLinkDeadline).
	Links         *uribl.Checker
	UntrackListed bool
	LinkDeadline  time.Duration
}

// DefaultLinkDeadline bounds the blocklist lookups of one message: past
// it, a link not answered for goes through (and is counted).
const DefaultLinkDeadline = 2 * time.Second

// Submission is one message as submitted.
type Submission struct {
	ClusterID string
	Raw       []byte
	// MessageID is the caller's id for the message; empty: one is made.
	MessageID string
	// Sign false previews the tracking without a verified From domain
	// (dry runs only).
	Sign bool
	// EnvelopeFrom is the client's envelope sender, kept for unsigned mail
	// (empty: the From address).
	EnvelopeFrom string
	// WebVersion renders a kept message for its /v/ page: every link is
	// tracked (so each click is checked at the edge), none is looked up
	// now, no pixel, no honeypot.
	WebVersion bool
}

// Message is a submission checked and ready to be written for each
// recipient.
type Message struct {
	ID     string
	Header textproto.Header
	Raw    []byte
	Host   string               // the tracking host
	Domain *store.SendingDomain // the From address's sending domain; nil unsigned
	// FromDomain is the From address's domain; Sender the envelope sender
	// of unsigned copies.
	FromDomain, Sender string
	Keys               []dkim.Key // the keys that sign, one per algorithm
	Tracking           bool       // links and pixel rewritten
	// Clicks and NoOpens are what Tracking covers (X-Waymark-Track, the
	// sending domain's and the cluster's defaults).
	Clicks     track.Clicks
	NoOpens    bool
	NoHoneypot bool
	// WebVersion: rendered for the /v/ page (Submission.WebVersion).
	WebVersion bool
	Server     string // the X-Waymark-Delivery-Server header
	// Untracked are the registrable domains of listed destinations, whose
	// links are left as they are (--uribl-action untrack).
	Untracked map[string]bool
	key       *track.Key // signs the tokens
	issued    time.Time
}

// Prepare checks a submission: a message with one From address of a
// verified sending domain of the cluster (unless Sign is false), and
// control headers that name things the cluster has.
func (c *Composer) Prepare(ctx context.Context, s Submission) (*Message, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(s.Raw)))
	if err != nil || h.Len() == 0 {
		return nil, ErrInvalidMessage.With(
			"the message is not an RFC 5322 message: send raw MIME with headers, an empty line, then the body")
	}
	m := &Message{ID: s.MessageID, Header: h, Raw: s.Raw, issued: time.Now()}
	if m.ID == "" {
		m.ID = apikey.NewID("msg")
	} else if len(m.ID) > 128 || !utf8.ValidString(m.ID) || strings.ContainsAny(m.ID, "\r\n") {
		return nil, ErrInvalidMessageID
	}
	switch v := strings.ToLower(strings.TrimSpace(h.Get(TrackingHeader))); v {
	case "", "on":
		m.Tracking = true
	case "off":
	default:
		return nil, ErrInvalidHeader.At(TrackingHeader).With("%s must be on or off, not %q", TrackingHeader, v)
	}

	// The sending domain of the From address signs, and its click host
	// carries the links.
	fromDomain, fromErr := dkim.FromDomain(h)
	var sd *store.SendingDomain
	if fromErr == nil {
		d, err := c.Store.SendingDomainByName(ctx, s.ClusterID, fromDomain)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			sd = &d
		}
	}
	if s.Sign {
		if fromErr != nil {
			kind := ErrFromInvalid
			switch {
			case errors.Is(fromErr, dkim.ErrNoFrom):
				kind = ErrFromMissing
			case errors.Is(fromErr, dkim.ErrManyFrom), errors.Is(fromErr, dkim.ErrManyAddresses):
				kind = ErrFromMultiple
			}
			return nil, kind.With("%s; the message needs exactly one From address", strings.TrimPrefix(fromErr.Error(), "dkim: "))
		}
		m.FromDomain = fromDomain
		idDomain := fromDomain
		if sd == nil || sd.Status != domain.StatusActive {
			if err := c.unsigned(ctx, s, m); err != nil {
				return nil, err
			}
			sd = nil // a pending domain's click host carries no links
		} else {
			m.Domain, idDomain = sd, sd.Name
		}
		// An MSA adds what a message lacks (RFC 6409 section 8): signed
		// here, rather than added unsigned further on.
		var add []byte
		if !h.Has("Date") {
			add = append(add, "Date: "+time.Now().UTC().Format(time.RFC1123Z)+"\r\n"...)
		}
		if !h.Has("Message-Id") {
			add = append(add, "Message-ID: <"+m.ID+"."+NewMailID()+"@"+idDomain+">\r\n"...)
		}
		if len(add) > 0 {
			m.Raw = append(add, m.Raw...)
			if m.Header, err = textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.Raw))); err != nil {
				return nil, err
			}
		}
		if m.Domain != nil {
			stored, err := c.Store.DKIMKeys(ctx, m.Domain.ID)
			if err != nil {
				return nil, err
			}
			if m.Keys, err = sending.SigningKeys(c.Box, *m.Domain, stored); err != nil {
				return nil, err
			}
		}
	}
	if m.Tracking {
		if err := c.trackingSwitches(ctx, s.ClusterID, sd, h.Get(TrackHeader), m); err != nil {
			return nil, err
		}
	}
	if s.WebVersion {
		m.Tracking, m.Clicks, m.NoOpens, m.NoHoneypot, m.WebVersion = true, track.ClicksAll, true, true, true
	}
	server, serverTracking, err := c.deliveryServer(ctx, s.ClusterID, h.Get(DeliveryServerHeader))
	if err != nil {
		return nil, err
	}
	m.Server = server
	clickHost := ""
	if sd != nil {
		clickHost = sd.ClickHost
	}
	if m.Host, err = c.trackingHost(ctx, s.ClusterID, h.Get(TrackingDomainHeader), clickHost, serverTracking); err != nil {
		var he *track.HeaderError
		if errors.As(err, &he) {
			return nil, ErrTrackingDomainNotActive.With("%s", he.Error())
		}
		return nil, err
	}
	if m.key, err = c.Tokens.Current(ctx, s.ClusterID); err != nil {
		return nil, err
	}
	if !s.WebVersion {
		if err := c.checkLinks(ctx, s.ClusterID, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// checkLinks looks the destinations of a tracked message's links up on
// the blocklists (docs/CONCEPTS.md#link-safety): a listed one refuses the
// message, or, with UntrackListed, stays as it is in every copy.
func (c *Composer) checkLinks(ctx context.Context, clusterID string, m *Message) error {
	if !m.Tracking || !c.Links.Enabled() {
		return nil
	}
	clicks := m.Clicks
	if bytes.Contains(m.Raw, []byte(track.WebVersionPlaceholder)) {
		clicks = track.ClicksAll // the web version shows every link on the tracking host
	}
	dests, err := track.Links(m.Raw, clicks)
	if err != nil || len(dests) == 0 {
		return nil // the rewrite itself says what is wrong with the message
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.LinkDeadline, DefaultLinkDeadline))
	defer cancel()
	listed := c.Links.Check(ctx, dests)
	if len(listed) == 0 {
		return nil
	}
	if !c.UntrackListed {
		return ErrLinkListed.With("a link leads to a listed domain: %s; remove the link, or send the message without it", listed[0])
	}
	m.Untracked = map[string]bool{}
	for _, l := range listed {
		m.Untracked[l.Domain] = true // "" for the unreadable ones: uribl.Registrable of them
		c.Links.Log.Info("uribl: link left untracked", "cluster", clusterID, "message", m.ID, "listing", l.String())
	}
	return nil
}

// trackingSwitches decides what a message tracks, each setting from the
// first that has it: the X-Waymark-Track header, the From domain's
// sending domain, the cluster, then opens on and clicks all
// (docs/CONCEPTS.md#tracking-switches).
func (c *Composer) trackingSwitches(ctx context.Context, clusterID string, sd *store.SendingDomain, header string, m *Message) error {
	opens, clicks, err := ParseTrack(header)
	if err != nil {
		return ErrInvalidHeader.At(TrackHeader).With("%s: %v", TrackHeader, err)
	}
	cl, err := c.Store.Cluster(ctx, clusterID)
	if err != nil {
		return err
	}
	levels := []store.Tracking{{Opens: opens, Clicks: clicks}, {}, cl.Tracking, {Opens: "on", Clicks: "all"}}
	if sd != nil {
		levels[1] = sd.Tracking
	}
	for _, l := range levels {
		if opens == "" {
			opens = l.Opens
		}
		if clicks == "" {
			clicks = l.Clicks
		}
	}
	m.NoOpens = opens == "off"
	m.Clicks, _ = track.ParseClicks(clicks)
	return nil
}

// ParseTrack reads an X-Waymark-Track value: "opens=on|off" and
// "clicks=all|html|text|off", comma-separated, either or both; what it
// leaves out is "".
func ParseTrack(v string) (opens, clicks string, err error) {
	if strings.TrimSpace(v) == "" {
		return "", "", nil
	}
	for _, part := range strings.Split(v, ",") {
		if strings.TrimSpace(part) == "" {
			continue // a trailing comma
		}
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.ToLower(strings.TrimSpace(val))
		switch {
		case !ok:
			return "", "", fmt.Errorf("%q is not key=value (opens=on|off, clicks=all|html|text|off)", part)
		case key == "opens" && (val == "on" || val == "off"):
			opens = val
		case key == "clicks":
			if _, ok := track.ParseClicks(val); !ok {
				return "", "", fmt.Errorf("clicks must be all, html, text or off, not %q", val)
			}
			clicks = val
		case key == "opens":
			return "", "", fmt.Errorf("opens must be on or off, not %q", val)
		default:
			return "", "", fmt.Errorf("unknown setting %q: only opens and clicks", key)
		}
	}
	return opens, clicks, nil
}

// unsigned decides for mail whose From domain is not a verified sending
// domain of the cluster, by the cluster's unsigned_mail: refuse it, or let
// it through unsigned, keeping the client's envelope sender (no bounce
// host of ours can take its bounces).
func (c *Composer) unsigned(ctx context.Context, s Submission, m *Message) error {
	cl, err := c.Store.Cluster(ctx, s.ClusterID)
	if err != nil {
		return err
	}
	if UnsignedMail(cl.UnsignedMail) != UnsignedRelay {
		return ErrFromNotVerified.With(
			"%s is not a verified sending domain of this cluster: add it (waymark sending-domain add %s), publish its records and verify it; "+
				"or, if your delivery servers sign, let the cluster relay such mail unsigned (PATCH /v1/clusters/%s {\"unsigned_mail\": \"relay\"})",
			m.FromDomain, m.FromDomain, s.ClusterID)
	}
	m.Sender = s.EnvelopeFrom
	if m.Sender == "" {
		m.Sender, _ = dkim.FromAddress(m.Header)
	}
	// Unsigned mail goes out through the platform's sending addresses,
	// which the SPF of every hosted domain's bounce host and of the
	// platform zone lists: it must not use those domains, or it would pass
	// SPF (and DMARC) as them. So its From domain is nobody else's sending
	// domain and not the platform's, and its envelope sender is a plain
	// address of the From domain (or under it).
	if !domain.PlainAddress(m.Sender) {
		return ErrSenderInvalid.With("the envelope sender %q is not a plain address (letters, digits and !#$%%&'*+-/=?^_`{|}~. before the @, a hostname after)", m.Sender)
	}
	senderDomain := strings.ToLower(m.Sender[strings.LastIndexByte(m.Sender, '@')+1:])
	if senderDomain != m.FromDomain && !strings.HasSuffix(senderDomain, "."+m.FromDomain) {
		return ErrSenderInvalid.With("unsigned mail's envelope sender must be of its From domain %s, not %s", m.FromDomain, m.Sender)
	}
	for _, d := range []string{m.FromDomain, senderDomain} {
		if d == c.Platform || strings.HasSuffix(d, "."+c.Platform) {
			return ErrFromNotVerified.With("%s is the platform's own domain: it cannot send unsigned mail", d)
		}
		owners, err := c.Store.SendingDomainClusters(ctx, d)
		if err != nil {
			return err
		}
		for _, o := range owners {
			if o != s.ClusterID {
				return ErrFromNotVerified.With("%s is another cluster's sending domain: mail from it goes only signed, by that cluster", d)
			}
		}
	}
	return nil
}

// keep tells the rewriter to leave a listed destination's link alone.
func (m *Message) keep(dest string) bool {
	return len(m.Untracked) > 0 && m.Untracked[uribl.Registrable(dest)]
}

// EnvelopeFrom is the envelope sender of the copy queued as id: its VERP
// address on the sending domain's bounce host, or, unsigned, the sender
// the client gave.
func (m *Message) EnvelopeFrom(id string) string {
	if m.Domain == nil {
		return m.Sender
	}
	return VERP(id, m.Domain.BounceHost)
}

// deliveryServer picks where a message goes: the server the header names
// (by name or id), else the cluster's default, else --delivery. It
// returns its URL and the id of its tracking domain, if it has one.
func (c *Composer) deliveryServer(ctx context.Context, clusterID, header string) (url, trackingID string, err error) {
	servers, err := c.Store.DeliveryServers(ctx, clusterID)
	if err != nil {
		return "", "", err
	}
	header = strings.TrimSpace(header)
	for _, d := range servers {
		if header != "" && (strings.EqualFold(d.Name, header) || d.ID == header) || header == "" && d.Default {
			return d.URL, d.TrackingDomainID, nil
		}
	}
	if header != "" {
		return "", "", ErrDeliveryServerUnknown.With(
			"%s names %q, which is not a delivery server of this cluster (POST /v1/delivery-servers adds one)", DeliveryServerHeader, header)
	}
	return c.DefaultServer, "", nil
}

// trackingHost picks a message's tracking host in docs/CONCEPTS.md#tracking-host-order:
// header, the sending domain's click host, the delivery server's tracking
// domain, the cluster default, the platform host.
func (c *Composer) trackingHost(ctx context.Context, clusterID, header, clickHost, serverTrackingID string) (string, error) {
	domains, err := c.Store.TrackingDomains(ctx, clusterID)
	if err != nil {
		return "", err
	}
	active := map[string]bool{}
	dflt, server := "", ""
	for _, d := range domains {
		if d.ID == serverTrackingID {
			server = d.Name
		}
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
	return track.Host(track.HostChoice{Header: header, ClickHost: clickHost, DeliveryServer: server, Default: dflt, Platform: c.Platform,
		Active: func(n string) bool { return active[n] }})
}

// WriteCopy writes the message one recipient gets: tracking rewritten with
// tokens for them (unless off), control headers removed, extra header
// fields (such as the queue id) added on top, and the DKIM signatures
// last of all.
func (m *Message) WriteCopy(w io.Writer, clusterID, recipient string, extra ...string) error {
	var out bytes.Buffer
	out.Grow(len(m.Raw) + len(m.Raw)/4)
	for i := 0; i+1 < len(extra); i += 2 {
		out.WriteString(extra[i] + ": " + extra[i+1] + "\r\n")
	}
	if m.Tracking {
		// One encoder per copy: it keeps the keyed HMAC for every link, and
		// copies may be written at once.
		enc, err := track.NewEncoder(m.key)
		if err != nil {
			return err
		}
		rw := &track.Rewriter{Host: m.Host, Drop: IsControlHeader, Encoder: enc, Keep: m.keep, Clicks: m.Clicks, NoOpens: m.NoOpens, NoHoneypot: m.NoHoneypot, TrackOptedOut: m.WebVersion,
			Token: track.Token{Issued: m.issued, ClusterID: clusterID, MessageID: m.ID, Recipient: recipient}}
		if err := rw.Message(&out, bytes.NewReader(m.Raw)); err != nil {
			return ErrInvalidMessage.With("the message could not be rewritten: %v", err)
		}
	} else if err := stripControl(&out, m.Raw); err != nil {
		return ErrInvalidMessage.With("the message header could not be read: %v", err)
	}
	if m.Domain == nil {
		_, err := w.Write(out.Bytes())
		return err
	}
	return dkim.SignBytes(w, out.Bytes(), m.Domain.Name, m.Keys)
}

// stripControl writes raw without its X-Waymark-* header fields.
func stripControl(w io.Writer, raw []byte) error {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return err
	}
	for f := h.Fields(); f.Next(); {
		if IsControlHeader(f.Key()) {
			f.Del()
		}
	}
	if err := textproto.WriteHeader(w, h); err != nil {
		return err
	}
	_, err = io.Copy(w, br)
	return err
}

// ParseRecipient returns the bare address of a recipient ("Ann
// <ann@example.com>" gives ann@example.com); quoted or non-ASCII local
// parts are refused (domain.Mailbox).
func ParseRecipient(s string) (string, error) {
	a, err := domain.Mailbox(s)
	if err != nil {
		return "", ErrRecipientInvalid.With("%q is not a plain email address (name@example.com)", s)
	}
	return a, nil
}
