package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/testenv"
)

// apiCall sends a JSON (or raw) request to the API with a key.
func apiCall(t testing.TB, method, url, key, contentType, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

var noRedirect = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// edgeGet requests a tracking path from the edge as if sent to host.
func edgeGet(edge, host, path string) (int, string, error) {
	req, err := http.NewRequest("GET", edge+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0")
	resp, err := noRedirect.Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location"), nil
}

// TestClickThroughServe is the tracking path end to end: a domain verified
// through Unbound, a message rewritten by the API, its link answered by the
// edge with a 302, the event listed and sent to a webhook; another
// cluster's domain and a tampered token get 404.
func TestClickThroughServe(t *testing.T) {
	dnsAddr, u := behindUnbound(t, testenv.StartUnbound, "acme-mail.com", "bravo-mail.com")
	srv := startServe(t, []string{"WAYMARK_DNS=" + dnsAddr, "WAYMARK_RESOLVER=" + u.Addr, "WAYMARK_HTTP=127.0.0.1:0",
		"WAYMARK_DATA=" + t.TempDir(), "WAYMARK_WEBHOOK_ALLOW_PRIVATE=true"})
	if srv.edge == "" {
		t.Fatalf("no edge in the banner:\n%s", srv.banner)
	}
	admin := srv.adminKey(t)
	keyOf := func(name string) string {
		out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}, "cluster", "create", name)
		return regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	}
	keyA, keyB := keyOf("acme"), keyOf("bravo")
	activate := func(key, name string) {
		cli := []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + key}
		target := regexp.MustCompile(`v-[0-9a-f]{16}\.track\.waymark\.localhost`).FindString(mustRun(t, cli, "tracking-domain", "add", name, "--default"))
		u.Set(name + ". 300 IN CNAME " + target + ".")
		mustRun(t, cli, "tracking-domain", "verify", name)
	}
	activate(keyA, "track.acme-mail.com")
	activate(keyB, "track.bravo-mail.com")

	hooks := &hookReceiver{}
	receiver := httptest.NewServer(hooks.handler("0123456789abcdef0123"))
	defer receiver.Close()
	if code, _, body := apiCall(t, "POST", srv.api+"/v1/webhooks", keyA, "application/json",
		`{"url": "`+receiver.URL+`", "events": ["click"], "secret": "0123456789abcdef0123"}`); code != 201 {
		t.Fatalf("webhook: %d %s", code, body)
	}

	msg := "From: news@acme-mail.com\r\nTo: ann@example.com\r\nSubject: Spring\r\nContent-Type: text/html\r\n\r\n" +
		`<html><body><a href="https://shop.example/spring?a=1&amp;b=2">Shop</a></body></html>` + "\r\n"
	code, hdr, out := apiCall(t, "POST", srv.api+"/v1/messages?dry_run=1&sign=0", keyA, "message/rfc822", msg)
	if code != 200 || hdr.Get("X-Waymark-Tracking-Host") != "track.acme-mail.com" {
		t.Fatalf("dry run: %d %v\n%s", code, hdr, out)
	}
	link := regexp.MustCompile(`<a href="https://track\.acme-mail\.com(/c/[A-Za-z0-9_-]+)">Shop`).FindStringSubmatch(out)
	if link == nil {
		t.Fatalf("no click link in:\n%s", out)
	}
	path := link[1]
	if code, loc, err := edgeGet(srv.edge, "track.acme-mail.com", path); err != nil || code != 302 || loc != "https://shop.example/spring?a=1&b=2" {
		t.Fatalf("click: %d %q %v", code, loc, err)
	}
	if code, _, err := edgeGet(srv.edge, "track.bravo-mail.com", path); err != nil || code != 404 {
		t.Fatalf("cluster A's token on cluster B's domain: %d %v", code, err)
	}
	if code, _, err := edgeGet(srv.edge, "track.acme-mail.com", path[:10]+"A"+path[11:]); err != nil || code != 404 {
		t.Fatalf("tampered token: %d %v", code, err)
	}
	evs := waitEvents(t, srv.api, keyA, "type=click", 1)
	if len(evs) != 1 || evs[0]["url"] != "https://shop.example/spring?a=1&b=2" || evs[0]["recipient"] != "ann@example.com" {
		t.Fatalf("events: %v", evs)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		hooks.mu.Lock()
		n := len(hooks.events)
		hooks.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no click webhook; refused: %v", hooks.bad)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillNineKeepsAnsweredClicks kills waymark with SIGKILL during a
// bounded load of clicks, with a webhook receiver attached; after a
// restart, every click that got its 302 is in the store, and every stored
// event reaches the receiver at least once, by its stable id.
func TestKillNineKeepsAnsweredClicks(t *testing.T) {
	data := t.TempDir()
	env := []string{"WAYMARK_HTTP=127.0.0.1:0", "WAYMARK_DATA=" + data, "WAYMARK_DNS=127.0.0.1:0", "WAYMARK_ROLES=api,edge,monitor",
		"WAYMARK_WEBHOOK_ALLOW_PRIVATE=true"}
	srv := startServe(t, env)
	admin := srv.adminKey(t)
	out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + admin}, "cluster", "create", "acme")
	key := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	hooks := &hookReceiver{}
	receiver := httptest.NewServer(hooks.handler("0123456789abcdef0123"))
	defer receiver.Close()
	if code, _, body := apiCall(t, "POST", srv.api+"/v1/webhooks", key, "application/json",
		`{"url": "`+receiver.URL+`", "events": ["click"], "secret": "0123456789abcdef0123", "max_batch": 250}`); code != 201 {
		t.Fatalf("webhook: %d %s", code, body)
	}
	msg := "To: ann@example.com\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.example/\">x</a>\r\n"
	_, _, rewritten := apiCall(t, "POST", srv.api+"/v1/messages?dry_run=1&sign=0&message_id=msg_load", key, "message/rfc822", msg)
	path := regexp.MustCompile(`https://t\.waymark\.localhost(/c/[A-Za-z0-9_-]+)`).FindStringSubmatch(rewritten)
	if path == nil {
		t.Fatalf("no link:\n%s", rewritten)
	}
	// Bounded load: 8 clients, at most 20000 requests, at most 10 s.
	var answered atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= 20000 {
				select {
				case <-stop:
					return
				default:
				}
				if code, _, err := edgeGet(srv.edge, "t.waymark.localhost", path[1]); err == nil && code == 302 {
					answered.Add(1)
				}
			}
		}()
	}
	// Kill once a good part of the load has been answered, and some of it
	// has reached the receiver (so that the kill falls among deliveries).
	deadline := time.Now().Add(10 * time.Second)
	for (answered.Load() < 300 || hooks.count() == 0) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	srv.cmd.Wait()
	close(stop)
	wg.Wait()
	got := answered.Load()
	if got == 0 {
		t.Fatal("no click was answered before the kill")
	}
	before := hooks.count()

	srv = startServe(t, env)
	stored := map[string]bool{}
	cursor := ""
	for {
		_, _, body := apiCall(t, "GET", srv.api+"/v1/events?message_id=msg_load&limit=1000&cursor="+cursor, key, "", "")
		var page struct {
			Items      []map[string]any
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("events: %v %s", err, body)
		}
		for _, e := range page.Items {
			stored["evt_"+e["id"].(string)] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	t.Logf("%d clicks answered with 302 before SIGKILL, %d events stored; %d had reached the webhook before the kill", got, len(stored), before)
	if int64(len(stored)) < got {
		t.Fatalf("%d clicks were answered but only %d events survived the kill", got, len(stored))
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		missing := 0
		hooks.mu.Lock()
		seen := map[string]bool{}
		for _, ev := range hooks.events {
			seen[ev["id"].(string)] = true
		}
		bad := hooks.bad
		hooks.mu.Unlock()
		for id := range stored {
			if !seen[id] {
				missing++
			}
		}
		if len(bad) > 0 {
			t.Fatalf("bad deliveries: %v", bad)
		}
		if missing == 0 {
			t.Logf("every stored event reached the webhook (%d deliveries of events in all, duplicates included)", hooks.count())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d stored events never reached the webhook", missing, len(stored))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
