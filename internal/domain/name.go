package domain

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// NameError is a refusal of a customer hostname: a stable machine code and a sentence for people.
type NameError struct {
	Code    string // stable, e.g. "name_public_suffix"
	Message string // says what was wrong and what to do, naming the input
}

// Error returns the message for people.
func (e *NameError) Error() string { return e.Message }

// Codes of NameError.
const (
	// CodeRequired: no name given (empty or only white space).
	CodeRequired = "name_required"
	// CodeSyntax: not hostname syntax (bad character, empty label, hyphen
	// placement, label too long, wildcard, URL, port).
	CodeSyntax = "name_invalid"
	// CodeTooLong: longer than 253 octets once converted to punycode.
	CodeTooLong = "name_too_long"
	// CodeIDN: an internationalised name that IDNA cannot convert.
	CodeIDN = "name_idn_invalid"
	// CodeIPAddress: an IPv4 or IPv6 address instead of a hostname.
	CodeIPAddress = "name_ip_address"
	// CodeReservedTLD: the top-level domain is reserved for special use.
	CodeReservedTLD = "name_reserved_tld"
	// CodeUnknownTLD: the top-level domain is not on the Public Suffix List.
	CodeUnknownTLD = "name_unknown_tld"
	// CodePublicSuffix: the name itself is a public suffix.
	CodePublicSuffix = "name_public_suffix"
	// CodeApex: a tracking domain that is a registrable domain, not a subdomain of one.
	CodeApex = "name_not_subdomain"
	// CodePlatform: the platform's own domain or a name under it.
	CodePlatform = "name_platform_domain"
	// CodeSingleLabel: a name of one label only.
	CodeSingleLabel = "name_single_label"
)

const (
	maxName  = 253  // RFC 1035 section 2.3.4: 255 octets on the wire, less the first length octet and the root label
	maxLabel = 63   // RFC 1035 section 2.3.4
	maxInput = 1024 // raw input cap, far above any name that fits in maxName once converted
	maxQuote = 80   // longest input quoted in a message, in bytes
)

// reservedTLDs are top-level domains that never name a public host.
var reservedTLDs = map[string]string{
	"localhost":   "RFC 6761",
	"test":        "RFC 6761",
	"invalid":     "RFC 6761",
	"example":     "RFC 6761",
	"local":       "RFC 6762, multicast DNS",
	"localdomain": "common local-network convention",
	"onion":       "RFC 7686, Tor; on the Public Suffix List but not resolvable in DNS",
	"alt":         "RFC 9476",
	"internal":    "reserved by ICANN for private use (2024)",
	"arpa":        "RFC 3172, infrastructure; includes home.arpa (RFC 8375), which is on the Public Suffix List",
}

// idnaProfile converts names to A-labels: UTS #46 lookup mapping, non-transitional,
// IDNA2008 label validation (RFC 5891 section 5.4, including the hyphen rules of
// section 4.2.3.1 and the joiner rules of RFC 5892 appendix A), STD3 ASCII rules
// and the Bidi rule (RFC 5893). DNS length checks are off: empty labels and
// lengths are checked here afterwards, to give precise codes.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(false),
	idna.Transitional(false),
)

// nameKind says which rule set a message is for, to pick its example.
type nameKind int

const (
	kindTracking nameKind = iota
	kindSending
)

// example returns a sample name of this kind under domain ("" for none).
func (k nameKind) example(under string) string {
	if under == "" {
		under = "example.com"
	}
	if k == kindSending {
		return under
	}
	return "track." + under
}

// Normalize returns the canonical form of a hostname: surrounding space
// trimmed, one trailing dot removed, IDN converted to punycode (UTS 46 lookup
// mapping, so upper case becomes lower case), and hostname syntax checked. It
// does not apply Public Suffix rules.
func Normalize(raw string) (string, error) {
	return normalize(raw, kindTracking)
}

