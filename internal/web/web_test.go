package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/monitor"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
	"github.com/waymark-mail/waymark/internal/testenv"
	"github.com/waymark-mail/waymark/internal/track"
	"github.com/waymark-mail/waymark/internal/verify"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// dashboard is the web handler over a real API and store.
type dashboard struct {
	st    store.Store
	srv   *httptest.Server
	admin string
	keys  map[string]string // cluster name -> key
}

func newDashboard(t *testing.T) *dashboard {
	t.Helper()
	ctx := context.Background()
	st := storetest.SQLite(t)
	box, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	admin := apikey.New(apikey.AdminPrefix)
	if _, err := st.PutSetting(ctx, api.AdminKeySetting, apikey.Hash(admin), true); err != nil {
		t.Fatal(err)
	}
	mon := &monitor.Monitor{Store: st, Policy: monitor.DefaultPolicy, Log: quiet, Platform: "waymark.localhost", Box: box,
		Rotation: dkim.DefaultRotation, Checker: &verify.Verifier{Resolver: &verify.DNSResolver{Addr: "127.0.0.1:9"}, Platform: "waymark.localhost"}}
	a := api.New(api.Options{Store: st, PlatformDomain: "waymark.localhost", Logger: quiet, Monitor: mon, Tokens: track.NewKeys(st, box), Box: box})
	mux := http.NewServeMux()
	mux.Handle("/v1/", a)
	mux.Handle("/", New(a, box, quiet))
	d := &dashboard{st: st, srv: httptest.NewServer(mux), admin: admin, keys: map[string]string{}}
	t.Cleanup(d.srv.Close)
	for _, name := range []string{"acme", "bravo"} {
		req, err := http.NewRequest("POST", d.srv.URL+"/v1/clusters", strings.NewReader(`{"name":"`+name+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create cluster %s: %d %v %s", name, resp.StatusCode, err, b)
		}
		d.keys[name] = regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(string(b))
	}
	return d
}

// browser is a client with its own cookies that does not follow
// redirects, so a test sees each answer.
type browser struct {
	t *testing.T
	c *http.Client
	d *dashboard
}

func (d *dashboard) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, d: d, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.d.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s: reading the page: %v", path, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.d.srv.URL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s: reading the page: %v", path, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// signIn signs in with key, which must be accepted.
func (b *browser) signIn(key string) {
	b.t.Helper()
	if code, page, _ := b.post("/login", url.Values{"key": {key}}); code != 303 {
		b.t.Fatalf("sign-in: %d\n%s", code, page)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]{32})"`)

// csrf reads the form token from a page.
func (b *browser) csrf(page string) string {
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token in:\n%s", page)
	}
	return m[1]
}

func TestSignInAndTrackingDomains(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	if code, _, h := b.get("/tracking-domains"); code != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("signed out: %d %s", code, h.Get("Location"))
	}
	if code, page, _ := b.post("/login", url.Values{"key": {"wmk_wrong"}}); code != 401 || !strings.Contains(page, "was not accepted") {
		t.Fatalf("bad key: %d", code)
	}
	code, _, h := b.post("/login", url.Values{"key": {d.keys["acme"]}, "next": {"//evil.example/"}})
	if code != 303 || h.Get("Location") != "/tracking-domains" {
		t.Fatalf("sign in: %d %s", code, h.Get("Location"))
	}
	cookie := h.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, attr) {
			t.Fatalf("session cookie without %s: %s", attr, cookie)
		}
	}
	if strings.Contains(cookie, d.keys["acme"]) {
		t.Fatal("the key is readable in the cookie")
	}
	_, page, _ := b.get("/tracking-domains")
	token := b.csrf(page)
	// A form without the token (another site's) is refused.
	if code, _, _ := b.post("/tracking-domains", url.Values{"name": {"track.acme-mail.com"}}); code != 403 {
		t.Fatalf("no CSRF token: %d", code)
	}
	// The name rules' error shows beside the field, the input kept.
	code, page, _ = b.post("/tracking-domains", url.Values{"csrf": {token}, "name": {"acme-mail.com"}})
	if code != 422 || !strings.Contains(page, `id="name-error"`) || !strings.Contains(page, `value="acme-mail.com"`) {
		t.Fatalf("apex domain: %d\n%s", code, page)
	}
	code, _, h = b.post("/tracking-domains", url.Values{"csrf": {token}, "name": {"track.acme-mail.com"}, "default": {"on"}})
	if code != 303 || !strings.HasPrefix(h.Get("Location"), "/tracking-domains/td_") {
		t.Fatalf("add: %d %s", code, h.Get("Location"))
	}
	detail := h.Get("Location")
	_, page, _ = b.get(detail)
	if !regexp.MustCompile(`<code>v-[0-9a-f]{16}\.track\.waymark\.localhost</code>`).MatchString(page) || !strings.Contains(page, "data-copy=") ||
		strings.Contains(page, "Set as default") {
		t.Fatalf("detail page:\n%s", page)
	}
	// Verify now, with no DNS: the diagnosis shows.
	if code, page, _ = b.post(detail+"/verify", url.Values{"csrf": {token}}); code != 200 || !strings.Contains(page, "Last check") {
		t.Fatalf("verify: %d\n%s", code, page)
	}
	// The front door's home URL: saved, shown, refused with the reason.
	if code, page, _ = b.post(detail+"/home", url.Values{"csrf": {token}, "home_url": {"https://www.acme-mail.com/"}}); code != 200 ||
		!strings.Contains(page, `value="https://www.acme-mail.com/"`) || !strings.Contains(page, "Saved.") {
		t.Fatalf("home URL: %d\n%s", code, page)
	}
	if code, page, _ = b.post(detail+"/home", url.Values{"csrf": {token}, "home_url": {"ftp://x"}}); code != 422 ||
		!strings.Contains(page, "must be an absolute http or https URL") || !strings.Contains(page, `value="ftp://x"`) {
		t.Fatalf("a bad home URL: %d\n%s", code, page)
	}
	// Another cluster's session sees none of it.
	other := d.browser(t)
	other.signIn(d.keys["bravo"])
	if code, page, _ := other.get("/tracking-domains"); code != 200 || strings.Contains(page, "track.acme-mail.com") {
		t.Fatalf("bravo sees acme's domain (or not 200: %d)", code)
	}
	if code, _, _ := other.get(detail); code != 404 {
		t.Fatalf("bravo opens acme's domain: %d", code)
	}
	// Delete needs the confirmation.
	if code, _, _ := b.post(detail+"/delete", url.Values{"csrf": {token}}); code != 422 {
		t.Fatalf("delete without confirmation: %d", code)
	}
	if code, _, _ := b.post(detail+"/delete", url.Values{"csrf": {token}, "confirm": {"yes"}}); code != 303 {
		t.Fatalf("delete: %d", code)
	}
	if code, page, _ := b.get("/tracking-domains"); code != 200 || strings.Contains(page, "track.acme-mail.com") {
		t.Fatalf("deleted domain still listed (or not 200: %d)", code)
	}
	if code, _, h := b.post("/logout", url.Values{"csrf": {token}}); code != 303 || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d %s", code, h.Get("Set-Cookie"))
	}
	if code, _, _ := b.get("/tracking-domains"); code != 303 {
		t.Fatalf("after sign out: %d", code)
	}
}

