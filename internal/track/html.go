package track

import (
	"bytes"
	"io"
	"strings"

	"golang.org/x/net/html"
)

var (
	openA     = []byte("<a")
	closeBody = []byte("</body")
	curly     = []byte("{{")
)

// hasPrefixFold reports whether b starts with the ASCII prefix, ignoring case.
func hasPrefixFold(b, prefix []byte) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], prefix)
}

// dataWaymark is the attribute that turns tracking off for one link.
var dataWaymark = []byte("data-waymark")

// hasDataWaymark reports whether tag contains "data-waymark" in any case,
// looking only where a '-' is.
func hasDataWaymark(tag []byte) bool {
	for off := 0; ; {
		j := bytes.IndexByte(tag[off:], '-')
		if j < 0 {
			return false
		}
		if i := off + j; i >= 4 && hasPrefixFold(tag[i-4:], dataWaymark) {
			return true
		}
		off += j + 1
	}
}

// HTML rewrites one HTML document from r to w with the x/net/html
// tokenizer: every token is copied from its raw bytes, except the href
// value of an <a> that is rewritten, the placeholders, and the pixel and
// honeypot added before </body> (or at the end).
func (rw *Rewriter) HTML(w io.Writer, r io.Reader) error {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(0)
	// Buffers reused from token to token: a copy of an <a> tag, the tag
	// rewritten, and a token with its placeholders replaced.
	var tag, rewritten, replaced []byte
	done := false        // pixel written
	rawOpen := ""        // raw-text element (script, style, …) still open
	openComment := false // the last token is a comment cut off by the end
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				return z.Err()
			}
			break
		}
		raw := z.Raw()
		openComment = tt == html.CommentToken && !bytes.HasSuffix(raw, []byte(">"))
		if tt == html.StartTagToken || tt == html.EndTagToken {
			if name := rawTextName(raw, tt == html.EndTagToken); name != "" {
				if tt == html.StartTagToken {
					rawOpen = name
				} else if name == rawOpen {
					rawOpen = ""
				}
			}
		}
		switch {
		case rw.htmlClicks() && (tt == html.StartTagToken || tt == html.SelfClosingTagToken) && hasPrefixFold(raw, openA) && len(raw) > 2 && !isNameByte(raw[2]):
			// Copy first: reading attributes may lower-case names in place.
			tag = append(tag[:0], raw...)
			var err error
			if rewritten, err = rw.anchor(rewritten[:0], z, tag); err != nil {
				return err
			}
			raw = rewritten
		case tt == html.EndTagToken && !done && hasPrefixFold(raw, closeBody):
			var err error
			if replaced, err = rw.appendPixel(replaced[:0]); err != nil {
				return err
			}
			if _, err := w.Write(replaced); err != nil {
				return err
			}
			done = true
		}
		if bytes.Contains(raw, curly) {
			var err error
			if replaced, err = rw.appendPlaceholders(replaced[:0], raw, tt == html.TextToken && rawOpen == ""); err != nil {
				return err
			}
			raw = replaced
		}
		if _, err := w.Write(raw); err != nil {
			return err
		}
	}
	if done {
		return nil
	}
	// The document ended inside a comment or a script (or style, title, …):
	// close it, so the pixel is markup and not comment or script text.
	switch {
	case rawOpen == "plaintext":
		return nil // nothing can follow <plaintext>
	case rawOpen != "":
		if _, err := io.WriteString(w, "</"+rawOpen+">"); err != nil {
			return err
		}
	case openComment:
		if _, err := io.WriteString(w, "-->"); err != nil {
			return err
		}
	}
	pixel, err := rw.appendPixel(replaced[:0])
	if err != nil {
		return err
	}
	_, err = w.Write(pixel)
	return err
}

// rawTextNames are the elements whose content the tokenizer reads as text
// up to their end tag.
var rawTextNames = []string{"iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp"}

// rawTextName returns the lower-case name of a raw-text element tag, or "".
func rawTextName(raw []byte, end bool) string {
	name := raw[1:]
	if end {
		name = name[1:]
	}
	n := 0
	for n < len(name) && isNameByte(name[n]) {
		n++
	}
	for _, r := range rawTextNames {
		if n == len(r) && bytes.EqualFold(name[:n], []byte(r)) {
			return r
		}
	}
	return ""
}

