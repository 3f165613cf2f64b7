package uribl

import (
	"net/netip"
	"strings"
)

// Reason decodes a blocklist's return code, for the refusal and the log.
// Spamhaus DBL answers one code per reason; SURBL and URIBL answer a
// bitmask of the lists that have the domain. Other zones answer "listed".
func Reason(zone string, a netip.Addr) string {
	if !a.Is4() {
		return "listed"
	}
	b := a.As4()
	if b[0] != 127 {
		return "not a listing (" + a.String() + ")"
	}
	// 127.255.255.0/24 is Spamhaus's (and others') error range: 254 a
	// query through a public or open resolver, 255 too many queries.
	if b[1] == 255 && b[2] == 255 {
		return "refused: the list answered an error (" + a.String() + "), such as a query through a public resolver or over the free volume"
	}
	zone = strings.ToLower(zone)
	switch {
	case strings.HasSuffix(zone, "dbl.spamhaus.org") || strings.HasPrefix(zone, "dbl."):
		// https://www.spamhaus.org/faqs/domain-blocklist/: 127.0.1.x.
		switch a.String() {
		case "127.0.1.2":
			return "spam domain"
		case "127.0.1.4":
			return "phishing domain"
		case "127.0.1.5":
			return "malware domain"
		case "127.0.1.6":
			return "botnet command and control domain"
		case "127.0.1.102":
			return "abused legit spam"
		case "127.0.1.103":
			return "abused spammed redirector"
		case "127.0.1.104":
			return "abused legit phishing"
		case "127.0.1.105":
			return "abused legit malware"
		case "127.0.1.106":
			return "abused legit botnet command and control"
		case "127.0.1.255":
			return "refused: the query came through a public resolver, which Spamhaus does not answer"
		}
	case strings.HasSuffix(zone, "surbl.org"):
		if b[3] == 1 {
			return "refused: SURBL blocked the query (a public resolver, or over the free volume)"
		}
		return bits(b[3], map[byte]string{8: "phishing (PH)", 16: "malware (MW)", 64: "abuse (ABUSE)", 128: "cracked sites (CR)"})
	case strings.HasSuffix(zone, "uribl.com"):
		if b[3] == 1 {
			return "refused: the query came through a public resolver, which URIBL does not answer"
		}
		return bits(b[3], map[byte]string{2: "black", 4: "grey", 8: "red", 16: "gold"})
	}
	return "listed (" + a.String() + ")"
}

// bits names the set bits of a bitmask answer.
func bits(v byte, names map[byte]string) string {
	var out []string
	for bit := 1; bit < 256; bit <<= 1 {
		if v&byte(bit) != 0 {
			if n, ok := names[byte(bit)]; ok {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return "listed"
	}
	return strings.Join(out, ", ")
}

// refusedQuery reports the codes that mean the list refused to answer,
// not that the domain is listed.
func refusedQuery(zone string, a netip.Addr) bool {
	r := Reason(zone, a)
	return strings.HasPrefix(r, "refused:") || strings.HasPrefix(r, "not a listing")
}
