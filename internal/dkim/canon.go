package dkim

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// Relaxed canonicalisation (RFC 6376 section 3.4), written here rather
// than taken from go-msgauth: its body canonicaliser runs the message
// through an io.Pipe and a goroutine and looks at every byte three times
// (line-ending fixer, canonicaliser, copy), about 12 ns a byte, which was
// 93% of the cost of an Ed25519 signature of a 25 KB message, and it
// offers no way to hand it a body hash computed elsewhere. These
// functions work on whole lines and copy unchanged runs as they are.
// go-msgauth, python3-dkim and OpenDKIM verify what they produce (tests),
// and a fuzz test compares the body hash with go-msgauth's.

// A line ends at LF, with or without a CR before it: mail read from SMTP
// has CRLF, and a bare LF is what a CRLF becomes in a Unix file; both
// signers and verifiers treat it as CRLF. A CR not followed by LF is an
// ordinary character here, as in python3-dkim (go-msgauth treats it as a
// line break).

// hashChunk is how much canonical text is gathered before it is hashed.
const hashChunk = 32 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, hashChunk+1024); return &b }}

// relaxedBodyHash returns the SHA-256 of body's relaxed canonical form
// (RFC 6376 section 3.4.4): whitespace at line ends removed, runs of
// whitespace reduced to one space, empty lines at the end removed, and a
// CRLF after the last line if the body is not empty.
func relaxedBodyHash(body []byte) [sha256.Size]byte {
	h := sha256.New()
	bufp := chunkPool.Get().(*[]byte)
	buf := (*bufp)[:0]
	empty := 0 // empty lines not yet written: dropped if nothing follows
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
		} else {
			line, body = body, nil // the last line, without a line break
		}
		line = trimWSPRight(line)
		if len(line) == 0 {
			empty++
			continue
		}
		for ; empty > 0; empty-- {
			buf = append(buf, '\r', '\n')
			if len(buf) >= hashChunk {
				h.Write(buf)
				buf = buf[:0]
			}
		}
		buf = appendCollapsed(buf, line)
		buf = append(buf, '\r', '\n')
		if len(buf) >= hashChunk {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	*bufp = buf
	chunkPool.Put(bufp)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func trimWSPRight(s []byte) []byte {
	for len(s) > 0 && isWSP(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// appendCollapsed appends s with every run of spaces and tabs made one
// space. s does not end with whitespace. Only a tab or two spaces in a row
// start a change; the scan tests eight bytes at a time for them, and the
// text between changes is copied as it is.
func appendCollapsed(dst, s []byte) []byte {
	start, i := 0, 0
	for i < len(s) {
		for i+9 <= len(s) { // s[i+8] is read for a run across the word's end
			v := binary.LittleEndian.Uint64(s[i:])
			sp := zeroBytes(v ^ 0x2020202020202020) // 0x80 in each space
			if zeroBytes(v^0x0909090909090909) != 0 || sp&(sp>>8) != 0 || (sp>>63 != 0 && isWSP(s[i+8])) {
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		if c := s[i]; !isWSP(c) || (c == ' ' && i+1 < len(s) && !isWSP(s[i+1])) {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, ' ')
		for i++; i < len(s) && isWSP(s[i]); i++ {
		}
		start = i
	}
	return append(dst, s[start:]...)
}

// zeroBytes has 0x80 in each byte of v that is zero and 0 elsewhere, with
// no false positives (the carry never crosses a byte: the high bit is
// masked before the add).
func zeroBytes(v uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((v & low7) + low7 | v | low7)
}

// appendRelaxedHeader appends the relaxed canonical form of one raw header
// field, folded lines included (RFC 6376 section 3.4.2): name in lower
// case, no whitespace around the colon, the value unfolded with runs of
// whitespace made one space and none at either end, then CRLF.
func appendRelaxedHeader(dst, field []byte) []byte {
	colon := bytes.IndexByte(field, ':')
	if colon < 0 {
		colon = len(field)
	}
	for _, c := range bytes.TrimRight(field[:colon], " \t") {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, ':')
	if colon == len(field) {
		return append(dst, '\r', '\n')
	}
	space, written := false, false
	for _, c := range field[colon+1:] {
		switch c {
		case '\r', '\n':
			// unfolding: the whitespace after the line break remains
		case ' ', '\t':
			space = true
		default:
			if space && written {
				dst = append(dst, ' ')
			}
			space, written = false, true
			dst = append(dst, c)
		}
	}
	return append(dst, '\r', '\n')
}
