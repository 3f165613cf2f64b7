package track

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"regexp"
	"strings"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/html"
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

// Message rewrites a whole RFC 5322 message from r to w: the HTML and text
// parts (not attachments, not attached messages), whatever their transfer
// encoding, and List-Unsubscribe headers (RFC 2369, RFC 8058 one-click) at
// the top. Headers and the parts it does not rewrite are copied as they
// are; rewritten parts keep their charset and transfer encoding.
func (rw *Rewriter) Message(w io.Writer, r io.Reader) error {
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return fmt.Errorf("message header: %w", err)
	}
	if rw.Drop != nil {
		for f := h.Fields(); f.Next(); {
			if rw.Drop(f.Key()) {
				f.Del()
			}
		}
	}
	unsub, err := rw.link(Unsubscribe, "")
	if err != nil {
		return err
	}
	list := "<" + unsub + ">"
	if old := strings.TrimSpace(h.Get("List-Unsubscribe")); old != "" {
		list += ", " + old // keep the author's mailto: as a fallback
	}
	h.Del("List-Unsubscribe")
	h.Del("List-Unsubscribe-Post")
	h.Add("List-Unsubscribe", list)
	h.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	bw := bufio.NewWriter(w)
	if err := rw.body(bw, h, br, 0); err != nil {
		return err
	}
	return bw.Flush()
}

// maxDepth bounds multipart nesting.
const maxDepth = 20

// ErrTooDeep is a message nested more deeply than anyone sends.
var ErrTooDeep = errors.New("track: MIME parts nested too deeply")

// body writes an entity's header h and its rewritten body.
func (rw *Rewriter) body(w io.Writer, h textproto.Header, body io.Reader, depth int) error {
	if depth > maxDepth {
		return ErrTooDeep
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		mediaType, params = "text/plain", nil // RFC 2045 section 5.2 default
	}
	disposition, _, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	switch {
	case strings.HasPrefix(mediaType, "multipart/") && params["boundary"] != "":
		if err := textproto.WriteHeader(w, h); err != nil {
			return err
		}
		return rw.multipart(w, params["boundary"], body, depth)
	case disposition == "attachment", mediaType != "text/html" && mediaType != "text/plain":
		if err := textproto.WriteHeader(w, h); err != nil {
			return err
		}
		_, err := io.Copy(w, body)
		return err
	}
	// The part is read whole (a message is bounded by the caller) so that a
	// part that does not decode (bad base64, a signature glued after it)
	// goes out exactly as it came, untracked, instead of failing the message.
	raw, err := io.ReadAll(io.LimitReader(body, maxPart+1))
	if err != nil {
		return err
	}
	if len(raw) > maxPart {
		return ErrTooLarge
	}
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	var out bytes.Buffer
	decoded, ew, err := transferCoding(enc, bytes.NewReader(raw), &out)
	if err == nil {
		if mediaType == "text/html" {
			err = rw.HTML(ew, decoded)
		} else {
			err = rw.Text(ew, decoded)
		}
	}
	if err == nil {
		err = ew.Close()
	}
	if err != nil {
		if err := textproto.WriteHeader(w, h); err != nil {
			return err
		}
		_, err = w.Write(raw)
		return err
	}
	if identity(enc) && longLine(out.Bytes()) {
		// A token longer than the link it replaced pushed a line past
		// SMTP's 998 octets (RFC 5321 section 4.5.3.1.6); a relay would
		// break it and the signature with it. Quoted-printable keeps
		// lines short and the text the same.
		var qp bytes.Buffer
		qw := quotedprintable.NewWriter(&qp)
		if _, err := qw.Write(out.Bytes()); err != nil {
			return err
		}
		if err := qw.Close(); err != nil {
			return err
		}
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		out = qp
	}
	if err := textproto.WriteHeader(w, h); err != nil {
		return err
	}
	_, err = w.Write(out.Bytes())
	return err
}

// identity reports the transfer encodings that leave text as it is.
func identity(enc string) bool { return enc == "" || enc == "7bit" || enc == "8bit" || enc == "binary" }

// maxLine is the longest line SMTP carries, without its CRLF.
const maxLine = 998

// longLine reports whether b has a line longer than maxLine octets.
func longLine(b []byte) bool {
	for len(b) > maxLine {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return true
		}
		if n := i; n > maxLine && !(n == maxLine+1 && b[i-1] == '\r') {
			return true
		}
		b = b[i+1:]
	}
	return false
}

// maxPart bounds one text part.
const maxPart = 32 << 20

// ErrTooLarge is a text part larger than maxPart.
var ErrTooLarge = errors.New("track: a text part is larger than 32 MiB")

