package track

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
)

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
