package track

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message/textproto"
)

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