func TestAdminSwitchesCluster(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.admin)
	if code, _, h := b.get("/tracking-domains"); code != 303 || h.Get("Location") != "/clusters" {
		t.Fatalf("admin without a cluster: %d %s", code, h.Get("Location"))
	}
	_, page, _ := b.get("/clusters")
	id := regexp.MustCompile(`name="cluster" value="(cl_[0-9a-f]+)"`).FindStringSubmatch(page)
	if id == nil || !strings.Contains(page, "acme") {
		t.Fatalf("clusters:\n%s", page)
	}
	if code, _, _ := b.post("/clusters/use", url.Values{"csrf": {b.csrf(page)}, "cluster": {id[1]}}); code != 303 {
		t.Fatalf("use: %d", code)
	}
	if code, page, _ := b.get("/tracking-domains"); code != 200 || !strings.Contains(page, "Add tracking domain") {
		t.Fatalf("as the admin in a cluster: %d", code)
	}
}

func TestSendingDomains(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.keys["acme"])
	_, page, _ := b.get("/sending-domains")
	token := b.csrf(page)
	code, page, _ := b.post("/sending-domains", url.Values{"csrf": {token}, "name": {"com"}})
	if code != 422 || !strings.Contains(page, `id="form-error"`) {
		t.Fatalf("a public suffix: %d\n%s", code, page)
	}
	code, _, h := b.post("/sending-domains", url.Values{"csrf": {token}, "name": {"acme-mail.com"}, "ed25519": {"on"}})
	if code != 303 {
		t.Fatalf("add: %d", code)
	}
	_, page, _ = b.get(h.Get("Location"))
	for _, want := range []string{"wm1._domainkey.acme-mail.com", "wme1._domainkey.acme-mail.com", "_dmarc.acme-mail.com",
		"clicks.acme-mail.com", "bounce.acme-mail.com", "<code>wm1</code>", "Rotate now"} {
		if !strings.Contains(page, want) {
			t.Fatalf("detail page lacks %q:\n%s", want, page)
		}
	}
	if code, _, _ := b.post(h.Get("Location")+"/rotate", url.Values{"csrf": {token}}); code != 422 {
		t.Fatalf("rotate without confirmation: %d", code)
	}
	if code, page, _ := b.post(h.Get("Location")+"/rotate", url.Values{"csrf": {token}, "confirm": {"yes"}}); code != 200 || !strings.Contains(page, "New keys are published") {
		t.Fatalf("rotate: %d", code)
	}
	code, page, _ = b.post(h.Get("Location")+"/tracking", url.Values{"csrf": {token}, "opens": {"off"}, "clicks": {"inherit"}})
	if code != 200 || !strings.Contains(page, `<option value="off" selected>`) || !strings.Contains(page, "Saved.") {
		t.Fatalf("tracking: %d\n%s", code, page)
	}
	if code, page, _ := b.post(h.Get("Location")+"/tracking", url.Values{"csrf": {token}, "opens": {"maybe"}}); code != 422 || !strings.Contains(page, "tracking.opens must be") {
		t.Fatalf("bad tracking: %d\n%s", code, page)
	}
	code, page, _ = b.post(h.Get("Location")+"/dmarc", url.Values{"csrf": {token}, "dmarc": {"p=reject; rua=dmarc@acme-mail.com"}})
	if code != 200 || !strings.Contains(page, "<code>v=DMARC1; p=reject; rua=mailto:dmarc@acme-mail.com</code>") {
		t.Fatalf("dmarc: %d\n%s", code, page)
	}
	if code, page, _ := b.post(h.Get("Location")+"/dmarc", url.Values{"csrf": {token}, "dmarc": {"p=drop"}}); code != 422 || !strings.Contains(page, "dmarc.p must be") {
		t.Fatalf("bad dmarc: %d\n%s", code, page)
	}
	if code, page, _ := b.post(h.Get("Location")+"/dmarc", url.Values{"csrf": {token}, "dmarc": {""}}); code != 200 || !strings.Contains(page, "<code>v=DMARC1; p=none; adkim=r; aspf=r</code>") {
		t.Fatalf("dmarc back to the default: %d\n%s", code, page)
	}
	other := d.browser(t)
	other.signIn(d.keys["bravo"])
	if code, _, _ := other.get(h.Get("Location")); code != 404 {
		t.Fatalf("bravo opens acme's sending domain: %d", code)
	}
	// Its click host cannot be deleted from the tracking pages: the page
	// says who uses it, and the sending domain stays whole.
	if code, page, _ := b.post("/tracking-domains/clicks.acme-mail.com/delete", url.Values{"csrf": {token}, "confirm": {"yes"}}); code != 409 ||
		!strings.Contains(page, "clicks.acme-mail.com is the click host of sending domain acme-mail.com") {
		t.Fatalf("delete the click host: %d\n%s", code, page)
	}
	if code, _, _ := b.get(h.Get("Location")); code != 200 {
		t.Fatalf("the sending domain after a refused delete of its click host: %d", code)
	}
}