func isNameByte(b byte) bool {
	return b != ' ' && b != '\t' && b != '\n' && b != '\r' && b != '\f' && b != '/' && b != '>'
}

// appendPixel appends the hidden honeypot link (when HTML links are
// tracked) and the open pixel (unless NoOpens) to dst.
func (rw *Rewriter) appendPixel(dst []byte) ([]byte, error) {
	var err error
	if rw.htmlClicks() && !rw.NoHoneypot {
		dst = append(dst, `<a href="`...)
		if dst, err = rw.appendLink(dst, Honeypot, ""); err != nil {
			return dst, err
		}
		dst = append(dst, `" style="display:none !important" aria-hidden="true" tabindex="-1"></a>`...)
	}
	if rw.NoOpens {
		return dst, nil
	}
	dst = append(dst, `<img src="`...)
	if dst, err = rw.appendLink(dst, Open, ""); err != nil {
		return dst, err
	}
	return append(dst, `" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">`...), nil
}

// anchor appends one <a> start tag, given its raw bytes, to dst with its
// href rewritten.
func (rw *Rewriter) anchor(dst []byte, z *html.Tokenizer, tag []byte) ([]byte, error) {
	var href string
	var hasHref bool
	off := false
	// Each attribute read is copied out of the tokenizer: with no
	// data-waymark anywhere in the tag, stop at the first href.
	optOut := hasDataWaymark(tag)
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "href":
			if !hasHref { // the first of duplicates counts, as in browsers
				href, hasHref = string(v), true
			}
		case "data-waymark":
			off = off || strings.EqualFold(strings.TrimSpace(string(v)), "off")
		}
		if !more || hasHref && !optOut {
			break
		}
	}
	dest := strings.TrimSpace(href)
	if !hasHref || off && !rw.TrackOptedOut || !isHTTP(dest) || rw.kept(dest) {
		return append(dst, tag...), nil // too long for a token: left as written, untracked
	}
	start, end, ok := attrValue(tag, "href")
	if !ok {
		return append(dst, tag...), nil // cannot splice safely: leave the link as it is
	}
	dst = append(dst, tag[:start]...)
	dst = append(dst, '"')
	dst, err := rw.appendLink(dst, Click, dest)
	if err != nil {
		return dst, err
	}
	dst = append(dst, '"')
	return append(dst, tag[end:]...), nil
}

// attrValue finds the value of the first attribute name in a raw start tag
// and returns its span, quotes included. It follows the attribute states of
// the HTML tokenizer (WHATWG HTML 13.2.5.32-38).
func attrValue(tag []byte, name string) (start, end int, ok bool) {
	space := func(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' }
	i := 1
	for i < len(tag) && !space(tag[i]) && tag[i] != '/' && tag[i] != '>' {
		i++ // tag name
	}
	for i < len(tag) {
		for i < len(tag) && (space(tag[i]) || tag[i] == '/') {
			i++
		}
		if i >= len(tag) || tag[i] == '>' {
			return 0, 0, false
		}
		ns := i
		i++ // the first character may be '='
		for i < len(tag) && !space(tag[i]) && tag[i] != '/' && tag[i] != '>' && tag[i] != '=' {
			i++
		}
		attr := tag[ns:i]
		for i < len(tag) && space(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] != '=' {
			continue // no value
		}
		i++
		for i < len(tag) && space(tag[i]) {
			i++
		}
		vs := i
		if i < len(tag) && (tag[i] == '"' || tag[i] == '\'') {
			q := tag[i]
			j := bytes.IndexByte(tag[i+1:], q)
			if j < 0 {
				return 0, 0, false
			}
			i += j + 2
		} else {
			for i < len(tag) && !space(tag[i]) && tag[i] != '>' {
				i++
			}
		}
		if strings.EqualFold(string(attr), name) {
			return vs, i, i > vs
		}
	}
	return 0, 0, false
}
