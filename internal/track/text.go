package track

import (
	"bytes"
	"io"
	"regexp"
	"strings"
)

// bareURL finds URLs in plain text. Regular expressions are fine here: this
// is text, not HTML.
var bareURL = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"]+`)

// Text rewrites a plain-text part: bare http(s) URLs become click links
// (without trailing punctuation), and the placeholders are replaced.
func (rw *Rewriter) Text(w io.Writer, r io.Reader) error {
	body, err := io.ReadAll(io.LimitReader(r, 32<<20))
	if err != nil {
		return err
	}
	var out bytes.Buffer
	last := 0
	for _, m := range bareURL.FindAllIndex(body, -1) {
		s, e := m[0], m[1]
		for e > s && strings.IndexByte(".,;:!?)]}'", body[e-1]) >= 0 {
			e--
		}
		dest := string(body[s:e])
		if rw.isOurs(dest) || len(dest) > maxURL {
			continue
		}
		link, err := rw.link(Click, dest)
		if err != nil {
			return err
		}
		out.Write(body[last:s])
		out.WriteString(link)
		last = e
	}
	out.Write(body[last:])
	b, err := rw.placeholders(out.Bytes())
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