func (rw *Rewriter) multipart(w io.Writer, boundary string, body io.Reader, depth int) error {
	// Delimiters are written by hand (RFC 2046 section 5.1.1) rather than
	// with a multipart writer, which refuses boundaries real mail uses
	// (longer than 70 characters, or with characters such as '#').
	mr := textproto.NewMultipartReader(body, boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("MIME part: %w", err)
		}
		if _, err := io.WriteString(w, "\r\n--"+boundary+"\r\n"); err != nil {
			return err
		}
		if err := rw.body(w, p.Header, p, depth+1); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\r\n--"+boundary+"--\r\n")
	return err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// transferCoding decodes body and returns a writer that encodes the same
// way onto w (RFC 2045 section 6).
func transferCoding(enc string, body io.Reader, w io.Writer) (io.Reader, io.WriteCloser, error) {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return body, nopCloser{w}, nil
	case "quoted-printable":
		return quotedprintable.NewReader(body), quotedprintable.NewWriter(w), nil
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: body}), newB64(&wrap76{w: w}), nil
	}
	return nil, nil, fmt.Errorf("unknown transfer encoding %q", enc)
}

// newB64 encodes base64 onto w (wrapped by the caller).
func newB64(w io.Writer) io.WriteCloser { return base64.NewEncoder(base64.StdEncoding, w) }

// base64Cleaner drops the line breaks and spaces of a base64 body.
type base64Cleaner struct{ r io.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	j := 0
	for _, b := range p[:n] {
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			p[j] = b
			j++
		}
	}
	return j, err
}

// wrap76 breaks base64 output into 76-character lines (RFC 2045 6.8).
type wrap76 struct {
	w   io.Writer
	col int
}

func (l *wrap76) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		n := min(76-l.col, len(p))
		if _, err := l.w.Write(p[:n]); err != nil {
			return 0, err
		}
		p, l.col = p[n:], l.col+n
		if l.col == 76 {
			if _, err := l.w.Write([]byte("\r\n")); err != nil {
				return 0, err
			}
			l.col = 0
		}
	}
	return total, nil
}

var (
	openA     = []byte("<a")
	closeBody = []byte("</body")
	curly     = []byte("{{")
)

// hasPrefixFold reports whether b starts with the ASCII prefix, ignoring case.
func hasPrefixFold(b, prefix []byte) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], prefix)
}

// HTML rewrites one HTML document from r to w with the x/net/html
// tokenizer: every token is copied from its raw bytes, except the href
// value of an <a> that is rewritten, the placeholders, and the pixel and
// honeypot added before </body> (or at the end).
func (rw *Rewriter) HTML(w io.Writer, r io.Reader) error {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(0)
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
		case (tt == html.StartTagToken || tt == html.SelfClosingTagToken) && hasPrefixFold(raw, openA) && len(raw) > 2 && !isNameByte(raw[2]):
			// Copy first: reading attributes lower-cases names in place.
			tag := append([]byte(nil), raw...)
			out, err := rw.anchor(z, tag)
			if err != nil {
				return err
			}
			raw = out
		case tt == html.EndTagToken && !done && hasPrefixFold(raw, closeBody):
			if err := rw.pixel(w); err != nil {
				return err
			}
			done = true
		}
		if bytes.Contains(raw, curly) {
			var err error
			if raw, err = rw.placeholders(raw); err != nil {
				return err
			}
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
	return rw.pixel(w)
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

// pixel writes the hidden honeypot link and the open pixel.
func (rw *Rewriter) pixel(w io.Writer) error {
	trap, err := rw.link(Honeypot, "")
	if err != nil {
		return err
	}
	open, err := rw.link(Open, "")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, `<a href="%s" style="display:none !important" aria-hidden="true" tabindex="-1"></a>`+
		`<img src="%s" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">`, trap, open)
	return err
}

// anchor rewrites the href of one <a> start tag, given its raw bytes.
func (rw *Rewriter) anchor(z *html.Tokenizer, tag []byte) ([]byte, error) {
	var href string
	var hasHref bool
	off := false
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
		if !more {
			break
		}
	}
	dest := strings.TrimSpace(href)
	if !hasHref || off || !isHTTP(dest) || rw.isOurs(dest) || len(dest) > maxURL {
		return tag, nil // too long for a token: left as written, untracked
	}
	start, end, ok := attrValue(tag, "href")
	if !ok {
		return tag, nil // cannot splice safely: leave the link as it is
	}
	link, err := rw.link(Click, dest)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(tag)+len(link))
	out = append(out, tag[:start]...)
	out = append(out, '"')
	out = append(out, link...)
	out = append(out, '"')
	return append(out, tag[end:]...), nil
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
