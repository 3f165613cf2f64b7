package edge

import (
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/track"
)

func TestClassify(t *testing.T) {
	sent := time.Unix(1_800_000_000, 0)
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	for _, tc := range []struct {
		name   string
		r      Request
		class  event.Class
		reason string // exactly; "" for none
	}{
		{"person clicks", Request{Kind: track.Click, UserAgent: chrome, Issued: sent, At: sent.Add(time.Hour)}, event.Human, ""},
		{"too fast", Request{Kind: track.Click, UserAgent: chrome, Issued: sent, At: sent.Add(3 * time.Second)}, event.Bot, "clicked 3s after sending"},
		// The reason rounds to the second: 9.999s reads "10s".
		{"just too fast", Request{Kind: track.Click, UserAgent: chrome, Issued: sent, At: sent.Add(TooFast - time.Millisecond)}, event.Bot, "clicked 10s after sending"},
		{"just not too fast", Request{Kind: track.Click, UserAgent: chrome, Issued: sent, At: sent.Add(TooFast)}, event.Human, ""},
		{"click of unknown age", Request{Kind: track.Click, UserAgent: chrome, At: sent}, event.Human, ""},
		{"honeypot", Request{Kind: track.Honeypot, UserAgent: chrome, Issued: sent, At: sent.Add(time.Hour)}, event.Bot, "honeypot link"},
		{"after honeypot", Request{Kind: track.Click, UserAgent: chrome, Issued: sent, At: sent.Add(time.Hour), HoneypotHit: true}, event.Bot,
			"recipient's honeypot link was followed recently"},
		{"scanner", Request{Kind: track.Click, UserAgent: "Mozilla/5.0 (compatible; Barracuda Sentinel)", At: sent}, event.Bot, "scanner user agent: barracuda"},
		{"library", Request{Kind: track.Click, UserAgent: "python-requests/2.31", At: sent}, event.Bot, "scanner user agent: python-requests"},
		{"scanner fetching the pixel", Request{Kind: track.Open, UserAgent: "Mozilla/5.0 (compatible; Proofpoint)", At: sent}, event.Bot, "scanner user agent: proofpoint"},
		{"no agent", Request{Kind: track.Open, At: sent}, event.Bot, "no user agent"},
		{"blank agent", Request{Kind: track.Click, UserAgent: " \t", Issued: sent, At: sent.Add(time.Hour)}, event.Bot, "no user agent"},
		{"gmail proxy", Request{Kind: track.Open, UserAgent: "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", At: sent}, event.Proxy, "Gmail image proxy"},
		{"yahoo proxy", Request{Kind: track.Open, UserAgent: "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", At: sent}, event.Proxy, "Yahoo image proxy"},
		{"apple mpp", Request{Kind: track.Open, UserAgent: "Mozilla/5.0", At: sent}, event.Proxy, "Apple Mail Privacy Protection"},
		{"bare agent on a click", Request{Kind: track.Click, UserAgent: "Mozilla/5.0", Issued: sent, At: sent.Add(time.Hour)}, event.Human, ""},
		{"person opens", Request{Kind: track.Open, UserAgent: chrome, Issued: sent, At: sent.Add(time.Second)}, event.Human, ""},
		{"unsubscribe", Request{Kind: track.Unsubscribe, UserAgent: chrome, Issued: sent, At: sent.Add(time.Second)}, event.Human, ""},
		{"unsubscribe without an agent", Request{Kind: track.Unsubscribe, At: sent}, event.Human, ""},
	} {
		class, reason := Classify(tc.r)
		if class != tc.class || reason != tc.reason {
			t.Errorf("%s: %s %q; want %s %q", tc.name, class, reason, tc.class, tc.reason)
		}
	}
	if len(scannerAgents) < 30 {
		t.Fatalf("scanner list has %d entries", len(scannerAgents))
	}
}
