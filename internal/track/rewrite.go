package track

import (
	"bytes"
	"io"
	"strings"
)

// Minter makes the token of one link of the message being rewritten; the
// cluster, message, recipient and key are the minter's.
type Minter func(kind Kind, url string) (string, error)

// Rewriter turns a message's links into tracking links on one host. With
// an Encoder it is not safe for concurrent use.
type Rewriter struct {
	// Host is the tracking host (see Host).
	Host string
	// Encoder, if set, mints the links' tokens: each is Token with the
	// link's kind and URL, appended to the output with no allocation.
	Encoder *Encoder
	// Token is what every token carries besides its kind and URL (key id,
	// issued, cluster, message, recipient), when Encoder is set.
	Token Token
	// Mint makes each link's token when Encoder is nil.
	Mint Minter
	// Drop, if set, removes the top-level header fields it returns true
	// for (the X-Waymark-* control headers).
	Drop func(key string) bool
	// Keep, if set, leaves the links it returns true for as they are:
	// never redirected through the tracking host (a destination on a
	// blocklist, with --uribl-action untrack).
	Keep func(dest string) bool
	// Clicks says which parts' links are tracked (the zero value: all);
	// NoOpens leaves out the open pixel. The unsubscribe and forward
	// placeholders and List-Unsubscribe are written whatever these say.
	Clicks  Clicks
	NoOpens bool
	// NoHoneypot leaves out the hidden link (a web version's page).
	NoHoneypot bool
	// TrackOptedOut tracks the links marked data-waymark="off" too: a web
	// version on the tracking host must not link anywhere unchecked.
	TrackOptedOut bool
}

// Clicks is which parts' links a rewrite tracks (X-Waymark-Track clicks=).
type Clicks uint8

const (
	// ClicksAll tracks the links of HTML and plain-text parts.
	ClicksAll Clicks = iota
	// ClicksHTML tracks only HTML parts' links.
	ClicksHTML
	// ClicksText tracks only plain-text parts' links.
	ClicksText
	// ClicksOff tracks no link (and adds no honeypot).
	ClicksOff
)

var clicksNames = [...]string{"all", "html", "text", "off"}

func (c Clicks) String() string { return clicksNames[c] }

// ParseClicks reads a clicks setting: all, html, text or off.
func ParseClicks(s string) (Clicks, bool) {
	for i, n := range clicksNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Clicks(i), true
		}
	}
	return 0, false
}

func (rw *Rewriter) htmlClicks() bool { return rw.Clicks == ClicksAll || rw.Clicks == ClicksHTML }
func (rw *Rewriter) textClicks() bool { return rw.Clicks == ClicksAll || rw.Clicks == ClicksText }

// kept reports a link the rewriter leaves as it is.
func (rw *Rewriter) kept(dest string) bool {
	return rw.isOurs(dest) || len(dest) > maxURL || rw.Keep != nil && rw.Keep(dest)
}

// Placeholders the author writes where the unsubscribe and forward links go.
const (
	UnsubscribePlaceholder = "{{unsubscribe}}"
	ForwardPlaceholder     = "{{forward}}"
	WebVersionPlaceholder  = "{{webversion}}"
)

// appendLink appends the tracking URL of a token of the given kind to dst.
func (rw *Rewriter) appendLink(dst []byte, kind Kind, dest string) ([]byte, error) {
	path := byte(kind)
	if kind == Honeypot {
		path = byte(Click) // a honeypot looks like any click link
	}
	dst = append(dst, "https://"...)
	dst = append(dst, rw.Host...)
	dst = append(dst, '/', path, '/')
	if rw.Encoder != nil {
		t := rw.Token
		t.Kind, t.URL = kind, dest
		return rw.Encoder.Append(dst, t)
	}
	tok, err := rw.Mint(kind, dest)
	if err != nil {
		return dst, err
	}
	return append(dst, tok...), nil
}

// link is the tracking URL of a token of the given kind.
func (rw *Rewriter) link(kind Kind, dest string) (string, error) {
	b, err := rw.appendLink(nil, kind, dest)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// isHTTP reports an absolute http(s) URL.
func isHTTP(s string) bool {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return false
	}
	scheme := strings.ToLower(s[:i])
	return (scheme == "http" || scheme == "https") && len(s) > i+3 && s[i+1:i+3] == "//"
}

// isOurs reports a link already on the tracking host, which must not be
// wrapped twice.
func (rw *Rewriter) isOurs(s string) bool {
	rest := s[strings.IndexByte(s, ':')+3:]
	return strings.HasPrefix(strings.ToLower(rest), strings.ToLower(rw.Host)+"/")
}

// placeholders are the texts appendPlaceholders replaces.
var placeholders = [...]struct {
	text []byte
	kind Kind
}{{[]byte(UnsubscribePlaceholder), Unsubscribe}, {[]byte(ForwardPlaceholder), Forward}, {[]byte(WebVersionPlaceholder), View}}

// appendPlaceholders appends b to dst with {{unsubscribe}} and {{forward}}
// replaced by their links, one token of each kind for all its occurrences.
// In HTML text (htmlText), a '<' just before a link is written as "&lt;":
// followed by the link's letters it would open a tag that swallows the link
// and the markup after it (WHATWG HTML 13.2.5.6, tag open state). ("</"
// and a brace are a bogus comment, not text, 13.2.5.7.)
func (rw *Rewriter) appendPlaceholders(dst, b []byte, htmlText bool) ([]byte, error) {
	var minted [len(placeholders)]struct{ start, end int } // in dst; end 0 until minted
	base := len(dst)
	for {
		i := bytes.Index(b, curly)
		if i < 0 {
			return append(dst, b...), nil
		}
		dst, b = append(dst, b[:i]...), b[i:]
		p := 0
		for p < len(placeholders) && !bytes.HasPrefix(b, placeholders[p].text) {
			p++
		}
		if p == len(placeholders) {
			dst, b = append(dst, b[0]), b[1:] // a brace of something else
			continue
		}
		b = b[len(placeholders[p].text):]
		if htmlText && len(dst) > base && dst[len(dst)-1] == '<' {
			dst = append(dst[:len(dst)-1], "&lt;"...)
		}
		if m := minted[p]; m.end > 0 {
			dst = append(dst, dst[m.start:m.end]...)
			continue
		}
		start := len(dst)
		var err error
		if dst, err = rw.appendLink(dst, placeholders[p].kind, ""); err != nil {
			return dst, err
		}
		minted[p].start, minted[p].end = start, len(dst)
	}
}

// Links lists the destinations of the links a rewrite of msg with clicks
// would track, each once, in the order they first appear.
func Links(msg []byte, clicks Clicks) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	rw := &Rewriter{Host: "links.invalid", Clicks: clicks, Mint: func(kind Kind, dest string) (string, error) {
		if kind == Click && dest != "" && !seen[dest] {
			seen[dest] = true
			out = append(out, dest)
		}
		return "x", nil
	}}
	err := rw.Message(io.Discard, bytes.NewReader(msg))
	return out, err
}