func normalize(raw string, k nameKind) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nameErr(CodeRequired, "no hostname given; enter one such as %s", k.example(""))
	}
	q := quoteInput(s)
	if len(s) > maxInput {
		return "", nameErr(CodeTooLong, "%s is too long; a hostname can have at most %d characters", q, maxName)
	}
	if ip, isIP := ipLiteral(s); ip {
		return "", ipErr(q, isIP, k)
	}
	if err := urlHint(s, q, k); err != nil {
		return "", err
	}

	// One trailing dot (the DNS root) is dropped. A dot that only appears by
	// mapping (U+3002 IDEOGRAPHIC FULL STOP) is dropped after conversion.
	trimmed := strings.HasSuffix(s, ".")
	if trimmed {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "", nameErr(CodeSyntax, "%s is not a hostname; enter one such as %s", q, k.example(""))
	}
	// ASCII labels first, so that common mistakes get a precise message
	// rather than IDNA's.
	if err := checkLabels(s, q, k); err != nil {
		return "", err
	}
	if !utf8.ValidString(s) {
		// IDNA would turn invalid bytes into U+FFFD without an error.
		return "", nameErr(CodeSyntax, "%s is not valid UTF-8 text; type the hostname again", q)
	}
	name, err := idnaProfile.ToASCII(s)
	if err == nil && strings.Contains(name, "xn--") {
		// The A-labels must convert to themselves, so that the stored name
		// is accepted again unchanged.
		var again string
		if again, err = idnaProfile.ToASCII(name); err == nil && again != name {
			err = fmt.Errorf("converts to %s, then to %s", name, again)
		}
	}
	if err != nil {
		detail := strings.TrimPrefix(err.Error(), "idna: ")
		return "", nameErr(CodeIDN, "%s is not a valid internationalised domain name (%s); check the spelling, or give the xn-- form your registrar shows", q, detail)
	}
	if !trimmed {
		name = strings.TrimSuffix(name, ".")
	}
	if name == "" {
		return "", nameErr(CodeSyntax, "%s is not a hostname; enter one such as %s", q, k.example(""))
	}
	if err := checkLabels(name, q, k); err != nil {
		return "", err
	}
	if !isLDH(name) {
		// Not reached: IDNA with STD3 rules and checkLabels leave only LDH and dots.
		return "", nameErr(CodeIDN, "%s is not a valid internationalised domain name; check the spelling", q)
	}
	if ip, isIP := ipLiteral(name); ip {
		// Full-width digits and dots map to an address.
		return "", ipErr(q, isIP, k)
	}
	if len(name) > maxName {
		return "", nameErr(CodeTooLong, "%s is %d characters long as a DNS name; a hostname can have at most %d", q, len(name), maxName)
	}
	return name, nil
}

// TrackingName validates and normalises a tracking domain name: Normalize,
// then not an IP, at least two labels, TLD not reserved, TLD known to the PSL,
// not a public suffix, a strict subdomain of a registrable domain, and not
// equal to or under platformDomain ("" means no such check).
func TrackingName(raw, platformDomain string) (string, error) {
	return checkName(raw, platformDomain, kindTracking)
}

// SendingName is TrackingName's rule for sending domains: a registrable domain or any subdomain of one is allowed.
func SendingName(raw, platformDomain string) (string, error) {
	return checkName(raw, platformDomain, kindSending)
}

func checkName(raw, platformDomain string, k nameKind) (string, error) {
	name, err := normalize(raw, k)
	if err != nil {
		return "", err
	}
	q := quoteInput(strings.TrimSpace(raw))
	if err := checkPublic(name, q, k); err != nil {
		return "", err
	}
	// The platform check comes before the Public Suffix checks: should the
	// platform domain be on the list, or be a registrable domain, the
	// customer must hear "not the platform's domain", not a suggestion to
	// add a name under it.
	if err := checkPlatform(name, platformDomain, q, k); err != nil {
		return "", err
	}
	reg, err := registrable(name, q, k) // refuses a public suffix
	if err != nil {
		return "", err
	}
	if k == kindTracking && reg == name {
		return "", nameErr(CodeApex, "%s is a registrable domain; tracking domains must be a subdomain such as %s", q, k.example(name))
	}
	return name, nil
}

// checkPublic checks the rules on a normalised name that hold before the
// Public Suffix List is asked about the name itself: more than one label, a
// TLD not reserved, a TLD on the list.
func checkPublic(name, q string, k nameKind) error {
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return nameErr(CodeSingleLabel, "%s is a single label; give a full hostname such as %s", q, k.example(""))
	}
	tld := name[dot+1:]
	if _, ok := reservedTLDs[tld]; ok {
		return nameErr(CodeReservedTLD, "%s uses the reserved top-level domain .%s; use a domain registered in public DNS", q, tld)
	}
	// An unlisted TLD falls to the default rule "*": PublicSuffix returns the
	// TLD with icann false. Private rules all sit under ICANN TLDs and so
	// contain a dot.
	if ps, icann := publicsuffix.PublicSuffix(name); !icann && !strings.Contains(ps, ".") {
		return nameErr(CodeUnknownTLD, "%s ends in .%s, which is not a known top-level domain; check the spelling", q, tld)
	}
	return nil
}

