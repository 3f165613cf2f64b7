package edge

import (
	_ "embed"
	"strings"
	"sync"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/track"
)

// scannerAgents are substrings of the user agents of link scanners and
// HTTP libraries, one per line, lower case (data, not code: scanners.txt).
//
//go:embed scanners.txt
var scannerList string

var scannerAgents = func() []string {
	var out []string
	for _, l := range strings.Split(scannerList, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, strings.ToLower(l))
		}
	}
	return out
}()

// scanners caches scannerOf's answers by lower-cased user agent: real
// traffic repeats a few thousand agents, and matching one against every
// entry of the list costs more than the rest of a click's work. Full, it
// starts again empty.
var scanners = struct {
	sync.RWMutex
	m map[string]string
}{m: map[string]string{}}

const maxScannerCache = 10_000

// scannerOf is the entry of scannerAgents in ua ("" if none).
func scannerOf(ua string) string {
	scanners.RLock()
	s, ok := scanners.m[ua]
	scanners.RUnlock()
	if ok {
		return s
	}
	for _, a := range scannerAgents {
		if strings.Contains(ua, a) {
			s = a
			break
		}
	}
	if len(ua) <= 512 {
		scanners.Lock()
		if len(scanners.m) >= maxScannerCache {
			clear(scanners.m)
		}
		scanners.m[ua] = s
		scanners.Unlock()
	}
	return s
}

// TooFast is how soon after sending a click is taken for a scanner's:
// security gateways open links within seconds of delivery.
const TooFast = 10 * time.Second

// Request is what classification looks at.
type Request struct {
	Kind      track.Kind
	UserAgent string
	// Issued is when the link was minted (the message sent).
	Issued time.Time
	At     time.Time
	// HoneypotHit: this recipient's honeypot link was followed recently.
	HoneypotHit bool
}

// Classify decides the class of a tracking request, with the reason.
func Classify(r Request) (event.Class, string) {
	ua := strings.ToLower(r.UserAgent)
	switch {
	case r.Kind == track.Unsubscribe:
		// Only a POST unsubscribes: a person's form or their mailbox
		// provider's one-click request (RFC 8058), which scanners do not send.
		return event.Human, ""
	case r.Kind == track.Honeypot:
		return event.Bot, "honeypot link"
	case strings.TrimSpace(ua) == "":
		return event.Bot, "no user agent"
	}
	if s := scannerOf(ua); s != "" {
		return event.Bot, "scanner user agent: " + s
	}
	if r.Kind == track.Open {
		switch {
		case strings.Contains(ua, "googleimageproxy") || strings.Contains(ua, "ggpht.com"):
			return event.Proxy, "Gmail image proxy"
		case strings.Contains(ua, "yahoomailproxy"):
			return event.Proxy, "Yahoo image proxy"
		case strings.TrimSpace(r.UserAgent) == "Mozilla/5.0":
			// Apple's Mail Privacy Protection fetches with this bare agent.
			return event.Proxy, "Apple Mail Privacy Protection"
		}
		return event.Human, ""
	}
	if r.HoneypotHit {
		return event.Bot, "recipient's honeypot link was followed recently"
	}
	if r.Kind == track.Click && !r.Issued.IsZero() && r.At.Sub(r.Issued) < TooFast {
		return event.Bot, "clicked " + r.At.Sub(r.Issued).Round(time.Second).String() + " after sending"
	}
	return event.Human, ""
}
