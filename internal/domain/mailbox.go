package domain

import (
	"errors"
	"net/mail"
	"strings"
)

// ErrMailbox is an address waymark will not send to.
var ErrMailbox = errors.New("not a plain email address (name@example.com, ASCII, no quotes)")

// Mailbox returns the bare address of s ("Ann <Ann@Example.COM>" gives
// Ann@example.com) if it is a plain one: an ASCII dot-atom local part (RFC
// 5322 section 3.2.3) of at most 64 octets and a hostname. Quoted local
// parts are refused: net/mail unquotes them, and an unquoted
// `"a@b.example> NOTIFY=NEVER"@c.example` written into RCPT TO would
// smuggle parameters into the SMTP command and past the suppression list.
func Mailbox(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return "", ErrMailbox
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return "", ErrMailbox
	}
	local, host := a.Address[:at], a.Address[at+1:]
	if len(local) > 64 || !dotAtom(local) {
		return "", ErrMailbox
	}
	name, err := Normalize(host)
	if err != nil || !strings.Contains(name, ".") || strings.ContainsAny(name, "[]") {
		return "", ErrMailbox
	}
	return local + "@" + name, nil
}

// dotAtom reports an RFC 5322 dot-atom: atext runs joined by single dots.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