func TestWebhooks(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.keys["acme"])
	_, page, _ := b.get("/webhooks")
	token := b.csrf(page)
	if code, page, _ := b.post("/webhooks", url.Values{"csrf": {token}, "url": {"ftp://x"}}); code != 422 || !strings.Contains(page, `id="url-error"`) {
		t.Fatalf("bad URL: %d", code)
	}
	code, page, _ := b.post("/webhooks", url.Values{"csrf": {token}, "url": {"https://receiver.example.net/w"}, "events": {"click", "bounce"}})
	if code != 201 || !regexp.MustCompile(`<code>whsec_[0-9a-f]+</code>`).MatchString(page) || !strings.Contains(page, "click, bounce") {
		t.Fatalf("add: %d\n%s", code, page)
	}
	id := regexp.MustCompile(`action="/webhooks/(wh_[0-9a-z]+)/delete"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no delete form:\n%s", page)
	}
	if code, _, _ := b.post("/webhooks/"+id[1]+"/delete", url.Values{"csrf": {token}}); code != 303 {
		t.Fatalf("delete: %d", code)
	}
	if code, page, _ := b.get("/webhooks"); code != 200 || strings.Contains(page, "receiver.example.net") {
		t.Fatalf("deleted webhook listed (or not 200: %d)", code)
	}
}

func TestBucketize(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(4 * time.Hour)
	evs := []api.Event{
		{Type: "open", Class: "human", At: from},
		{Type: "open", Class: "proxy", At: from.Add(30 * time.Minute)},
		{Type: "click", Class: "bot", At: from.Add(3*time.Hour + 59*time.Minute)},
		{Type: "click", Class: "human", At: to},                    // outside: the end is open
		{Type: "open", Class: "human", At: from.Add(-time.Second)}, // outside
		{Type: "bounce", Class: "hard", At: from},                  // not charted
	}
	got := bucketize(evs, from, to, 4)
	if got[0].Counts[0] != [3]int{1, 1, 0} || got[1].Counts[3] != [3]int{0, 0, 1} || got[0].Counts[1] != [3]int{} {
		t.Fatalf("%+v", got)
	}
	svg := string(chartSVG(got[0], from, to, chartRange{Tick: time.Hour, Format: "15:04"}))
	if strings.Count(svg, "<rect") != 2 || !strings.Contains(svg, `role="img"`) || !strings.Contains(svg, "2 open events: 1 human, 1 from image proxies, 0 from bots") {
		t.Fatalf("svg:\n%s", svg)
	}
	// Labelled axes: counts 0, 1, 2 (the peak bar holds 2) and a tick at
	// each hour from 00:00 to 04:00.
	for _, want := range []string{">0</text>", ">1</text>", ">2</text>", ">00:00</text>", ">02:00</text>", ">04:00</text>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %s:\n%s", want, svg)
		}
	}
	if strings.Contains(svg, "max ") {
		t.Errorf("a label drawn over the bars:\n%s", svg)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[int]int{0: 1, 1: 1, 2: 2, 3: 5, 7: 10, 10: 10, 11: 20, 199: 200, 201: 500, 4999: 5000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestEventsPage(t *testing.T) {
	d := newDashboard(t)
	acme := d.browser(t)
	acme.signIn(d.keys["acme"])
	_, page, _ := acme.get("/events")
	if !strings.Contains(page, "No events.") {
		t.Fatalf("empty:\n%s", page)
	}
	var list struct{ Items []struct{ ID string } }
	req, err := http.NewRequest("GET", d.srv.URL+"/v1/clusters", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.keys["acme"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("clusters: %+v %v", list, err)
	}
	clusterID := list.Items[0].ID
	now := time.Now().UTC()
	var evs []store.Event
	for i, e := range []struct{ typ, class string }{{"open", "human"}, {"open", "proxy"}, {"click", "human"}, {"click", "bot"}, {"unsubscribe", "human"}} {
		evs = append(evs, store.Event{ID: store.NewEventID(now.Add(time.Duration(i) * time.Second)), ClusterID: clusterID, Type: event.Type(e.typ), Class: event.Class(e.class),
			At: now.Add(-time.Hour), MessageID: "msg_1", Recipient: "ann@example.org", Host: "track.acme-mail.com"})
	}
	if err := d.st.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	_, page, _ = acme.get("/events")
	if strings.Count(page, "<rect x=") != 4 || !strings.Contains(page, "<td>track.acme-mail.com</td><td>2</td><td>2</td>") ||
		strings.Count(page, "<td>ann@example.org</td>") != 5 {
		t.Fatalf("events page:\n%s", page)
	}
	if _, page, _ = acme.get("/events?type=click"); strings.Count(page, "<td>ann@example.org</td>") != 2 {
		t.Fatalf("filtered by type:\n%s", page)
	}
	// Newest first: the unsubscribe, inserted last, heads the table.
	_, page, _ = acme.get("/events")
	if i, j := strings.Index(page, "<td>unsubscribe</td>"), strings.Index(page, "<td>open</td>"); i < 0 || i > j {
		t.Fatalf("not newest first:\n%s", page)
	}
	for rg, label := range map[string]string{"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days", "bogus": "last 7 days"} {
		if _, page, _ := acme.get("/events?range=" + rg); !strings.Contains(page, "Opens and clicks, "+label) || strings.Count(page, "<rect x=") != 4 {
			t.Fatalf("range %s:\n%s", rg, page)
		}
	}
	bravo := d.browser(t)
	bravo.signIn(d.keys["bravo"])
	if code, page, _ := bravo.get("/events"); code != 200 || strings.Contains(page, "ann@example.org") || strings.Contains(page, "<rect x=") {
		t.Fatalf("bravo sees acme's events (or not 200: %d)", code)
	}
}

// TestSignInGuards: sign-in returns only to this site's paths, and no
// other site's page can post a form here (login CSRF included).
func TestSignInGuards(t *testing.T) {
	d := newDashboard(t)
	for _, next := range []string{"//evil.example/", "/\t/evil.example/", "https://evil.example/", "/\\evil.example", "/sending-domains/../x"} {
		b := d.browser(t)
		if _, _, h := b.post("/login", url.Values{"key": {d.keys["acme"]}, "next": {next}}); h.Get("Location") != "/tracking-domains" {
			t.Errorf("next %q: redirected to %q", next, h.Get("Location"))
		}
	}
	b := d.browser(t)
	if _, _, h := b.post("/login", url.Values{"key": {d.keys["acme"]}, "next": {"/sending-domains"}}); h.Get("Location") != "/sending-domains" {
		t.Errorf("a local next: %q", h.Get("Location"))
	}
	for _, hdr := range [][2]string{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"}} {
		req, err := http.NewRequest("POST", d.srv.URL+"/login", strings.NewReader(url.Values{"key": {d.keys["bravo"]}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(hdr[0], hdr[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("cross-site login with %s: %d", hdr[0], resp.StatusCode)
		}
	}
}

// TestSignInThrottled: after five wrong keys from a client, sign-in says
// so with 429, even for the right key, until the window ends.
func TestSignInThrottled(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	for i := range 5 {
		if code, _, _ := b.post("/login", url.Values{"key": {"wmk_wrong"}}); code != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d", i+1, code)
		}
	}
	if code, page, h := b.post("/login", url.Values{"key": {d.keys["acme"]}}); code != http.StatusTooManyRequests || !strings.Contains(page, "try again in") ||
		h.Get("Retry-After") == "" || !strings.Contains(page, "try again in "+h.Get("Retry-After")+" seconds") {
		t.Fatalf("the right key after five wrong ones: %d %v\n%s", code, h, page)
	}
}

// TestSignOutEndsTheSession: after signing out, the session cookie from
// before (as a copied or stolen cookie would be) opens nothing.
func TestSignOutEndsTheSession(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.keys["acme"])
	u, err := url.Parse(d.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	kept := b.c.Jar.Cookies(u) // the cookie as it was while signed in
	_, page, _ := b.get("/tracking-domains")
	if code, _, _ := b.post("/logout", url.Values{"csrf": {b.csrf(page)}}); code != 303 {
		t.Fatalf("sign out: %d", code)
	}
	thief := d.browser(t)
	thief.c.Jar.SetCookies(u, kept)
	if code, _, h := thief.get("/tracking-domains"); code != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("the cookie from before sign-out: %d %q", code, h.Get("Location"))
	}
}

// TestSessionsPage: a key's sign-ins are listed, the current one marked;
// ending another signs that browser out at once and leaves this one in;
// ending this one signs out; another key's sessions are not shown.
func TestSessionsPage(t *testing.T) {
	d := newDashboard(t)
	laptop, phone, other := d.browser(t), d.browser(t), d.browser(t)
	laptop.signIn(d.keys["acme"])
	phone.signIn(d.keys["acme"])
	other.signIn(d.keys["bravo"])
	code, page, _ := laptop.get("/sessions")
	if code != 200 || strings.Count(page, `action="/sessions/ses_`) != 2 || strings.Count(page, "(this session)") != 1 ||
		!strings.Contains(page, "Go-http-client") {
		t.Fatalf("sessions page: %d\n%s", code, page)
	}
	// The phone's session is the row without the mark.
	ids := regexp.MustCompile(`action="/sessions/(ses_[0-9a-z]+)/end"[^>]*>.*?>(Sign out|End)<`).FindAllStringSubmatch(page, -1)
	var phoneID string
	for _, m := range ids {
		if m[2] == "End" {
			phoneID = m[1]
		}
	}
	if len(ids) != 2 || phoneID == "" {
		t.Fatalf("rows %v\n%s", ids, page)
	}
	if code, _, h := laptop.post("/sessions/"+phoneID+"/end", url.Values{"csrf": {laptop.csrf(page)}}); code != 303 || h.Get("Location") != "/sessions" {
		t.Fatalf("end the phone's session: %d %q", code, h.Get("Location"))
	}
	if code, _, h := phone.get("/tracking-domains"); code != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("the phone after its session ended: %d %q", code, h.Get("Location"))
	}
	code, page, _ = laptop.get("/sessions")
	if code != 200 || strings.Count(page, `action="/sessions/ses_`) != 1 {
		t.Fatalf("after ending one: %d\n%s", code, page)
	}
	_, otherPage, _ := other.get("/sessions")
	if strings.Count(otherPage, `action="/sessions/ses_`) != 1 {
		t.Fatalf("bravo sees:\n%s", otherPage)
	}
	// A session of another key cannot be ended from here.
	bravoID := regexp.MustCompile(`/sessions/(ses_[0-9a-z]+)/end`).FindStringSubmatch(otherPage)[1]
	if code, _, _ := laptop.post("/sessions/"+bravoID+"/end", url.Values{"csrf": {laptop.csrf(page)}}); code != 404 {
		t.Fatalf("ending another key's session: %d", code)
	}
	if code, _, _ := other.get("/tracking-domains"); code != 200 {
		t.Fatalf("bravo was signed out by acme: %d", code)
	}
	// Ending this session is signing out.
	mine := regexp.MustCompile(`/sessions/(ses_[0-9a-z]+)/end`).FindStringSubmatch(page)[1]
	if code, _, h := laptop.post("/sessions/"+mine+"/end", url.Values{"csrf": {laptop.csrf(page)}}); code != 303 || h.Get("Location") != "/login" {
		t.Fatalf("end this session: %d %q", code, h.Get("Location"))
	}
	if code, _, _ := laptop.get("/sessions"); code != 303 {
		t.Fatalf("after ending its own session: %d", code)
	}
}

