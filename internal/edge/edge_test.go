package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/realip"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
	"github.com/waymark-mail/waymark/internal/testenv"
	"github.com/waymark-mail/waymark/internal/track"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

type fixture struct {
	t     *testing.T
	st    store.Store
	keys  *track.Keys
	url   string // the edge as served: fasthttp, its fast path and the fallback to ServeHTTP
	edge  *Edge
	ctx   context.Context
	clock time.Time
	// forwarded are the Forward calls: "cluster message friend".
	mu        sync.Mutex
	forwarded []string
}

const (
	clA = "cl_00000000000000aa"
	clB = "cl_00000000000000bb"
)

func newFixture(t *testing.T) *fixture {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st := storetest.SQLite(t)
	now := time.Now().UTC()
	for _, c := range []store.Cluster{{ID: clA, Name: "a", CreatedAt: now}, {ID: clB, Name: "b", CreatedAt: now}} {
		if err := st.CreateCluster(ctx, c, apikey.Hash(c.ID)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct{ cl, id, name string }{{clA, "td_1", "track.a.com"}, {clB, "td_2", "track.b.com"}, {clA, "td_3", "pending.a.com"}} {
		if err := st.CreateTrackingDomain(ctx, store.TrackingDomain{ID: d.id, ClusterID: d.cl, Name: d.name, Target: "v-" + d.id,
			Status: domain.StatusPending, CreatedAt: now, UpdatedAt: now}, store.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Activate(t, st, clA, "td_1")
	storetest.Activate(t, st, clB, "td_2")
	hosts := &Hosts{}
	if err := hosts.Reload(ctx, st); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, keys: track.NewKeys(st, testBox), ctx: ctx, clock: now}
	f.edge = New(Options{Platform: "waymark.localhost", Hosts: hosts, Keys: f.keys.Lookup, Recorder: storeRecorder{st},
		Suppressions: st, Log: quiet, Now: func() time.Time { return f.clock },
		// The relay's part, faked: it is tested end to end in cmd/waymark.
		Forwarder: forwarderFunc(func(cluster, message, recipient, friend string) error {
			if friend == "refused@example.net" {
				return relay.ErrFromNotVerified.With("the sending domain is no longer verified")
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.forwarded) == 5 { // the relay counts; here, a stand-in
				return relay.ErrForwardLimit
			}
			f.forwarded = append(f.forwarded, cluster+" "+message+" "+recipient+" "+friend)
			return nil
		})}, nil)
	f.url = serveFast(t, f.edge)
	return f
}

// serveFast serves e on loopback as serve does: fasthttp, clicks and opens
// on the fast path, the rest through ServeHTTP.
func serveFast(t *testing.T, e *Edge) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := Server(e.Fast(e, nil), quiet)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// storeRecorder stores each event at once: the journal and its loader
// are tested in internal/ingest and end to end in cmd/waymark.
type storeRecorder struct{ st store.Events }

func (r storeRecorder) Record(ctx context.Context, e store.Event) error {
	e.ID = store.NewEventID(e.At)
	return r.st.InsertEvents(ctx, []store.Event{e})
}

func (f *fixture) token(cluster string, kind track.Kind, url string, issued time.Time) string {
	f.t.Helper()
	key, err := f.keys.Current(f.ctx, cluster)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := track.Encode(track.Token{Kind: kind, Issued: issued, ClusterID: cluster, MessageID: "msg_1",
		Recipient: "ann@example.com", URL: url}, key)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) do(method, host, path, ua string) *http.Response {
	f.t.Helper()
	return f.post(method, host, path, ua, "List-Unsubscribe=One-Click")
}

// post is do with a form body for POST.
func (f *fixture) post(method, host, path, ua, form string) *http.Response {
	f.t.Helper()
	f.clock = f.clock.Add(time.Millisecond) // events sort in request order
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("User-Agent", ua)
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Body = io.NopCloser(strings.NewReader(form))
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body) // read whole, so callers may look
	resp.Body.Close()
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// suppressed reports whether the store has addr on cluster's list.
func (f *fixture) suppressed(cluster, addr string) bool {
	f.t.Helper()
	ok, err := f.st.Suppressed(f.ctx, cluster, addr)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

func (f *fixture) events() []store.Event {
	evs, err := f.st.Events(f.ctx, clA, store.EventQuery{Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

func TestClicksAndHosts(t *testing.T) {
	f := newFixture(t)
	hourAgo := f.clock.Add(-time.Hour)
	click := f.token(clA, track.Click, "https://shop.example/sale?a=1&b=2", hourAgo)
	other := "x"
	if click[20] == 'x' {
		other = "y"
	}
	for _, tc := range []struct {
		name, method, host, path string
		code                     int
		location                 string
	}{
		{"own active domain", "GET", "track.a.com", "/c/" + click, 302, "https://shop.example/sale?a=1&b=2"},
		{"host with port and case", "GET", "Track.A.com:8081", "/c/" + click, 302, "https://shop.example/sale?a=1&b=2"},
		{"platform host", "GET", "t.waymark.localhost", "/c/" + click, 302, "https://shop.example/sale?a=1&b=2"},
		{"another cluster's domain", "GET", "track.b.com", "/c/" + click, 404, ""},
		{"pending domain", "GET", "pending.a.com", "/c/" + click, 404, ""},
		{"unknown host", "GET", "evil.example", "/c/" + click, 404, ""},
		{"tampered", "GET", "track.a.com", "/c/" + click[:20] + other + click[21:], 404, ""},
		{"wrong path for kind", "GET", "track.a.com", "/o/" + click, 404, ""},
		{"no token", "GET", "track.a.com", "/c/", 404, ""},
		{"unknown route", "GET", "track.a.com", "/x/" + click, 404, ""},
		{"extra segment", "GET", "track.a.com", "/c/" + click + "/more", 404, ""},
		{"post a click", "POST", "track.a.com", "/c/" + click, 405, ""},
		{"put a click", "PUT", "track.a.com", "/c/" + click, 405, ""},
		{"head never counts", "HEAD", "track.a.com", "/c/" + click, 302, "https://shop.example/sale?a=1&b=2"},
	} {
		resp := f.do(tc.method, tc.host, tc.path, chrome)
		if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, resp.Header.Get("Location"), tc.code, tc.location)
		}
		if tc.code == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q, want GET, HEAD (a click takes no POST)", tc.name, resp.Header.Get("Allow"))
		}
	}
	evs := f.events()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3 (the GET 302s only): %+v", len(evs), evs)
	}
	e := evs[0]
	if e.Type != "click" || e.URL != "https://shop.example/sale?a=1&b=2" || e.Recipient != "ann@example.com" || e.MessageID != "msg_1" ||
		e.Host != "track.a.com" || e.Class != "human" || e.ClientIP != "127.0.0.1" || e.UserAgent != chrome {
		t.Fatalf("event %+v", e)
	}
	// A scanner gets the redirect too, classified as a bot.
	if resp := f.do("GET", "track.a.com", "/c/"+click, "Mozilla/5.0 (compatible; Proofpoint URL Defense)"); resp.StatusCode != 302 {
		t.Fatalf("scanner: %d", resp.StatusCode)
	}
	if evs := f.events(); evs[len(evs)-1].Class != "bot" || !strings.Contains(evs[len(evs)-1].Reason, "proofpoint") {
		t.Fatalf("scanner event %+v", evs[len(evs)-1])
	}
}

func TestOpenHoneypotUnsubscribeForward(t *testing.T) {
	f := newFixture(t)
	issued := f.clock.Add(-time.Hour)
	resp := f.do("GET", "track.a.com", "/o/"+f.token(clA, track.Open, "", issued), "Mozilla/5.0")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" || !strings.Contains(resp.Header.Get("Cache-Control"), "no-cache") {
		t.Fatalf("open: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := f.do("GET", "track.a.com", "/c/"+f.token(clA, track.Honeypot, "", issued), chrome); resp.StatusCode != 204 {
		t.Fatalf("honeypot: %d", resp.StatusCode)
	}
	if resp := f.do("GET", "track.a.com", "/c/"+f.token(clA, track.Click, "https://x.example/", issued), chrome); resp.StatusCode != 302 {
		t.Fatalf("click after honeypot: %d", resp.StatusCode)
	}
	unsub := "/u/" + f.token(clA, track.Unsubscribe, "", issued)
	if resp := f.do("GET", "track.a.com", unsub, chrome); resp.StatusCode != 200 {
		t.Fatalf("unsubscribe page: %d", resp.StatusCode)
	}
	if f.suppressed(clA, "ann@example.com") {
		t.Fatal("a GET unsubscribed")
	}
	for range 2 { // one-click POST, idempotent, 200 without a redirect
		if resp := f.do("POST", "track.a.com", unsub, ""); resp.StatusCode != 200 || resp.Header.Get("Location") != "" {
			t.Fatalf("one-click: %d", resp.StatusCode)
		}
	}
	if !f.suppressed(clA, "ann@example.com") {
		t.Fatal("POST did not unsubscribe")
	}
	if f.suppressed(clB, "ann@example.com") {
		t.Fatal("unsubscribed in another cluster")
	}
	fwd := "/f/" + f.token(clA, track.Forward, "", issued)
	if resp := f.do("GET", "track.a.com", fwd, chrome); resp.StatusCode != 200 {
		t.Fatalf("forward form: %d", resp.StatusCode)
	}
	if resp := f.do("POST", "track.a.com", fwd, chrome); resp.StatusCode != 422 {
		t.Fatalf("forward without an address: %d", resp.StatusCode)
	}
	if resp := f.post("POST", "track.a.com", fwd, chrome, "to=refused%40example.net"); resp.StatusCode != 422 {
		t.Fatalf("forward the relay refuses: %d", resp.StatusCode)
	}
	if resp := f.post("POST", "track.a.com", fwd, chrome, "to=friend%40example.net"); resp.StatusCode != 200 {
		t.Fatalf("forward: %d", resp.StatusCode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.forwarded) != 1 || f.forwarded[0] != clA+" msg_1 ann@example.com friend@example.net" {
		t.Fatalf("forwarded: %v", f.forwarded)
	}
	var got []string
	for _, e := range f.events() {
		got = append(got, string(e.Type)+":"+string(e.Class))
	}
	want := "open:proxy click:bot click:bot unsubscribe:human unsubscribe:human forward:human"
	if strings.Join(got, " ") != want {
		t.Fatalf("events %v\nwant %s", got, want)
	}
}

func TestMisdirectedAndStoreDown(t *testing.T) {
	f := newFixture(t)
	click := f.token(clA, track.Click, "https://x.example/", f.clock.Add(-time.Hour))
	req := httptest.NewRequest("GET", "https://track.a.com/c/"+click, nil)
	req.TLS = &tls.ConnectionState{ServerName: "track.b.com"}
	rec := httptest.NewRecorder()
	f.edge.ServeHTTP(rec, req)
	if rec.Code != 421 {
		t.Fatalf("SNI mismatch: %d", rec.Code)
	}
	// The store is gone: no redirect without a stored event.
	f.st.Close()
	if resp := f.do("GET", "track.a.com", "/c/"+click, chrome); resp.StatusCode != 503 || resp.Header.Get("Location") != "" {
		t.Fatalf("store down: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// countingStore counts reads of token keys.
type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (c *countingStore) TokenKeys(ctx context.Context, clusterID string) ([]store.TokenKey, error) {
	c.reads.Add(1)
	return c.Store.TokenKeys(ctx, clusterID)
}

// Forged tokens naming random clusters, or a real cluster on a host that is
// not its own, cost no read of the store.
func TestForgedTokensCostNoRead(t *testing.T) {
	f := newFixture(t)
	cs := &countingStore{Store: f.st}
	f.edge.Keys = track.NewKeys(cs, testBox).Lookup
	secret := []byte("0123456789abcdef0123456789abcdef")
	for i := range 200 {
		cluster := fmt.Sprintf("cl_%016x", rand.Uint64())
		host := "t.waymark.localhost"
		if i%2 == 1 {
			cluster, host = clB, "track.a.com" // B's id on A's host
		}
		key, err := track.NewKey(uint32(i), secret)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := track.Encode(track.Token{Kind: track.Click, ClusterID: cluster, URL: "https://x.example/"}, key)
		if err != nil {
			t.Fatal(err)
		}
		if resp := f.do("GET", host, "/c/"+tok, chrome); resp.StatusCode != 404 {
			t.Fatalf("forged token: %d", resp.StatusCode)
		}
	}
	if n := cs.reads.Load(); n != 0 {
		t.Fatalf("%d store reads for 200 forged tokens", n)
	}
	// A real cluster's token on its own host: one read, then cached, and
	// unknown newer key ids do not read again within the refresh time.
	real := f.token(clA, track.Click, "https://x.example/", f.clock.Add(-time.Hour))
	for range 20 {
		if resp := f.do("GET", "track.a.com", "/c/"+real, chrome); resp.StatusCode != 302 {
			t.Fatalf("real token: %d", resp.StatusCode)
		}
		key, err := track.NewKey(1<<30, secret)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := track.Encode(track.Token{Kind: track.Click, ClusterID: clA, URL: "https://x.example/"}, key)
		if err != nil {
			t.Fatal(err)
		}
		if resp := f.do("GET", "track.a.com", "/c/"+tok, chrome); resp.StatusCode != 404 {
			t.Fatalf("unknown key id: %d", resp.StatusCode)
		}
	}
	if n := cs.reads.Load(); n > 2 {
		t.Fatalf("%d store reads for one cluster's keys", n)
	}
}

// TestForwardLimit: the relay's limit answers 429.
func TestForwardLimit(t *testing.T) {
	f := newFixture(t)
	fwd := "/f/" + f.token(clA, track.Forward, "", f.clock)
	for i := range 5 {
		if resp := f.post("POST", "track.a.com", fwd, chrome, "to=friend%40example.net"); resp.StatusCode != 200 {
			t.Fatalf("forward %d: %d", i, resp.StatusCode)
		}
	}
	if resp := f.post("POST", "track.a.com", fwd, chrome, "to=friend%40example.net"); resp.StatusCode != 429 {
		t.Fatalf("forward over the limit: %d", resp.StatusCode)
	}
}

// forwarderFunc is a Forwarder of a function.
type forwarderFunc func(cluster, message, recipient, friend string) error

func (f forwarderFunc) Forward(_ context.Context, cluster, message, recipient, friend string) (relay.Result, error) {
	return relay.Result{}, f(cluster, message, recipient, friend)
}

// TestOutcomeMetric: every answer of /u/ and /f/ is counted under the
// outcome it had; a refused forward or a failed unsubscribe is not "ok".
func TestOutcomeMetric(t *testing.T) {
	f := newFixture(t)
	count := func(kind, outcome string) float64 {
		return testutil.ToFloat64(f.edge.requests.WithLabelValues(kind, outcome))
	}
	issued := f.clock.Add(-time.Hour)
	unsub := "/u/" + f.token(clA, track.Unsubscribe, "", issued)
	fwd := "/f/" + f.token(clA, track.Forward, "", issued)
	for _, tc := range []struct {
		name, method, path, form string
		code                     int
		outcome                  string
	}{
		{"unsubscribe page", "GET", unsub, "", 200, "ok"},
		{"one-click", "POST", unsub, "List-Unsubscribe=One-Click", 200, "ok"},
		{"forward form", "GET", fwd, "", 200, "ok"},
		{"forward without an address", "POST", fwd, "", 422, "bad_address"},
		{"forward the relay refuses", "POST", fwd, "to=refused%40example.net", 422, "forward_refused"},
		{"forward", "POST", fwd, "to=friend%40example.net", 200, "ok"},
	} {
		kind := tc.path[1:2]
		before := count(kind, tc.outcome)
		beforeOK := count(kind, "ok")
		if resp := f.post(tc.method, "track.a.com", tc.path, chrome, tc.form); resp.StatusCode != tc.code {
			t.Fatalf("%s: %d, want %d", tc.name, resp.StatusCode, tc.code)
		}
		if got := count(kind, tc.outcome) - before; got != 1 {
			t.Errorf("%s: waymark_edge_requests_total{kind=%q,outcome=%q} rose by %v, want 1", tc.name, kind, tc.outcome, got)
		}
		if tc.outcome != "ok" && count(kind, "ok") != beforeOK {
			t.Errorf("%s: a refusal was counted as ok", tc.name)
		}
	}
	for i := range 4 { // the fixture's relay takes five forwards
		if resp := f.post("POST", "track.a.com", fwd, chrome, "to=friend%40example.net"); resp.StatusCode != 200 {
			t.Fatalf("forward %d: %d", i+2, resp.StatusCode)
		}
	}
	if resp := f.post("POST", "track.a.com", fwd, chrome, "to=friend%40example.net"); resp.StatusCode != 429 || count("f", "forward_limit") != 1 {
		t.Fatalf("over the limit: %d, forward_limit %v", resp.StatusCode, count("f", "forward_limit"))
	}
	// Forwarding not offered: the form says so, and it is not a forward.
	f.edge.Forwarder = nil
	if resp := f.post("POST", "track.a.com", fwd, chrome, "to=friend%40example.net"); resp.StatusCode != 200 || count("f", "forward_unavailable") != 1 {
		t.Fatalf("forward unavailable: %d, forward_unavailable %v", resp.StatusCode, count("f", "forward_unavailable"))
	}
	// The store is gone: the one-click is a 503, counted as a store error.
	okBefore := count("u", "ok")
	f.st.Close()
	if resp := f.post("POST", "track.a.com", unsub, chrome, "List-Unsubscribe=One-Click"); resp.StatusCode != 503 {
		t.Fatalf("one-click with the store down: %d", resp.StatusCode)
	}
	if count("u", "store_error") != 1 || count("u", "ok") != okBefore {
		t.Fatalf("one-click with the store down: store_error %v, ok %v (was %v)", count("u", "store_error"), count("u", "ok"), okBefore)
	}
}

// testBox seals the fixture's token keys.
var testBox = func() *secret.Box {
	b, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return b
}()

// TestVersion1LinksStillWork: links in mail sent before tokens were
// encrypted (version 1: fields in the clear, an HMAC under the cluster's
// key) still redirect, record and unsubscribe. The token is made here by
// hand, from the layout, with the key the store holds.
func TestVersion1LinksStillWork(t *testing.T) {
	f := newFixture(t)
	if _, err := f.keys.Current(f.ctx, clA); err != nil {
		t.Fatal(err)
	}
	stored, err := f.st.TokenKeys(f.ctx, clA)
	if err != nil || len(stored) != 1 {
		t.Fatalf("keys: %v %v", stored, err)
	}
	key, err := testBox.OpenStored(stored[0].Secret, secret.TokenKeyContext)
	if err != nil {
		t.Fatal(err)
	}
	v1 := func(kind track.Kind, url string) string {
		cl, _ := hex.DecodeString(strings.TrimPrefix(clA, "cl_"))
		b := []byte{1, byte(kind)}
		b = binary.AppendUvarint(b, uint64(stored[0].ID))
		b = binary.AppendUvarint(b, uint64(f.clock.Add(-time.Hour).Unix()))
		b = append(b, cl...)
		for _, s := range []string{"msg_old", "ann@example.com", url} {
			if s == "" {
				continue
			}
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		h := hmac.New(sha256.New, key)
		h.Write(b)
		return base64.RawURLEncoding.EncodeToString(h.Sum(b)[:len(b)+16])
	}
	resp := f.do("GET", "track.a.com", "/c/"+v1(track.Click, "https://shop.example/old"), chrome)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://shop.example/old" {
		t.Fatalf("version-1 click: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ev := f.events(); len(ev) != 1 || ev[0].Recipient != "ann@example.com" || ev[0].MessageID != "msg_old" {
		t.Fatalf("events: %+v", ev)
	}
	unsub := "/u/" + v1(track.Unsubscribe, "")
	resp = f.do("GET", "track.a.com", unsub, chrome)
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(page), "a•••@example.com") || strings.Contains(string(page), "ann@") {
		t.Fatalf("unsubscribe page: %d\n%s", resp.StatusCode, page)
	}
	if resp := f.do("POST", "track.a.com", unsub, ""); resp.StatusCode != 200 || !f.suppressed(clA, "ann@example.com") {
		t.Fatalf("version-1 one-click: %d", resp.StatusCode)
	}
	// Today's tokens of the same links show neither address nor URL.
	for _, s := range []string{f.token(clA, track.Click, "https://shop.example/old", f.clock), f.token(clA, track.Unsubscribe, "", f.clock)} {
		raw, _ := base64.RawURLEncoding.DecodeString(s)
		if bytes.Contains(raw, []byte("ann@example.com")) || bytes.Contains(raw, []byte("shop.example")) || bytes.Contains(raw, []byte("msg_1")) {
			t.Fatalf("token %s can be read: %q", s, raw)
		}
	}
}

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{
		"ann@example.com":     "a•••@example.com",
		"a@example.com":       "a•••@example.com",
		"Éloïse@例え.jp":        "É•••@例え.jp",
		"\"a@b\"@example.com": "\"•••@example.com",
		"":                    "•••",
		"@example.com":        "•••",
		"no-at-sign":          "•••",
		"x@":                  "x•••@",
	} {
		if got := MaskAddress(in); got != want {
			t.Errorf("MaskAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFrontDoor: an active tracking host's / shows who sends mail with
// links on it and where to report abuse, or redirects to its home URL;
// robots.txt disallows everything; security.txt names the abuse contact
// and expires within a year. Pending and unknown hosts are 404, and
// nothing is recorded as an event.
func TestFrontDoor(t *testing.T) {
	f := newFixture(t)
	f.edge.AbuseContact = "abuse@waymark.localhost"
	get := func(method, host, path string) (*http.Response, string) {
		resp := f.do(method, host, path, chrome)
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, page := get("GET", "track.b.com", "/")
	if resp.StatusCode != 200 || !strings.Contains(page, "sent by <strong>b</strong>") || resp.Header.Get("Cache-Control") != "public, max-age=300" ||
		!strings.Contains(page, `<a href="mailto:abuse@waymark.localhost">abuse@waymark.localhost</a>`) {
		t.Fatalf("front page: %d\n%s", resp.StatusCode, page)
	}
	if _, err := f.st.SetHomeURL(f.ctx, clA, "td_1", "https://www.a.com/welcome"); err != nil {
		t.Fatal(err)
	}
	if err := f.edge.Hosts.Reload(f.ctx, f.st); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get("GET", "track.a.com", "/"); resp.StatusCode != 302 || resp.Header.Get("Location") != "https://www.a.com/welcome" {
		t.Fatalf("home URL: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := get("GET", "track.a.com", "/robots.txt"); resp.StatusCode != 200 || body != "User-agent: *\nDisallow: /\n" {
		t.Fatalf("robots.txt: %d %q", resp.StatusCode, body)
	}
	resp, body := get("GET", "track.a.com", "/.well-known/security.txt")
	m := regexp.MustCompile(`(?m)^Expires: (\S+)$`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || !strings.Contains(body, "Contact: mailto:abuse@waymark.localhost\n") || m == nil {
		t.Fatalf("security.txt: %d %q", resp.StatusCode, body)
	}
	if exp, err := time.Parse(time.RFC3339, m[1]); err != nil || exp.Before(f.clock) || exp.After(f.clock.AddDate(1, 0, 0)) {
		t.Fatalf("Expires %q %v", m[1], err)
	}
	if resp, page := get("GET", "t.waymark.localhost", "/"); resp.StatusCode != 200 || !strings.Contains(page, "shared tracking host of waymark.localhost") ||
		!strings.Contains(page, "sent through waymark.localhost by senders") {
		t.Fatalf("the platform host: %d\n%s", resp.StatusCode, page)
	}
	for _, host := range []string{"pending.a.com", "unknown.example"} {
		for _, path := range []string{"/", "/robots.txt", "/.well-known/security.txt"} {
			if resp, _ := get("GET", host, path); resp.StatusCode != 404 {
				t.Errorf("%s%s: %d", host, path, resp.StatusCode)
			}
		}
	}
	if resp, _ := get("POST", "track.a.com", "/"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /: %d %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	f.edge.AbuseContact = ""
	if resp, _ := get("GET", "track.a.com", "/.well-known/security.txt"); resp.StatusCode != 404 {
		t.Fatalf("security.txt without a contact: %d", resp.StatusCode)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Fatalf("front door visits recorded: %+v", ev)
	}
}

type viewerFunc func(cluster, message, recipient string) ([]byte, error)

func (f viewerFunc) View(_ context.Context, cluster, message, recipient string) ([]byte, error) {
	return f(cluster, message, recipient)
}

// TestWebVersionLink: /v/ shows the viewer's page with a view event and a
// policy that runs no script; a message no longer kept is a 404 without
// an event; without a viewer it is not available either.
func TestWebVersionLink(t *testing.T) {
	f := newFixture(t)
	kept := true
	f.edge.Viewer = viewerFunc(func(cluster, message, recipient string) ([]byte, error) {
		if !kept {
			return nil, relay.ErrViewUnavailable
		}
		return []byte("<p>copy of " + message + " for " + recipient + "</p>"), nil
	})
	link := "/v/" + f.token(clA, track.View, "", f.clock.Add(-time.Hour))
	resp := f.do("GET", "track.a.com", link, chrome)
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(page) != "<p>copy of msg_1 for ann@example.com</p>" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("web version: %d %v %q", resp.StatusCode, resp.Header, page)
	}
	if ev := f.events(); len(ev) != 1 || ev[0].Type != event.View {
		t.Fatalf("events: %+v", ev)
	}
	kept = false
	if resp := f.do("GET", "track.a.com", link, chrome); resp.StatusCode != 404 {
		t.Fatalf("no longer kept: %d", resp.StatusCode)
	}
	if resp := f.do("GET", "track.a.com", "/c/"+strings.TrimPrefix(link, "/v/"), chrome); resp.StatusCode != 404 {
		t.Fatalf("a view token at /c/: %d", resp.StatusCode)
	}
	if ev := f.events(); len(ev) != 1 {
		t.Fatalf("events after: %+v", ev)
	}
}

// TestFastPathAgrees: a click, an open and a honeypot answered on the fast
// path get the status, headers and body ServeHTTP gives them, and the same
// event; a destination with non-ASCII bytes is escaped the same way.
func TestFastPathAgrees(t *testing.T) {
	f := newFixture(t)
	hourAgo := f.clock.Add(-time.Hour)
	for _, tc := range []struct {
		name, method, path string
		kind, outcome      string // of waymark_edge_requests_total
	}{
		{"click", "GET", "/c/" + f.token(clA, track.Click, "https://shop.example/säle?q=ü", hourAgo), "c", "ok"},
		{"click head", "HEAD", "/c/" + f.token(clA, track.Click, "https://shop.example/", hourAgo), "c", "ok"},
		{"open", "GET", "/o/" + f.token(clA, track.Open, "", hourAgo), "o", "ok"},
		{"open head", "HEAD", "/o/" + f.token(clA, track.Open, "", hourAgo), "o", "ok"},
		{"honeypot", "GET", "/c/" + f.token(clA, track.Honeypot, "", hourAgo), "c", "honeypot"},
	} {
		counted := func() float64 { return testutil.ToFloat64(f.edge.requests.WithLabelValues(tc.kind, tc.outcome)) }
		before, c0 := len(f.events()), counted()
		resp := f.do(tc.method, "track.a.com", tc.path, chrome)
		fastBody, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fastEvents := f.events()[before:]
		c1 := counted()

		req := httptest.NewRequest(tc.method, "http://track.a.com"+tc.path, nil)
		req.Header.Set("User-Agent", chrome)
		req.RemoteAddr = "127.0.0.1:4321"
		rec := httptest.NewRecorder()
		f.edge.ServeHTTP(rec, req)
		slowEvents := f.events()[before+len(fastEvents):]
		if fast, slow := c1-c0, counted()-c1; fast != 1 || slow != 1 {
			t.Errorf("%s: counted %v on the fast path, %v on the slow one, as %s/%s", tc.name, fast, slow, tc.kind, tc.outcome)
		}

		if resp.StatusCode != rec.Code {
			t.Errorf("%s: fast %d, slow %d", tc.name, resp.StatusCode, rec.Code)
		}
		for _, h := range []string{"Location", "Cache-Control", "Referrer-Policy", "Pragma", "Expires"} {
			if resp.Header.Get(h) != rec.Header().Get(h) {
				t.Errorf("%s: %s fast %q, slow %q", tc.name, h, resp.Header.Get(h), rec.Header().Get(h))
			}
		}
		if strings.HasPrefix(tc.path, "/o/") {
			if resp.Header.Get("Content-Type") != "image/gif" || tc.method == "GET" && !bytes.Equal(fastBody, rec.Body.Bytes()) {
				t.Errorf("%s: %q %x, slow %x", tc.name, resp.Header.Get("Content-Type"), fastBody, rec.Body.Bytes())
			}
		}
		if len(fastEvents) != len(slowEvents) {
			t.Fatalf("%s: fast recorded %d events, slow %d", tc.name, len(fastEvents), len(slowEvents))
		}
		for i := range fastEvents {
			a, b := fastEvents[i], slowEvents[i]
			if a.Type != b.Type || a.Class != b.Class || a.URL != b.URL || a.Host != b.Host || a.ClientIP != b.ClientIP || a.UserAgent != b.UserAgent {
				t.Errorf("%s: fast event %+v\nslow event %+v", tc.name, a, b)
			}
		}
	}
	if loc := f.do("GET", "track.a.com", "/c/"+f.token(clA, track.Click, "https://shop.example/säle", hourAgo), chrome).Header.Get("Location"); loc != "https://shop.example/s%c3%a4le" {
		t.Fatalf("non-ASCII destination: Location %q", loc)
	}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestFastPathTrustedProxy: behind a trusted proxy the fast path records
// the client X-Forwarded-For names; from anyone else the header is ignored.
func TestFastPathTrustedProxy(t *testing.T) {
	f := newFixture(t)
	proxies, _ := realip.Parse([]string{"127.0.0.1"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := Server(f.edge.Fast(proxies.Handler(quiet, f.edge), proxies), quiet)
	go srv.Serve(ln)
	defer srv.Shutdown()
	click := "/c/" + f.token(clA, track.Click, "https://shop.example/", f.clock.Add(-time.Hour))
	for _, xff := range []string{"198.51.100.7", "203.0.113.9, 198.51.100.8"} {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+click, nil)
		req.Host = "track.a.com"
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := noRedirect.Do(req)
		if err != nil || resp.StatusCode != 302 {
			t.Fatalf("click through the proxy: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	evs := f.events()
	if len(evs) != 2 || evs[0].ClientIP != "198.51.100.7" || evs[1].ClientIP != "198.51.100.8" {
		t.Fatalf("client addresses: %+v", evs)
	}
	// Not a trusted peer: the header counts for nothing.
	req, _ := http.NewRequest("GET", f.url+click, nil)
	req.Host = "track.a.com"
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	resp, _ := noRedirect.Do(req)
	resp.Body.Close()
	if evs := f.events(); len(evs) != 3 || evs[2].ClientIP != "127.0.0.1" {
		t.Fatalf("an untrusted peer's X-Forwarded-For was believed: %+v", evs[len(evs)-1])
	}
}

// TestMetricsSurviveBufferReuse: requests of every kind on one connection
// (fasthttp reuses its buffers between them) leave the metrics readable,
// with the labels they were counted under: no label aliases a request.
func TestMetricsSurviveBufferReuse(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	f.edge = New(f.edge.Options, reg)
	f.url = serveFast(t, f.edge)
	issued := f.clock.Add(-time.Hour)
	paths := []string{"/f/" + f.token(clA, track.Forward, "", issued), "/", "/robots.txt", "/u/" + f.token(clA, track.Unsubscribe, "", issued),
		"/c/" + f.token(clA, track.Click, "https://x.example/", issued), "/x/nothing", "/o/" + f.token(clA, track.Open, "", issued),
		"/v/" + f.token(clA, track.View, "", issued), "/c/forged-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
	for range 3 {
		for _, p := range paths {
			f.do("GET", "track.a.com", p, chrome)
		}
	}
	// A good link on a host no cluster has (a CNAME never added).
	f.do("GET", "track.nobody.example", "/c/"+f.token(clA, track.Click, "https://x.example/", issued), chrome)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering the edge's metrics: %v", err)
	}
	labels := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var l []string
			for _, lp := range m.GetLabel() {
				l = append(l, lp.GetValue())
			}
			labels[strings.Join(l, "/")] = true
		}
	}
	for _, want := range []string{"f/ok", "front/", "front/robots.txt", "u/ok", "c/ok", "/no_route", "o/ok", "c/bad_token", "c/unknown_host"} {
		if !labels[want] {
			t.Errorf("no series %s in %v", want, labels)
		}
	}
}

// TestBadTargetAndBigHeaders: a target with a bad %-escape is a 400 (not
// the adaptor's 500); a click with 40 KiB of cookies still redirects.
func TestBadTargetAndBigHeaders(t *testing.T) {
	f := newFixture(t)
	click := "/c/" + f.token(clA, track.Click, "https://x.example/", f.clock.Add(-time.Hour))
	for _, p := range []string{click + "%zz", "/%zz"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: track.a.com\r\nConnection: close\r\n\r\n", p)
		status, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if !strings.HasPrefix(status, "HTTP/1.1 400") {
			t.Errorf("%s: %q, want a 400", p, status)
		}
	}
	req, _ := http.NewRequest("GET", f.url+click, nil)
	req.Host = "track.a.com"
	req.Header.Set("Cookie", "big="+strings.Repeat("x", 40<<10))
	resp, err := noRedirect.Do(req)
	if err != nil || resp.StatusCode != 302 {
		t.Fatalf("a click with 40 KiB of cookies: %v %v", resp, err)
	}
	resp.Body.Close()
}