// checkSuffix refuses a name that is itself a public suffix.
func checkSuffix(name, q string, k nameKind) error {
	if ps, _ := publicsuffix.PublicSuffix(name); ps == name {
		return nameErr(CodePublicSuffix, "%s is a public suffix; add a name under a domain you own, such as %s", q, k.example("example."+name))
	}
	return nil
}

// registrable returns the eTLD+1 of a name that has passed checkPublic.
func registrable(name, q string, k nameKind) (string, error) {
	if err := checkSuffix(name, q, k); err != nil {
		return "", err
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil {
		// Not reached after checkSuffix.
		return "", nameErr(CodePublicSuffix, "%s has no registrable domain; add a name under a domain you own, such as %s", q, k.example(""))
	}
	return reg, nil
}

// checkPlatform refuses the platform domain and names under it.
func checkPlatform(name, platformDomain, q string, k nameKind) error {
	if strings.TrimSpace(platformDomain) == "" {
		return nil
	}
	p, err := Normalize(platformDomain)
	if err != nil {
		p = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(platformDomain), "."))
	}
	switch {
	case name == p:
		return nameErr(CodePlatform, "%s is the platform's own domain; use a domain you own, such as %s", q, k.example(""))
	case strings.HasSuffix(name, "."+p):
		return nameErr(CodePlatform, "%s is under the platform domain %s; use a domain you own, such as %s", q, p, k.example(""))
	}
	return nil
}

// ipLiteral reports whether s is an IP address literal (isIP) or looks like
// one. It accepts what a user may paste: "[::1]", "[::1]:443",
// "192.0.2.1:80", "fe80::1%eth0". A name whose labels are all numbers
// ("127.1", "0x7f.0.0.1", "2130706433") is what URL parsers and inet_aton
// read as IPv4 (WHATWG URL, "ends in a number"), so it counts too.
func ipLiteral(s string) (ip, isIP bool) {
	h := s
	if i := strings.Index(h, "://"); i >= 0 {
		if u, err := url.Parse(h); err == nil && u.Host != "" {
			h = u.Host
		}
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i] // host:port
	}
	h = strings.TrimSuffix(h, ".")
	if _, err := netip.ParseAddr(h); err == nil {
		return true, true
	}
	if h == "" {
		return false, false
	}
	for label := range strings.SplitSeq(h, ".") {
		if !isNumber(label) {
			return false, false
		}
	}
	return true, false
}

// isNumber reports whether a label is a decimal or 0x-hexadecimal number.
func isNumber(label string) bool {
	digits := "0123456789"
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		label, digits = label[2:], "0123456789abcdefABCDEF"
		if label == "" {
			return true
		}
	}
	if label == "" {
		return false
	}
	for i := 0; i < len(label); i++ {
		if strings.IndexByte(digits, label[i]) < 0 {
			return false
		}
	}
	return true
}

func ipErr(q string, isIP bool, k nameKind) *NameError {
	if isIP {
		return nameErr(CodeIPAddress, "%s is an IP address; give a hostname such as %s", q, k.example(""))
	}
	return nameErr(CodeIPAddress, "%s looks like an IP address; give a hostname such as %s", q, k.example(""))
}

// urlHint refuses a URL, a path, an email address or a port, suggesting the
// hostname inside it.
func urlHint(s, q string, k nameKind) error {
	var what, host string
	switch {
	case strings.Contains(s, "://"):
		what = "is a URL"
		if u, err := url.Parse(s); err == nil {
			host = u.Hostname()
		}
	case strings.ContainsAny(s, "/?#"):
		what = "includes a path"
		host = s[:strings.IndexAny(s, "/?#")]
	case strings.Contains(s, "@"):
		what = "looks like an email address"
		host = s[strings.LastIndexByte(s, '@')+1:]
	case strings.Contains(s, ":"):
		what = "includes a port"
		host = s[:strings.IndexByte(s, ':')]
	default:
		return nil
	}
	if host = strings.TrimSpace(host); host == "" || strings.ContainsAny(host, ":/@ ") {
		host = k.example("")
	}
	return nameErr(CodeSyntax, "%s %s; give just the hostname, %s", q, what, quoteInput(host))
}