// TestStaleCookieLocksNobodyOut: a browser still holding a session of a
// key that was replaced (the admin key set anew with --admin-key) is
// signed out, its cookie cleared, and its page loads are not counted as
// wrong keys: the new key still signs in and the API still answers from
// the same address.
func TestStaleCookieLocksNobodyOut(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.admin)
	u, _ := url.Parse(d.srv.URL)
	kept := b.c.Jar.Cookies(u) // as other open tabs keep sending it
	fresh := apikey.New(apikey.AdminPrefix)
	if _, err := d.st.PutSetting(context.Background(), api.AdminKeySetting, apikey.Hash(fresh), true); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		b.c.Jar.SetCookies(u, kept)
		code, _, h := b.get("/clusters")
		if code != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
			t.Fatalf("page %d with the old key's cookie: %d %q", i, code, h.Get("Location"))
		}
		if !strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), "Max-Age=0") {
			t.Fatalf("the stale cookie was not cleared: %v", h.Values("Set-Cookie"))
		}
	}
	req, _ := http.NewRequest("GET", d.srv.URL+"/v1/clusters", nil)
	req.Header.Set("Authorization", "Bearer "+fresh)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the new admin key from the same address: %d", resp.StatusCode)
	}
	if code, page, _ := d.browser(t).post("/login", url.Values{"key": {fresh}}); code != 303 {
		t.Fatalf("signing in with the new key: %d\n%s", code, page)
	}
}

