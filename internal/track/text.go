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
	out := make([]byte, 0, len(body)+len(body)/4)
	last := 0
	var found [][]int
	if rw.textClicks() {
		found = bareURL.FindAllIndex(body, -1)
	}
	for _, m := range found {
		s, e := m[0], m[1]
		for e > s && strings.IndexByte(".,;:!?)]}'", body[e-1]) >= 0 {
			e--
		}
		dest := string(body[s:e])
		if rw.kept(dest) {
			continue
		}
		out = append(out, body[last:s]...)
		if out, err = rw.appendLink(out, Click, dest); err != nil {
			return err
		}
		last = e
	}
	out = append(out, body[last:]...)
	if bytes.Contains(out, curly) {
		if out, err = rw.appendPlaceholders(nil, out, false); err != nil {
			return err
		}
	}
	_, err = w.Write(out)
	return err
}
