package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/store"
)

// recordVersion is the first byte of every record; a record of another
// version is refused, never guessed at.
const recordVersion = 1

// ErrBadRecord: a journal record that does not decode.
var ErrBadRecord = errors.New("ingest: bad event record")

// Encode appends the record of e to b: the version, then At as Unix
// microseconds (a varint), then each text field as a length (uvarint) and
// its bytes. Seq is not in it: the store assigns it.
func Encode(b []byte, e store.Event) []byte {
	b = append(b, recordVersion)
	b = binary.AppendVarint(b, e.At.UnixMicro())
	for _, s := range [...]string{e.ID, e.ClusterID, string(e.Type), e.MessageID, e.Recipient, e.URL, e.Host,
		e.ClientIP, e.UserAgent, string(e.Class), e.Reason} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// Decode reads a record Encode made.
func Decode(b []byte) (store.Event, error) {
	var e store.Event
	if len(b) == 0 || b[0] != recordVersion {
		return e, fmt.Errorf("%w: version %v", ErrBadRecord, b[:min(1, len(b))])
	}
	b = b[1:]
	at, n := binary.Varint(b)
	if n <= 0 || n != len(binary.AppendVarint(nil, at)) { // one encoding only
		return e, fmt.Errorf("%w: time", ErrBadRecord)
	}
	b = b[n:]
	e.At = time.UnixMicro(at).UTC()
	var typ, class string
	for _, p := range [...]*string{&e.ID, &e.ClusterID, &typ, &e.MessageID, &e.Recipient, &e.URL, &e.Host,
		&e.ClientIP, &e.UserAgent, &class, &e.Reason} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) || n != len(binary.AppendUvarint(nil, l)) {
			return e, fmt.Errorf("%w: field length", ErrBadRecord)
		}
		*p = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return e, fmt.Errorf("%w: %d bytes after the last field", ErrBadRecord, len(b))
	}
	e.Type, e.Class = event.Type(typ), event.Class(class)
	if !e.Type.Valid() || e.ClusterID == "" || e.ID == "" {
		return e, fmt.Errorf("%w: type %q, cluster %q, id %q", ErrBadRecord, typ, e.ClusterID, e.ID)
	}
	return e, nil
}