// TestSignInServerError: when the store fails, sign-in says the server
// failed, not that the key was wrong.
func TestSignInServerError(t *testing.T) {
	d := newDashboard(t)
	d.st.Close()
	if code, page, _ := d.browser(t).post("/login", url.Values{"key": {d.keys["acme"]}}); code != http.StatusServiceUnavailable ||
		!strings.Contains(page, "the key was not the problem") {
		t.Fatalf("sign-in with the store closed: %d\n%s", code, page)
	}
}

// TestSettingsPage: a cluster key sees its cluster's unsigned_mail and
// changes it; a value the API refuses is shown with its reason; the
// admin changes the cluster it picked, and only that one.
func TestSettingsPage(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.keys["acme"])
	code, page, _ := b.get("/settings")
	if code != 200 || !regexp.MustCompile(`value="refuse"\s+checked`).MatchString(page) {
		t.Fatalf("settings: %d\n%s", code, page)
	}
	code, page, _ = b.post("/settings", url.Values{"csrf": {b.csrf(page)}, "unsigned_mail": {"relay"}})
	if code != 200 || !strings.Contains(page, "Saved.") || !regexp.MustCompile(`value="relay"\s+checked`).MatchString(page) {
		t.Fatalf("save: %d\n%s", code, page)
	}
	acme, err := d.st.ClusterByKey(context.Background(), apikey.Hash(d.keys["acme"]))
	if err != nil || acme.UnsignedMail != "relay" {
		t.Fatalf("stored: %+v %v", acme, err)
	}
	if code, page, _ := b.post("/settings", url.Values{"csrf": {b.csrf(page)}, "unsigned_mail": {"sometimes"}}); code != 422 || !strings.Contains(page, "unsigned_mail must be") {
		t.Fatalf("a bad value: %d\n%s", code, page)
	}
	code, page, _ = b.post("/settings", url.Values{"csrf": {b.csrf(page)}, "unsigned_mail": {"relay"}, "notify_email": {"ops@acme.example, Ann <ann@acme.example>"}})
	if code != 200 || !strings.Contains(page, `value="ops@acme.example, ann@acme.example"`) {
		t.Fatalf("notice addresses: %d\n%s", code, page)
	}
	if got, _ := d.st.Cluster(context.Background(), acme.ID); !slices.Equal(got.NotifyEmail, []string{"ops@acme.example", "ann@acme.example"}) {
		t.Fatalf("stored addresses: %q", got.NotifyEmail)
	}
	if code, page, _ := b.post("/settings", url.Values{"csrf": {b.csrf(page)}, "unsigned_mail": {"relay"}, "notify_email": {"ops@acme.example, nope"}}); code != 422 ||
		!strings.Contains(page, `&#34;nope&#34; is not an email address`) || !strings.Contains(page, `value="ops@acme.example, nope"`) {
		t.Fatalf("a bad address: %d\n%s", code, page)
	}
	if code, _, _ := b.post("/settings", url.Values{"unsigned_mail": {"refuse"}}); code != 403 {
		t.Fatalf("without the form's token: %d", code)
	}
	admin := d.browser(t)
	admin.signIn(d.admin)
	if code, _, h := admin.get("/settings"); code != 303 || h.Get("Location") != "/clusters" {
		t.Fatalf("admin without a cluster: %d %q", code, h.Get("Location"))
	}
	bravo, _ := d.st.ClusterByKey(context.Background(), apikey.Hash(d.keys["bravo"]))
	_, page, _ = admin.get("/clusters")
	if code, _, _ := admin.post("/clusters/use", url.Values{"csrf": {admin.csrf(page)}, "cluster": {bravo.ID}}); code != 303 {
		t.Fatalf("use bravo: %d", code)
	}
	_, page, _ = admin.get("/settings")
	if !strings.Contains(page, bravo.ID) {
		t.Fatalf("admin's settings page is not bravo's:\n%s", page)
	}
	if code, _, _ := admin.post("/settings", url.Values{"csrf": {admin.csrf(page)}, "unsigned_mail": {"relay"}}); code != 200 {
		t.Fatalf("admin saves: %d", code)
	}
	if got, _ := d.st.Cluster(context.Background(), bravo.ID); got.UnsignedMail != "relay" {
		t.Fatalf("bravo: %+v", got)
	}
}

