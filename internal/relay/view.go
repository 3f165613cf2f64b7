package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"

	"io"
	"strings"

	xhtml "golang.org/x/net/html"

	"github.com/emersion/go-message"

	"github.com/waymark-mail/waymark/internal/store"
)

// ErrViewUnavailable: the message is not kept (any more) for its web
// version.
var ErrViewUnavailable = errors.New("relay: this message's web version is no longer kept")

// View is the web version of the message one recipient got: the kept
// message rewritten for them as it was sent (their own links; no pixel,
// the visit being the view event), its HTML part as a page, or its text in
// a <pre> when it has none.
func (r *Relay) View(ctx context.Context, clusterID, messageID, recipient string) ([]byte, error) {
	sent, err := r.Store.MailFor(ctx, clusterID, messageID, recipient)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sent.SavedMessage == "") {
		return nil, ErrViewUnavailable
	}
	if err != nil {
		return nil, err
	}
	raw, err := r.Store.Message(ctx, clusterID, sent.SavedMessage)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrViewUnavailable
	}
	if err != nil {
		return nil, err
	}
	select { // a web version can be 25 MiB to rewrite: a few at a time
	case viewSlots <- struct{}{}:
		defer func() { <-viewSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m, err := r.Composer.Prepare(ctx, Submission{ClusterID: clusterID, Raw: raw, MessageID: messageID, WebVersion: true})
	var ref *Refusal
	if errors.As(err, &ref) {
		// Refused now (a link listed since, a tracking domain gone): the
		// web version is not shown rather than shown otherwise.
		return nil, fmt.Errorf("%w: %v", ErrViewUnavailable, err)
	}
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := m.WriteCopy(&out, clusterID, recipient); err != nil {
		return nil, err
	}
	return webVersion(out.Bytes())
}

// viewSlots bounds the web versions rendered at once.
var viewSlots = make(chan struct{}, 2)

// sanitize removes from a web version what would act on its own in a
// browser beyond what the page's Content-Security-Policy stops: a <meta
// http-equiv> (a refresh is a redirect to anywhere) and <base> (which
// would move every relative URL).
func sanitize(page []byte) []byte {
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	var out bytes.Buffer
	out.Grow(len(page))
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			return out.Bytes()
		}
		raw := z.Raw()
		if tt == xhtml.StartTagToken || tt == xhtml.SelfClosingTagToken {
			name, hasAttr := z.TagName()
			switch string(name) {
			case "base":
				continue
			case "meta":
				drop := false
				for hasAttr {
					var key []byte
					key, _, hasAttr = z.TagAttr()
					drop = drop || string(key) == "http-equiv"
				}
				if drop {
					continue
				}
			}
		}
		out.Write(raw)
	}
}

// webVersion finds the page in a written copy: its first text/html part,
// decoded, else its first text/plain part, escaped in a <pre>.
func webVersion(msg []byte) ([]byte, error) {
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, err
	}
	var htmlPart, textPart []byte
	walkErr := e.Walk(func(_ []int, p *message.Entity, err error) error {
		if err != nil {
			return nil
		}
		t, _, _ := p.Header.ContentType()
		if disp, _, _ := p.Header.ContentDisposition(); disp == "attachment" {
			return nil
		}
		switch {
		case t == "text/html" && htmlPart == nil:
			htmlPart, _ = io.ReadAll(io.LimitReader(p.Body, MaxMessage))
		case (t == "text/plain" || t == "") && textPart == nil && !strings.HasPrefix(t, "multipart/"):
			textPart, _ = io.ReadAll(io.LimitReader(p.Body, MaxMessage))
		}
		return nil
	})
	if walkErr != nil {
		return nil, walkErr
	}
	if htmlPart != nil {
		return sanitize(htmlPart), nil
	}
	return []byte("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><pre style=\"white-space:pre-wrap\">" +
		html.EscapeString(string(textPart)) + "</pre></body></html>"), nil
}
