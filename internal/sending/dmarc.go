package sending

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DMARC is a sending domain's own DMARC policy, the tags of RFC 7489
// section 6.3 a customer sets; the zone serves its Record at
// <label>.dmarc.<platform>, which the customer's _dmarc CNAME points to.
// The zero value is the default monitoring policy (DefaultDMARC).
type DMARC struct {
	P     string   `json:"p"`               // none, quarantine or reject
	SP    string   `json:"sp,omitempty"`    // the policy of subdomains ("": p's)
	PCT   *int     `json:"pct,omitempty"`   // 0 to 100 ("": 100)
	ADKIM string   `json:"adkim,omitempty"` // r or s
	ASPF  string   `json:"aspf,omitempty"`  // r or s
	FO    string   `json:"fo,omitempty"`    // 0, 1, d, s, colon-separated
	RUA   []string `json:"rua,omitempty"`   // aggregate report addresses
	RUF   []string `json:"ruf,omitempty"`   // failure report addresses
}

// DMARCError is a policy refused, naming its tag.
type DMARCError struct{ Tag, Message string }

func (e *DMARCError) Error() string { return e.Message }

var policies = []string{"none", "quarantine", "reject"}

// reportURI is a report address as RFC 7489 section 6.2 writes it: a
// mailto: URI with an optional size limit (!10m).
var reportURI = regexp.MustCompile(`^mailto:([^!,;\s]+)(![0-9]+[kmgt]?)?$`)

// reportAddress is a report address the record can carry as it is: ASCII,
// no percent-escapes or commas (a receiver would decode them), a dotted
// hostname after the @.
var reportAddress = regexp.MustCompile("^[A-Za-z0-9!#$&'*+/=?^_`{|}~.-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$")

