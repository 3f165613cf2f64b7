package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkClicksDuringKeygen measures one tenant's click latency while
// another adds 32 sending domains at once (each a burst of key
// generation): the p99 of clicks when quiet and during the adds, as
// metrics. Key generation runs on at most half the cores, so the clicks
// keep the rest.
func BenchmarkClicksDuringKeygen(b *testing.B) {
	srv := startServe(b, nil, "--data", b.TempDir(), "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0")
	admin := srv.adminKey(b)
	keyOf := func(name string) string {
		out := mustRun(b, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}, "cluster", "create", name)
		return regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	}
	ka, kb := keyOf("adder"), keyOf("clicker")
	_, _, msg := apiCall(b, "POST", srv.api+"/v1/messages?dry_run=1&sign=0", kb, "message/rfc822",
		"From: x@clicker.example\r\nTo: ann@example.org\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.example/\">x</a>\r\n")
	m := regexp.MustCompile(`https://t\.waymark\.localhost(/c/[A-Za-z0-9_-]+)`).FindStringSubmatch(msg)
	if m == nil {
		b.Fatalf("no link:\n%s", msg)
	}
	click := func() time.Duration {
		req, err := http.NewRequest("GET", srv.edge+m[1], nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Host = "t.waymark.localhost"
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
		t0 := time.Now()
		resp, err := noRedirect.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 302 {
			b.Fatalf("click: %s", resp.Status)
		}
		return time.Since(t0)
	}
	p99 := func(d time.Duration) float64 {
		var lat []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			lat = append(lat, click())
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return float64(lat[(len(lat)-1)*99/100]) / float64(time.Millisecond)
	}
	for i := 0; i < b.N; i++ {
		quiet := p99(2 * time.Second)
		var wg sync.WaitGroup
		for j := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, _, body := apiCall(b, "POST", srv.api+"/v1/sending-domains", ka, "application/json",
					fmt.Sprintf(`{"name":"s%d-%d.acme-mail.com","algorithms":["ed25519"]}`, i, j)); code != 201 && !strings.Contains(body, "quota") {
					b.Errorf("add: %d %s", code, body)
				}
			}()
		}
		loaded := p99(4 * time.Second)
		wg.Wait()
		b.ReportMetric(quiet, "quiet_p99_ms")
		b.ReportMetric(loaded, "during_adds_p99_ms")
	}
}
