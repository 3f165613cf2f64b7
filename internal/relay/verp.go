package relay

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

var mailIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewMailID returns a random id for one queued copy: 80 bits in 16 lower
// case letters and digits, so that it survives in an address's local part
// whatever an MTA does to its case, and cannot be guessed.
func NewMailID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return mailIDEncoding.EncodeToString(b)
}

// VERP is the envelope sender of a queued copy: bounces to it name the
// message and the recipient (RFC 5321 local parts stay under 64 octets).
func VERP(id, bounceHost string) string { return "b-" + id + "@" + bounceHost }

// ParseVERP returns the queue id of a VERP address, or false.
func ParseVERP(addr string) (string, bool) {
	local, _, ok := strings.Cut(strings.ToLower(strings.TrimSpace(addr)), "@")
	id, ok2 := strings.CutPrefix(local, "b-")
	if !ok || !ok2 || len(id) != 16 {
		return "", false
	}
	if _, err := mailIDEncoding.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}