// TestBlockedDomainsPage: the admin lists, blocks and unblocks link
// destinations; a cluster key gets a 403.
func TestBlockedDomainsPage(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.admin)
	code, page, _ := b.get("/blocked-domains")
	if code != 200 || !strings.Contains(page, "No domain is blocked.") {
		t.Fatalf("empty list: %d\n%s", code, page)
	}
	if code, _, _ := b.post("/blocked-domains", url.Values{"csrf": {b.csrf(page)}, "domain": {"www.Bad.example"}, "reason": {"phishing"}}); code != 303 {
		t.Fatalf("block: %d", code)
	}
	_, page, _ = b.get("/blocked-domains")
	if !strings.Contains(page, "<code>bad.example</code>") || !strings.Contains(page, "phishing") {
		t.Fatalf("after block:\n%s", page)
	}
	if code, page, _ := b.post("/blocked-domains", url.Values{"csrf": {b.csrf(page)}, "domain": {"not a domain"}}); code != 422 || !strings.Contains(page, "not a domain") {
		t.Fatalf("a bad domain: %d\n%s", code, page)
	}
	if code, _, _ := b.post("/blocked-domains/bad.example/delete", url.Values{"csrf": {b.csrf(page)}}); code != 303 {
		t.Fatalf("unblock: %d", code)
	}
	if _, page, _ := b.get("/blocked-domains"); !strings.Contains(page, "No domain is blocked.") {
		t.Fatalf("after unblock:\n%s", page)
	}
	c := d.browser(t)
	c.signIn(d.keys["acme"])
	if code, _, _ := c.get("/blocked-domains"); code != 403 {
		t.Fatalf("a cluster key: %d", code)
	}
}

