package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/waymark-mail/waymark/internal/testenv"
)

// TestDashboardInChromium drives the dashboard in headless Chromium as a
// customer would: sign in, add a tracking domain, read its record, verify
// it through Unbound, set it as default, add a sending domain, see the
// events chart after a click, delete with the confirmation; a second
// cluster's session sees none of it. Screenshots of each page go to
// test-artifacts/dashboard.
func TestDashboardInChromium(t *testing.T) {
	tab := testenv.Chromium(t)
	dnsAddr, u := behindUnbound(t, testenv.StartUnbound, "acme-mail.com")
	srv := startServe(t, []string{"WAYMARK_DNS=" + dnsAddr, "WAYMARK_RESOLVER=" + u.Addr, "WAYMARK_HTTP=127.0.0.1:0", "WAYMARK_DATA=" + t.TempDir()})
	keyOf := func(name string) string {
		out := mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + srv.adminKey(t)}, "cluster", "create", name)
		return regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
	}
	acme, bravo := keyOf("acme"), keyOf("bravo")

	shots, err := filepath.Abs(filepath.Join("..", "..", "test-artifacts", "dashboard"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	shot := func(ctx context.Context, name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			b, err := chromedp.FullScreenshot(100)(ctx, tg) // PNG
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), b, 0o644)
		})
	}
	do := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	signIn := func(ctx context.Context, key, name string) {
		do(ctx, "sign in", chromedp.Navigate(srv.api+"/"), chromedp.WaitVisible("#key"), shot(ctx, name+"-01-sign-in"),
			chromedp.SendKeys("#key", key), chromedp.Click(`button[type=submit]`), chromedp.WaitVisible("header nav"))
	}

	signIn(tab, acme, "acme")
	do(tab, "add a tracking domain", chromedp.Navigate(srv.api+"/tracking-domains"), chromedp.WaitVisible("#name"),
		chromedp.SendKeys("#name", "acme-mail.com"), chromedp.Click(`form[action="/tracking-domains"] button`), chromedp.WaitVisible("#name-error"),
		shot(tab, "acme-02-tracking-add-error"))
	if msg := text(tab, "#name-error"); !strings.Contains(msg, "subdomain") {
		t.Fatalf("the name rules' error: %q", msg)
	}
	do(tab, "add it right", chromedp.SetValue("#name", "track.acme-mail.com"), chromedp.Click(`input[name=default]`),
		chromedp.Click(`form[action="/tracking-domains"] button`), chromedp.WaitVisible("table code"), shot(tab, "acme-03-tracking-detail-pending"))
	target := regexp.MustCompile(`v-[0-9a-f]{16}\.track\.waymark\.localhost`).FindString(text(tab, "table tbody"))
	if target == "" {
		t.Fatalf("no CNAME target on the detail page: %s", text(tab, "main"))
	}
	u.Set("track.acme-mail.com. 300 IN CNAME " + target + ".")
	do(tab, "verify", chromedp.Click(`form[action$="/verify"] button`), chromedp.WaitVisible(".ok"), shot(tab, "acme-04-tracking-verified"))
	if s := text(tab, "main"); !strings.Contains(s, "active") || !strings.Contains(s, "Default") {
		t.Fatalf("after verify (asked to be the default once verified):\n%s", s)
	}
	do(tab, "unset and set default", chromedp.Click(`form[action$="/default"] button`), chromedp.WaitReady(`form[action$="/default"] input[name=set]`),
		chromedp.Click(`form[action$="/default"] button`), chromedp.WaitNotPresent(`form[action$="/default"] input[name=set]`),
		shot(tab, "acme-05-tracking-default"))
	// An IDN, pending: shown in Unicode with its punycode beside.
	mustRun(t, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + acme}, "tracking-domain", "add", "track.bücher-mail.com")
	do(tab, "list", chromedp.Navigate(srv.api+"/tracking-domains"), chromedp.WaitVisible("table"), shot(tab, "acme-06-tracking-list"))
	if s := text(tab, "main table"); !strings.Contains(s, "track.bücher-mail.com (track.xn--bcher-mail-9db.com)") {
		t.Fatalf("the IDN in the list:\n%s", s)
	}
	do(tab, "404", chromedp.Navigate(srv.api+"/no-such-page"), chromedp.WaitVisible("header nav"), shot(tab, "acme-06b-not-found"))
	if s := text(tab, "main"); !strings.Contains(s, "Not found") {
		t.Fatalf("404 page:\n%s", s)
	}

	do(tab, "add a sending domain", chromedp.Navigate(srv.api+"/sending-domains"), chromedp.WaitVisible("#name"),
		chromedp.SendKeys("#name", "acme-mail.com"), chromedp.Click(`form[action="/sending-domains"] button`), chromedp.WaitVisible(`form[action$="/rotate"]`),
		shot(tab, "acme-07-sending-detail"))
	if s := text(tab, "main"); !strings.Contains(s, "wm1._domainkey.acme-mail.com") || !strings.Contains(s, "_dmarc.acme-mail.com") {
		t.Fatalf("sending domain records:\n%s", s)
	}
	do(tab, "sending list", chromedp.Navigate(srv.api+"/sending-domains"), chromedp.WaitVisible("table"), shot(tab, "acme-08-sending-list"))

	// On a phone-width screen the detail page fits: no sideways scrolling
	// of the page itself (wide tables scroll inside their own box).
	do(tab, "phone width", chromedp.EmulateViewport(390, 844), chromedp.Navigate(srv.api+"/sending-domains"),
		chromedp.Click(`a[href^="/sending-domains/sd_"]`), chromedp.WaitVisible(`form[action$="/rotate"]`), shot(tab, "acme-08b-sending-detail-phone"))
	c, cancelPhone := context.WithTimeout(tab, 10*time.Second)
	width, err := chromedp.Run(c, chromedp.Evaluate[int]("document.documentElement.scrollWidth"))
	cancelPhone()
	if err != nil || width > 390 {
		t.Fatalf("page width at 390 px: %d %v", width, err)
	}
	do(tab, "desktop width", chromedp.EmulateViewport(1280, 900))

	// A click through the edge, then the events page draws it.
	link := dryRunLink(t, srv, acme)
	req, err := http.NewRequest("GET", srv.edge+link, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "track.acme-mail.com"
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil || resp.StatusCode != 302 {
		t.Fatalf("click: %v %v", resp, err)
	}
	resp.Body.Close()
	waitEvents(t, srv.api, acme, "type=click", 1)
	do(tab, "events", chromedp.Navigate(srv.api+"/events"), chromedp.WaitVisible("svg.chart rect"), shot(tab, "acme-09-events"))

	do(tab, "webhooks", chromedp.Navigate(srv.api+"/webhooks"), chromedp.WaitVisible("#url"), shot(tab, "acme-10-webhooks"))
	do(tab, "suppressions", chromedp.Navigate(srv.api+"/suppressions"), chromedp.WaitVisible("#address"),
		chromedp.SendKeys("#address", "ann@example.org"), chromedp.Click(`form[action="/suppressions"][method="post"] button`),
		chromedp.WaitVisible(`form[action="/suppressions/delete"]`), shot(tab, "acme-10a-suppressions"))
	if s := text(tab, "main table"); !strings.Contains(s, "ann@example.org") || !strings.Contains(s, "manual") {
		t.Fatalf("suppressions page:\n%s", s)
	}
	// Not the default and named by no message: nothing is ever sent to it.
	do(tab, "delivery servers", chromedp.Navigate(srv.api+"/delivery-servers"), chromedp.WaitVisible("#url"),
		chromedp.SendKeys("#name", "mta1"), chromedp.SendKeys("#url", "smtp://mta1.example.net:25"),
		chromedp.Click(`form[action="/delivery-servers"] button`), chromedp.WaitVisible(`form[action$="/delete"]`),
		shot(tab, "acme-10e-delivery-servers"))
	if s := text(tab, "main table"); !strings.Contains(s, "smtp://mta1.example.net:25") {
		t.Fatalf("delivery servers page:\n%s", s)
	}
	do(tab, "keys", chromedp.Navigate(srv.api+"/keys"), chromedp.WaitVisible("#label"),
		chromedp.SendKeys("#label", "newsletter server"), chromedp.Click(`form[action="/keys"] button`),
		chromedp.WaitVisible(`p.ok`), shot(tab, "acme-10d-keys"))
	if s := text(tab, "main"); !regexp.MustCompile(`wmk_[a-z2-7]{32}`).MatchString(s) || !strings.Contains(s, "(this session's key)") {
		t.Fatalf("keys page:\n%s", s)
	}
	do(tab, "sessions", chromedp.Navigate(srv.api+"/sessions"), chromedp.WaitVisible("main table"), shot(tab, "acme-10b-sessions"))
	if s := text(tab, "main table"); !strings.Contains(s, "(this session)") || !strings.Contains(s, "127.0.0.1") {
		t.Fatalf("sessions page:\n%s", s)
	}
	do(tab, "settings", chromedp.Navigate(srv.api+"/settings"), chromedp.WaitVisible(`input[value="relay"]`),
		chromedp.Click(`input[value="relay"]`), chromedp.Click(`form[action="/settings"] button`), chromedp.WaitVisible(`p.ok`),
		shot(tab, "acme-10c-settings"))

	// Delete asks for the confirmation (the browser refuses the form
	// without it), then the domain is gone.
	do(tab, "delete", chromedp.Navigate(srv.api+"/tracking-domains"), chromedp.Click(`a[href^="/tracking-domains/td_"]`),
		chromedp.WaitVisible(`input[name=confirm]`), chromedp.Click(`input[name=confirm]`), shot(tab, "acme-11-delete-confirm"),
		chromedp.Click(`form[action$="/delete"] button`), chromedp.WaitVisible("#name"), shot(tab, "acme-12-after-delete"))
	if s := text(tab, "table"); strings.Contains(s, "track.acme-mail.com") {
		t.Fatalf("deleted domain still listed:\n%s", s)
	}

	// Sign out; another cluster signs in and sees none of acme's objects.
	do(tab, "sign out", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible("#key"))
	signIn(tab, bravo, "bravo")
	do(tab, "bravo's lists", chromedp.Navigate(srv.api+"/sending-domains"), chromedp.WaitVisible("main table"), shot(tab, "bravo-02-sending-list"))
	if s := text(tab, "main table"); strings.Contains(s, "acme-mail.com") {
		t.Fatalf("bravo sees acme's sending domain:\n%s", s)
	}
	do(tab, "bravo's events", chromedp.Navigate(srv.api+"/events"), chromedp.WaitVisible("main table"), shot(tab, "bravo-03-events"))
	if s := text(tab, "main"); strings.Contains(s, "track.acme-mail.com") || strings.Contains(s, "ann@example.org") {
		t.Fatalf("bravo sees acme's events:\n%s", s)
	}

	// The admin key picks a cluster first, then sees that cluster's pages.
	do(tab, "sign out bravo", chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible("#key"))
	signIn(tab, srv.adminKey(t), "admin")
	do(tab, "admin picks acme", chromedp.WaitVisible(`form[action="/clusters/use"]`), shot(tab, "admin-02-clusters"),
		chromedp.Click(`//button[text()="Use acme"]`), chromedp.WaitVisible("#name"), chromedp.Navigate(srv.api+"/sending-domains"),
		chromedp.WaitVisible("main table"), shot(tab, "admin-03-acme-sending-list"))
	if s := text(tab, "main table"); !strings.Contains(s, "acme-mail.com") {
		t.Fatalf("the admin in acme:\n%s", s)
	}
	do(tab, "admin blocks a domain", chromedp.Navigate(srv.api+"/blocked-domains"), chromedp.WaitVisible("#domain"),
		chromedp.SendKeys("#domain", "phish.example"), chromedp.SendKeys("#reason", "reported phishing"),
		chromedp.Click(`form[action="/blocked-domains"] button`), chromedp.WaitVisible(`form[action="/blocked-domains/phish.example/delete"]`),
		shot(tab, "admin-04-blocked-domains"))
	// The admin deletes bravo, after ticking the box.
	do(tab, "admin opens the clusters", chromedp.Navigate(srv.api+"/clusters"), chromedp.WaitVisible(`form[action="/clusters/use"]`))
	do(tab, "admin opens bravo's delete", chromedp.Click(`//tr[td[text()="bravo"]]//summary`), chromedp.WaitVisible(`//tr[td[text()="bravo"]]//input[@name="confirm"]`))
	do(tab, "admin ticks the box", chromedp.Click(`//tr[td[text()="bravo"]]//input[@name="confirm"]`), shot(tab, "admin-05-cluster-delete-confirm"))
	// The new page is the one without bravo (the old one has the same
	// forms).
	do(tab, "admin deletes bravo", chromedp.Click(`//tr[td[text()="bravo"]]//button[@class="danger"]`),
		chromedp.WaitNotPresent(`//tr[td[text()="bravo"]]`), chromedp.WaitVisible(`form[action="/clusters/use"]`),
		shot(tab, "admin-06-after-cluster-delete"))
	if s := text(tab, "main table"); strings.Contains(s, "bravo") || !strings.Contains(s, "acme") {
		t.Fatalf("clusters after deleting bravo:\n%s", s)
	}
}

// dryRunLink returns the path of a click link minted for the cluster's
// default tracking domain.
func dryRunLink(t *testing.T, srv *server, key string) string {
	t.Helper()
	msg := "From: news@acme-mail.com\r\nTo: ann@example.org\r\nSubject: Hi\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.example/\">Shop</a>\r\n"
	_, _, b := apiCall(t, "POST", srv.api+"/v1/messages?dry_run=1&sign=0", key, "message/rfc822", msg)
	m := regexp.MustCompile(`https://track\.acme-mail\.com(/c/[A-Za-z0-9_-]+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no click link in the dry run:\n%s", b)
	}
	return m[1]
}