// Check validates d and returns it normalised: lower case, addresses as
// mailto: URIs, p set.
func (d DMARC) Check() (DMARC, error) {
	d.P, d.SP, d.ADKIM, d.ASPF, d.FO = lower(d.P), lower(d.SP), lower(d.ADKIM), lower(d.ASPF), lower(d.FO)
	if d.P == "" {
		d.P = "none"
	}
	if !slices.Contains(policies, d.P) {
		return d, &DMARCError{"p", fmt.Sprintf("dmarc.p must be none, quarantine or reject, not %q", d.P)}
	}
	if d.SP != "" && !slices.Contains(policies, d.SP) {
		return d, &DMARCError{"sp", fmt.Sprintf("dmarc.sp must be none, quarantine or reject, not %q", d.SP)}
	}
	if d.PCT != nil && (*d.PCT < 0 || *d.PCT > 100) {
		return d, &DMARCError{"pct", fmt.Sprintf("dmarc.pct must be from 0 to 100, not %d", *d.PCT)}
	}
	for tag, v := range map[string]string{"adkim": d.ADKIM, "aspf": d.ASPF} {
		if v != "" && v != "r" && v != "s" {
			return d, &DMARCError{tag, fmt.Sprintf("dmarc.%s must be r (relaxed) or s (strict), not %q", tag, v)}
		}
	}
	if d.FO != "" {
		for _, o := range strings.Split(d.FO, ":") {
			if o != "0" && o != "1" && o != "d" && o != "s" {
				return d, &DMARCError{"fo", fmt.Sprintf("dmarc.fo is options 0, 1, d and s separated by colons, not %q", d.FO)}
			}
		}
	}
	var err error
	if d.RUA, err = reportURIs("rua", d.RUA); err != nil {
		return d, err
	}
	if d.RUF, err = reportURIs("ruf", d.RUF); err != nil {
		return d, err
	}
	if r := d.Record(); len(r) > 1024 {
		return d, &DMARCError{"rua", fmt.Sprintf("the record would be %d bytes long; keep it under 1024 (fewer report addresses)", len(r))}
	}
	return d, nil
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func reportURIs(tag string, in []string) ([]string, error) {
	if len(in) > 5 {
		return nil, &DMARCError{tag, fmt.Sprintf("dmarc.%s has %d addresses; at most 5", tag, len(in))}
	}
	var out []string
	for _, raw := range in {
		u := strings.TrimSpace(raw)
		if !strings.HasPrefix(strings.ToLower(u), "mailto:") {
			u = "mailto:" + u
		} else {
			u = "mailto:" + u[len("mailto:"):]
		}
		m := reportURI.FindStringSubmatch(u)
		if m == nil {
			return nil, &DMARCError{tag, fmt.Sprintf("dmarc.%s: %q is not a report address such as mailto:dmarc@example.com", tag, raw)}
		}
		if a, err := mail.ParseAddress(m[1]); err != nil || a.Address != m[1] || !reportAddress.MatchString(m[1]) {
			return nil, &DMARCError{tag, fmt.Sprintf("dmarc.%s: %q is not an email address (ASCII, a hostname after the @)", tag, m[1])}
		}
		out = append(out, u)
	}
	return out, nil
}

// Record is the TXT value: v and p first (RFC 7489 section 6.4), then the
// tags set.
func (d DMARC) Record() string {
	if d.P == "" {
		return DefaultDMARC
	}
	var b strings.Builder
	b.WriteString("v=DMARC1; p=" + d.P)
	add := func(tag, v string) {
		if v != "" {
			b.WriteString("; " + tag + "=" + v)
		}
	}
	add("sp", d.SP)
	if d.PCT != nil {
		add("pct", strconv.Itoa(*d.PCT))
	}
	add("adkim", d.ADKIM)
	add("aspf", d.ASPF)
	add("fo", d.FO)
	add("rua", strings.Join(d.RUA, ","))
	add("ruf", strings.Join(d.RUF, ","))
	return b.String()
}

// ParseDMARC reads a stored policy ("" is the default).
func ParseDMARC(stored string) (DMARC, error) {
	var d DMARC
	if stored == "" {
		return d, nil
	}
	err := json.Unmarshal([]byte(stored), &d)
	return d, err
}

// Stored is d as the store keeps it ("" for the default).
func (d DMARC) Stored() string {
	if d.P == "" {
		return ""
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// ParseTags reads a policy written as its record's tags ("p=reject;
// pct=50; rua=mailto:a@x.example,mailto:b@x.example"), as the CLI and the
// dashboard take it; Check it before use. An unknown tag is an error.
func ParseTags(s string) (DMARC, error) {
	var d DMARC
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		tag, val, ok := strings.Cut(part, "=")
		tag, val = strings.ToLower(strings.TrimSpace(tag)), strings.TrimSpace(val)
		if !ok {
			return d, &DMARCError{"", fmt.Sprintf("%q is not tag=value", strings.TrimSpace(part))}
		}
		if seen[tag] { // RFC 7489 section 6.3: each tag at most once
			return d, &DMARCError{tag, fmt.Sprintf("the tag %s is given twice", tag)}
		}
		seen[tag] = true
		switch tag {
		case "v":
			if !strings.EqualFold(val, "DMARC1") {
				return d, &DMARCError{"v", fmt.Sprintf("v must be DMARC1, not %q", val)}
			}
		case "p":
			d.P = val
		case "sp":
			d.SP = val
		case "pct":
			n, err := strconv.Atoi(val)
			if err != nil {
				return d, &DMARCError{"pct", fmt.Sprintf("dmarc.pct must be a number from 0 to 100, not %q", val)}
			}
			d.PCT = &n
		case "adkim":
			d.ADKIM = val
		case "aspf":
			d.ASPF = val
		case "fo":
			d.FO = val
		case "rua", "ruf":
			var list []string
			for _, a := range strings.Split(val, ",") {
				if a = strings.TrimSpace(a); a != "" {
					list = append(list, a)
				}
			}
			if tag == "rua" {
				d.RUA = list
			} else {
				d.RUF = list
			}
		default:
			return d, &DMARCError{tag, fmt.Sprintf("unknown DMARC tag %q: p, sp, pct, adkim, aspf, fo, rua and ruf can be set", tag)}
		}
	}
	return d, nil
}