func TestSuppressionsPage(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.keys["acme"])
	code, page, _ := b.get("/suppressions")
	if code != 200 || !strings.Contains(page, "No address is suppressed.") {
		t.Fatalf("empty list: %d\n%s", code, page)
	}
	if code, _, _ := b.post("/suppressions", url.Values{"csrf": {b.csrf(page)}, "address": {"Ann@Example.com"}}); code != 303 {
		t.Fatalf("add: %d", code)
	}
	if code, page, _ := b.post("/suppressions", url.Values{"csrf": {b.csrf(page)}, "address": {"not an address"}}); code != 422 || !strings.Contains(page, "is not a plain email address") {
		t.Fatalf("a bad address: %d\n%s", code, page)
	}
	// The import is a file upload, as a browser sends it.
	var body strings.Builder
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", b.csrf(page))
	fw, err := mw.CreateFormFile("file", "list.csv")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(fw, "email\nbob@example.com\nann@example.com\nnonsense\n")
	mw.Close()
	resp, err := b.c.Post(d.srv.URL+"/suppressions/import", mw.FormDataContentType(), strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "1 added, 1 already suppressed, 1 not addresses") || !strings.Contains(string(raw), "line 4: <code>nonsense</code>") {
		t.Fatalf("import: %d\n%s", resp.StatusCode, raw)
	}
	_, page, _ = b.get("/suppressions")
	if !strings.Contains(page, "<code>ann@example.com</code>") || !strings.Contains(page, "<code>bob@example.com</code>") || !strings.Contains(page, "csv import") {
		t.Fatalf("after adding:\n%s", page)
	}
	if _, page, _ := b.get("/suppressions?prefix=bob"); strings.Contains(page, "ann@example.com</code>") || !strings.Contains(page, "bob@example.com</code>") {
		t.Fatalf("filtered by prefix:\n%s", page)
	}
	if _, page, _ := b.get("/suppressions?reason=complaint"); !strings.Contains(page, "No suppressed address matches.") {
		t.Fatalf("filtered by reason:\n%s", page)
	}
	// Another cluster sees none of it.
	c := d.browser(t)
	c.signIn(d.keys["bravo"])
	if _, other, _ := c.get("/suppressions"); !strings.Contains(other, "No address is suppressed.") {
		t.Fatalf("another cluster sees:\n%s", other)
	}
	if code, _, _ := b.post("/suppressions/delete", url.Values{"csrf": {b.csrf(page)}, "address": {"ann@example.com"}}); code != 303 {
		t.Fatalf("remove: %d", code)
	}
	if _, page, _ := b.get("/suppressions"); strings.Contains(page, "ann@example.com</code>") {
		t.Fatalf("after removing:\n%s", page)
	}
}

func TestKeysPage(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.keys["acme"])
	code, page, _ := b.get("/keys")
	if code != 200 || !strings.Contains(page, "created with the cluster <strong>(this session's key)</strong>") {
		t.Fatalf("keys: %d\n%s", code, page)
	}
	code, page, _ = b.post("/keys", url.Values{"csrf": {b.csrf(page)}, "label": {"newsletter server"}})
	key := regexp.MustCompile(`<code>(wmk_[a-z2-7]+)</code>`).FindStringSubmatch(page)
	if code != 201 || key == nil || !strings.Contains(page, "Created “newsletter server”") {
		t.Fatalf("create: %d\n%s", code, page)
	}
	if code, page, _ := b.post("/keys", url.Values{"csrf": {b.csrf(page)}, "label": {strings.Repeat("x", 101)}}); code != 422 || !strings.Contains(page, "at most 100 characters") {
		t.Fatalf("a bad label: %d\n%s", code, page)
	}
	// A second browser signed in with the new key is signed out when it
	// is revoked from the first.
	c := d.browser(t)
	c.signIn(key[1])
	if code, _, _ := c.get("/keys"); code != 200 {
		t.Fatalf("signed in with the new key: %d", code)
	}
	id := regexp.MustCompile(`action="/keys/(key_[0-9a-f]{16})/revoke"`).FindAllStringSubmatch(page, -1)
	if len(id) != 2 {
		t.Fatalf("revoke forms:\n%s", page)
	}
	if code, _, _ := b.post("/keys/"+id[1][1]+"/revoke", url.Values{"csrf": {b.csrf(page)}}); code != 303 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _, h := c.get("/keys"); code != 303 || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Fatalf("the revoked key's browser: %d %v", code, h)
	}
	if _, page, _ := b.get("/keys"); strings.Contains(page, "<td>newsletter server") {
		t.Fatalf("after revoking:\n%s", page)
	}
	// Another cluster's key cannot be revoked from here.
	if code, _, _ := b.post("/keys/"+store.KeyID("x")+"/revoke", url.Values{"csrf": {b.csrf(page)}}); code != 404 {
		t.Fatalf("an unknown key: %d", code)
	}
}

func TestClusterDeletePage(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.admin)
	code, page, _ := b.get("/clusters")
	m := regexp.MustCompile(`action="/clusters/(cl_[0-9a-f]{16})/delete"`).FindAllStringSubmatch(page, -1)
	if code != 200 || len(m) != 2 {
		t.Fatalf("clusters: %d\n%s", code, page)
	}
	acme := m[0][1]
	if code, page, _ := b.post("/clusters/"+acme+"/delete", url.Values{"csrf": {b.csrf(page)}}); code != 422 || !strings.Contains(page, "Tick the box") {
		t.Fatalf("without the box: %d\n%s", code, page)
	}
	if code, _, _ := b.post("/clusters/"+acme+"/delete", url.Values{"csrf": {b.csrf(page)}, "confirm": {"yes"}}); code != 303 {
		t.Fatalf("delete: %d", code)
	}
	if _, page, _ := b.get("/clusters"); strings.Contains(page, acme) || !strings.Contains(page, "bravo") {
		t.Fatalf("after delete:\n%s", page)
	}
	// A cluster key can do none of it.
	c := d.browser(t)
	c.signIn(d.keys["bravo"])
	_, page, _ = c.get("/keys")
	if code, _, _ := c.post("/clusters/"+acme+"/delete", url.Values{"csrf": {c.csrf(page)}, "confirm": {"yes"}}); code != 403 {
		t.Fatalf("a cluster key deletes: %d", code)
	}
}

