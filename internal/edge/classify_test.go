package edge

import (
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/track"
)

func TestClassify(t *testing.T) {
	sent := time.Unix(1_800_000_000, 0)
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	for _, tc := range []struct {
		name  string
		r     Request
		class event.Class
		says  string
	}{
		{"person clicks", Request{Kind: track.Click, UserAgent: chrome, Issued: sent, At: sent.Add(time.Hour)}, event.Human, ""},
		{"too fast", Request{Kind: track.Click, UserAgent: chrome, Issued: sent, At: sent.Add(3 * time.Second)}, event.Bot, "clicked 3s after sending"},
		{"honeypot", Request{Kind: track.Honeypot, UserAgent: chrome, Issued: sent, At: sent.Add(time.Hour)}, event.Bot, "honeypot"},
		{"after honeypot", Request{Kind: track.Click, UserAgent: chrome, Issued: sent, At: sent.Add(time.Hour), HoneypotHit: true}, event.Bot, "honeypot"},
		{"scanner", Request{Kind: track.Click, UserAgent: "Mozilla/5.0 (compatible; Barracuda Sentinel)", At: sent}, event.Bot, "barracuda"},
		{"library", Request{Kind: track.Click, UserAgent: "python-requests/2.31", At: sent}, event.Bot, "python-requests"},
		{"no agent", Request{Kind: track.Open, At: sent}, event.Bot, "no user agent"},
		{"gmail proxy", Request{Kind: track.Open, UserAgent: "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", At: sent}, event.Proxy, "Gmail"},
		{"apple mpp", Request{Kind: track.Open, UserAgent: "Mozilla/5.0", At: sent}, event.Proxy, "Apple"},
		{"person opens", Request{Kind: track.Open, UserAgent: chrome, Issued: sent, At: sent.Add(time.Second)}, event.Human, ""},
		{"unsubscribe", Request{Kind: track.Unsubscribe, UserAgent: chrome, Issued: sent, At: sent.Add(time.Second)}, event.Human, ""},
	} {
		class, reason := Classify(tc.r)
		if class != tc.class || !strings.Contains(reason, tc.says) {
			t.Errorf("%s: %s %q; want %s containing %q", tc.name, class, reason, tc.class, tc.says)
		}
	}
	if len(scannerAgents) < 30 {
		t.Fatalf("scanner list has %d entries", len(scannerAgents))
	}
}