// checkLabels checks the hostname syntax of the ASCII labels of s (RFC 1035
// section 2.3.1, RFC 1123 section 2.1) and the ASCII characters of all labels.
// Labels with other characters are left to IDNA.
func checkLabels(s, q string, k nameKind) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf || c == '.' || c == '-' || isAlnum(c):
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return nameErr(CodeSyntax, "%s contains a space; a hostname has no spaces", q)
		case c == '_':
			return nameErr(CodeSyntax, "%s contains an underscore; hostnames allow only letters, digits, hyphens and dots", q)
		case c == '*':
			return nameErr(CodeSyntax, "%s contains a wildcard (*); give one exact hostname such as %s", q, k.example(""))
		default:
			return nameErr(CodeSyntax, "%s contains the character %q, which a hostname cannot have; use only letters, digits, hyphens and dots", q, rune(c))
		}
	}
	labels := strings.Split(s, ".")
	for i, label := range labels {
		switch {
		case label == "" && i == 0:
			return nameErr(CodeSyntax, "%s starts with a dot; remove it", q)
		case label == "":
			return nameErr(CodeSyntax, "%s has two dots in a row; remove the extra dot", q)
		case !isASCII(label):
			continue
		case len(label) > maxLabel:
			return nameErr(CodeSyntax, "%s has a label of %d characters (%s); each part between dots can have at most %d", q, len(label), quoteInput(label), maxLabel)
		case label[0] == '-':
			return nameErr(CodeSyntax, "%s has a label that starts with a hyphen (%s); labels must start and end with a letter or digit", q, quoteInput(label))
		case label[len(label)-1] == '-':
			return nameErr(CodeSyntax, "%s has a label that ends with a hyphen (%s); labels must start and end with a letter or digit", q, quoteInput(label))
		case len(label) >= 4 && label[2] == '-' && label[3] == '-' && !strings.EqualFold(label[:2], "xn"):
			// RFC 5891 section 4.2.3.1, RFC 5890 section 2.3.1: "??--" is
			// reserved for IDNA prefixes; ACME CAs refuse such names too.
			return nameErr(CodeSyntax, "%s has a label with hyphens in the third and fourth places (%s), which is reserved for internationalised names; change the label", q, quoteInput(label))
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isLDH reports whether s has only lower-case letters, digits, hyphens and dots.
func isLDH(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// quoteInput quotes s for a message, shortening it if long.
func quoteInput(s string) string {
	if len(s) <= maxQuote {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuote
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q", s[:cut]+"…")
}

func nameErr(code, format string, args ...any) *NameError {
	return &NameError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// DNSName checks a DNS name that need not be a hostname, such as an SPF
// record's _spf.example.net: letters, digits, hyphens and underscores in
// labels of 1 to 63 octets (RFC 2181 section 11 allows any octet; these
// are the ones SPF names use), at most 253 octets in all. It returns the
// name in lower case, without a trailing dot.
func DNSName(raw string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(raw), "."))
	q := quoteInput(strings.TrimSpace(raw))
	if name == "" {
		return "", nameErr(CodeRequired, "the name is empty")
	}
	if len(name) > maxName {
		return "", nameErr(CodeTooLong, "%s is %d characters long; a DNS name can have at most %d", q, len(name), maxName)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return "", nameErr(CodeSyntax, "%s has an empty label or one over 63 characters", q)
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
				return "", nameErr(CodeSyntax, "%s contains %q; a DNS name here may have letters, digits, hyphens, underscores and dots", q, r)
			}
		}
	}
	return name, nil
}

// plainAddress is an address an SMTP client writes into MAIL FROM or RCPT
// TO as it is: an ASCII dot-atom local part (RFC 5321 section 4.1.2) and
// a hostname.
var plainAddress = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")

// PlainAddress reports whether addr is such an address: no quoting, no
// angle brackets, spaces or non-ASCII, nothing an SMTP line could be
// split on.
func PlainAddress(addr string) bool { return plainAddress.MatchString(addr) }

// Display is a stored (ASCII) name as people read it: its IDN labels in
// Unicode (RFC 5891 section 5: xn-- labels decoded); a name that does not
// decode is shown as it is.
func Display(name string) string {
	if !strings.Contains(name, "xn--") {
		return name
	}
	u, err := idna.Display.ToUnicode(name)
	if err != nil {
		return name
	}
	return u
}