func TestDeliveryServersPage(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.keys["acme"])
	code, page, _ := b.get("/delivery-servers")
	if code != 200 || !strings.Contains(page, "No delivery servers") {
		t.Fatalf("empty: %d\n%s", code, page)
	}
	if code, page, _ := b.post("/delivery-servers", url.Values{"csrf": {b.csrf(page)}, "name": {"mta1"}, "url": {"smtp://127.0.0.1:25"}}); code != 422 ||
		!strings.Contains(page, "not on the public Internet") || !strings.Contains(page, `value="mta1"`) {
		t.Fatalf("a private address: %d\n%s", code, page)
	}
	if code, _, _ := b.post("/delivery-servers", url.Values{"csrf": {b.csrf(page)}, "name": {"mta1"}, "url": {"smtp://mta1.example.net:25"}, "default": {"on"}}); code != 303 {
		t.Fatalf("add: %d", code)
	}
	_, page, _ = b.get("/delivery-servers")
	if !strings.Contains(page, "<code>smtp://mta1.example.net:25</code>") || !strings.Contains(page, "<td>Default</td>") {
		t.Fatalf("after adding:\n%s", page)
	}
	c := d.browser(t)
	c.signIn(d.keys["bravo"])
	if _, other, _ := c.get("/delivery-servers"); strings.Contains(other, "<code>smtp://mta1.example.net") {
		t.Fatalf("another cluster sees it:\n%s", other)
	}
	id := regexp.MustCompile(`action="/delivery-servers/(ds_[0-9a-f]+)/delete"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no delete form:\n%s", page)
	}
	if code, _, _ := b.post("/delivery-servers/"+id[1]+"/delete", url.Values{"csrf": {b.csrf(page)}}); code != 303 {
		t.Fatalf("delete: %d", code)
	}
	if _, page, _ := b.get("/delivery-servers"); !strings.Contains(page, "No delivery servers") {
		t.Fatalf("after deleting:\n%s", page)
	}
}

// TestNotFoundAndNames: an unknown page is a 404 in the dashboard's
// style; an IDN is shown in Unicode with its punycode beside; a transient
// check is "not counted", not "failed".
func TestNotFoundAndNames(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	b.signIn(d.keys["acme"])
	code, page, h := b.get("/no/such/page")
	if code != 404 || !strings.Contains(h.Get("Content-Type"), "text/html") || !strings.Contains(page, `<nav aria-label="Main">`) ||
		!strings.Contains(page, "There is no page at /no/such/page") {
		t.Fatalf("404: %d %v\n%s", code, h, page)
	}
	_, page, _ = b.get("/tracking-domains")
	if code, _, _ := b.post("/tracking-domains", url.Values{"csrf": {b.csrf(page)}, "name": {"track.bücher-mail.com"}}); code != 303 {
		t.Fatalf("add an IDN: %d", code)
	}
	if _, page, _ = b.get("/tracking-domains"); !strings.Contains(page, `track.bücher-mail.com <span class="help punycode">(track.xn--bcher-mail-9db.com)</span>`) {
		t.Fatalf("IDN in the list:\n%s", page)
	}
	if displayName("track.example.com") != "track.example.com" || displayName("<b>") != "&lt;b&gt;" {
		t.Fatal("displayName changes or does not escape a plain name")
	}
	for c, want := range map[*store.Check]string{nil: "never checked", {OK: true}: "ok", {Code: "no_record"}: "failed", {Code: string(verify.Transient)}: "not counted"} {
		if got := checkResult(c); got != want {
			t.Errorf("%+v: %q, want %q", c, got, want)
		}
	}
}

// TestBodiesBounded: a form past 64 KiB, or an upload past the import's
// bound, is not read (nor spooled to disk), signed in or not.
func TestBodiesBounded(t *testing.T) {
	d := newDashboard(t)
	b := d.browser(t)
	big := url.Values{"key": {d.keys["acme"]}, "pad": {strings.Repeat("x", 100<<10)}}
	if code, _, _ := b.post("/login", big); code == 303 {
		t.Fatal("a 100 KiB sign-in form was read")
	}
	b.signIn(d.keys["acme"])
	_, page, _ := b.get("/suppressions")
	var body strings.Builder
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", b.csrf(page))
	fw, _ := mw.CreateFormFile("file", "big.csv")
	line := "someone@example.org\n"
	io.WriteString(fw, strings.Repeat(line, (34<<20)/len(line)))
	mw.Close()
	resp, err := b.c.Post(d.srv.URL+"/suppressions/import", mw.FormDataContentType(), strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("a 34 MiB upload: %d", resp.StatusCode)
	}
}

// TestBucketizeStats: hourly rollups land in the chart's buckets by class;
// an hour outside the window is left out.
func TestBucketizeStats(t *testing.T) {
	from := time.Date(2027, 3, 4, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	item := func(h int, human, proxy, botClicks int64) api.StatsItem {
		return api.StatsItem{Start: from.Add(time.Duration(h) * time.Hour), ByClass: map[string]api.ClassCounts{
			"human": {Opens: human}, "proxy": {Opens: proxy}, "bot": {Clicks: botClicks}}}
	}
	got := bucketizeStats([]api.StatsItem{item(0, 1, 2, 0), item(5, 3, 0, 4), item(23, 0, 0, 1), item(24, 9, 9, 9)}, from, to, 4)
	opens, clicks := got[0].Counts, got[1].Counts
	if opens[0] != [3]int{4, 2, 0} || opens[1] != [3]int{} || opens[3] != [3]int{} ||
		clicks[0] != [3]int{0, 0, 4} || clicks[3] != [3]int{0, 0, 1} {
		t.Fatalf("opens %v clicks %v", opens, clicks)
	}
}
