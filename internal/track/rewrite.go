package track

import (
	"bytes"
	"strings"
)

// Minter makes the token of one link of the message being rewritten; the
// cluster, message, recipient and key are the minter's.
type Minter func(kind Kind, url string) (string, error)

// Rewriter turns a message's links into tracking links on one host.
type Rewriter struct {
	// Host is the tracking host (see Host).
	Host string
	Mint Minter
	// Drop, if set, removes the top-level header fields it returns true
	// for (the X-Waymark-* control headers).
	Drop func(key string) bool
}

// Placeholders the author writes where the unsubscribe and forward links go.
const (
	UnsubscribePlaceholder = "{{unsubscribe}}"
	ForwardPlaceholder     = "{{forward}}"
)

// link is the tracking URL of a token of the given kind.
func (rw *Rewriter) link(kind Kind, dest string) (string, error) {
	tok, err := rw.Mint(kind, dest)
	if err != nil {
		return "", err
	}
	path := string(kind)
	if kind == Honeypot {
		path = "c" // a honeypot looks like any click link
	}
	return "https://" + rw.Host + "/" + path + "/" + tok, nil
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

// placeholders replaces {{unsubscribe}} and {{forward}} in b.
func (rw *Rewriter) placeholders(b []byte) ([]byte, error) {
	for _, p := range []struct {
		text string
		kind Kind
	}{{UnsubscribePlaceholder, Unsubscribe}, {ForwardPlaceholder, Forward}} {
		if !bytes.Contains(b, []byte(p.text)) {
			continue
		}
		link, err := rw.link(p.kind, "")
		if err != nil {
			return nil, err
		}
		b = bytes.ReplaceAll(b, []byte(p.text), []byte(link))
	}
	return b, nil
}
