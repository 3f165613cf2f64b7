package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/monitor"
	"github.com/waymark-mail/waymark/internal/notice"
	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/stats"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
	"github.com/waymark-mail/waymark/internal/testenv"
	"github.com/waymark-mail/waymark/internal/track"
	"github.com/waymark-mail/waymark/internal/verify"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const platform = "waymark.localhost"

// env is one API server on a real store, with the admin key set.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	store store.Store
	admin string
	// dir holds the SQLite database ("" on PostgreSQL).
	dir string
}

func newEnv(t *testing.T, backend string) *env {
	t.Helper()
	var s store.Store
	var err error
	dir := ""
	switch backend {
	case "sqlite":
		dir = t.TempDir()
		s, err = store.OpenSQLite(context.Background(), dir)
	case "postgres":
		s, err = store.OpenPostgres(context.Background(), testenv.Postgres(t))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	admin := apikey.New(apikey.AdminPrefix)
	if _, err := s.PutSetting(context.Background(), AdminKeySetting, apikey.Hash(admin), true); err != nil {
		t.Fatal(err)
	}
	rl := &relay.Relay{Store: s, Log: quiet, Composer: &relay.Composer{Store: s, Tokens: track.NewKeys(s, testBox), Box: testBox, Platform: platform}}
	srv := httptest.NewServer(New(Options{Store: s, PlatformDomain: platform, Logger: quiet, Monitor: newChecker(s), Tokens: track.NewKeys(s, testBox), Box: testBox, Relay: rl,
		AllowPrivateDelivery: true})) // the tests' delivery servers listen on loopback
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, store: s, admin: admin, dir: dir}
}

// in is e for a subtest: its failures stop t, not the parent test (whose
// FailNow from a subtest would be reported as a panic).
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var testBox = func() *secret.Box {
	b, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		panic(err) // a 32-byte key always makes a box
	}
	return b
}()

// dnsAnswers stands in for the customers' DNS in these tests: name ->
// result. The verifier itself is tested against Unbound in package verify
// and end to end in cmd/waymark.
type dnsAnswers struct {
	mu      sync.Mutex
	results map[string]verify.Result
}

func (f *dnsAnswers) Check(_ context.Context, name, want string) verify.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.results[name]; ok {
		return r
	}
	return verify.Result{Code: verify.NoRecord, Diagnosis: name + " does not exist in DNS: add a CNAME record pointing to " + want, Chain: []string{name}}
}

var fakeDNS = &dnsAnswers{results: map[string]verify.Result{}}

// resetDNS forgets the answers a test set (for -count=N runs).
func resetDNS(t *testing.T) {
	t.Cleanup(func() {
		fakeDNS.mu.Lock()
		fakeDNS.results = map[string]verify.Result{}
		fakeDNS.mu.Unlock()
	})
}

func newChecker(s store.Store) *monitor.Monitor {
	return &monitor.Monitor{Store: s, Checker: fakeDNS, Policy: monitor.DefaultPolicy, Log: quiet, Platform: platform,
		Box: testBox, Rotation: dkim.DefaultRotation}
}

// response is a decoded answer.
type response struct {
	Code   int
	Body   map[string]any
	Raw    string
	Header http.Header
}

func (r response) errCode() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r response) str(key string) string {
	v, _ := r.Body[key].(string)
	return v
}

func (e *env) do(method, path, key string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	out := response{Code: resp.StatusCode, Raw: string(raw), Header: resp.Header}
	isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
	if out.Code >= 400 && path != "/healthz" && !isJSON {
		e.t.Fatalf("%s %s: error %d is not JSON (Content-Type %q): %s", method, path, out.Code, resp.Header.Get("Content-Type"), raw)
	}
	if len(raw) > 0 && isJSON {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %v\n%s", method, path, err, raw)
		}
		if out.Code >= 400 && path != "/healthz" {
			checkErrorShape(e.t, out)
		}
	}
	return out
}

// checkErrorShape asserts the error JSON of openapi.json's Error schema:
// {"error": {"code", "message", "field"}}, nothing beside it, code and
// message non-empty strings, field a string (empty when no field is at
// fault).
func checkErrorShape(t *testing.T, r response) {
	t.Helper()
	if problem := errorShapeProblem(r.Body); problem != "" {
		t.Fatalf("error body has the wrong shape (%s): %s", problem, r.Raw)
	}
}

// errorShapeProblem says what is wrong with an error body, or "".
func errorShapeProblem(body map[string]any) string {
	if len(body) != 1 {
		return fmt.Sprintf("%d top-level keys, want only \"error\"", len(body))
	}
	e, ok := body["error"].(map[string]any)
	if !ok {
		return "\"error\" is not an object"
	}
	for _, k := range []string{"code", "message"} {
		if v, ok := e[k].(string); !ok || v == "" {
			return fmt.Sprintf("%q is missing, not a string or empty", k)
		}
	}
	if _, ok := e["field"].(string); !ok {
		return "\"field\" is missing or not a string"
	}
	if len(e) != 3 {
		return fmt.Sprintf("%d keys in \"error\", want code, message and field", len(e))
	}
	return ""
}

// The shape check itself refuses every malformed body, so a passing API
// test means the errors it met had the documented shape.
func TestErrorShapeCheck(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string // "" for a body of the right shape
	}{
		{`{"error": {"code": "duplicate", "message": "taken", "field": "name"}}`, ""},
		{`{"error": {"code": "internal", "message": "failed", "field": ""}}`, ""},
		{`{"error": {"message": "taken", "field": "name"}}`, `"code" is missing`},
		{`{"error": {"code": "", "message": "taken", "field": "name"}}`, `"code" is missing`},
		{`{"error": {"code": 409, "message": "taken", "field": "name"}}`, `"code" is missing`},
		{`{"error": {"code": "duplicate", "field": "name"}}`, `"message" is missing`},
		{`{"error": {"code": "duplicate", "message": "", "field": "name"}}`, `"message" is missing`},
		{`{"error": {"code": "duplicate", "message": "taken"}}`, `"field" is missing`},
		{`{"error": {"code": "duplicate", "message": "taken", "field": null}}`, `"field" is missing`},
		{`{"error": {"code": "duplicate", "message": "taken", "field": 1}}`, `"field" is missing`},
		{`{"error": {"code": "duplicate", "message": "taken", "field": "", "hint": "x"}}`, `4 keys in "error"`},
		{`{"error": "duplicate"}`, `"error" is not an object`},
		{`{"code": "duplicate", "message": "taken", "field": ""}`, `3 top-level keys`},
		{`{"error": {"code": "duplicate", "message": "taken", "field": ""}, "id": "x"}`, `2 top-level keys`},
	} {
		var body map[string]any
		if err := json.Unmarshal([]byte(tc.raw), &body); err != nil {
			t.Fatal(err)
		}
		got := errorShapeProblem(body)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: problem %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func (e *env) cluster(name string) (id, key string) {
	e.t.Helper()
	r := e.do("POST", "/v1/clusters", e.admin, map[string]any{"name": name})
	if r.Code != 201 || r.Header.Get("Location") != "/v1/clusters/"+r.str("id") {
		e.t.Fatalf("create cluster: %d %s (Location %q)", r.Code, r.Raw, r.Header.Get("Location"))
	}
	return r.str("id"), r.str("api_key")
}

func (e *env) addDomain(key, name string) response {
	e.t.Helper()
	return e.do("POST", "/v1/tracking-domains", key, map[string]any{"name": name})
}

// domainID adds a tracking domain that must be accepted, and returns its id.
func (e *env) domainID(key, name string) string {
	e.t.Helper()
	r := e.addDomain(key, name)
	if r.Code != 201 || r.str("id") == "" {
		e.t.Fatalf("add %s: %d %s", name, r.Code, r.Raw)
	}
	return r.str("id")
}

func (e *env) activate(clusterID, id string) {
	e.t.Helper()
	storetest.Activate(e.t, e.store, clusterID, id)
}

func TestAuth(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	for _, tc := range []struct {
		name, method, path, key string
		header                  []string
		code                    int
		errCode                 string
	}{
		{"no key", "GET", "/v1/tracking-domains", "", nil, 401, "unauthorized"},
		{"unknown key", "GET", "/v1/tracking-domains", "wmk_nope", nil, 401, "unauthorized"},
		{"cluster key on admin route", "POST", "/v1/clusters", key, nil, 403, "forbidden"},
		{"admin without cluster", "GET", "/v1/tracking-domains", e.admin, nil, 400, "cluster_required"},
		{"admin with unknown cluster", "GET", "/v1/tracking-domains", e.admin, []string{ClusterHeader, "cl_nope"}, 404, "not_found"},
		{"unknown route", "GET", "/v1/nothing", key, nil, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.in(t)
			body := any(nil)
			if tc.method == "POST" {
				body = map[string]any{"name": "x"}
			}
			r := e.do(tc.method, tc.path, tc.key, body, tc.header...)
			if r.Code != tc.code || r.errCode() != tc.errCode {
				t.Fatalf("got %d %s, want %d %s", r.Code, r.Raw, tc.code, tc.errCode)
			}
		})
	}
	r := e.do("GET", "/v1/tracking-domains", "", nil)
	if !strings.Contains(r.Raw, "Authorization: Bearer") {
		t.Errorf("401 does not say how to authenticate: %s", r.Raw)
	}
}

func TestClusters(t *testing.T) {
	e := newEnv(t, "sqlite")
	id, key := e.cluster("acme")
	if !regexp.MustCompile(`^cl_[0-9a-f]{16}$`).MatchString(id) || !strings.HasPrefix(key, "wmk_") {
		t.Fatalf("id %q key %q", id, key)
	}
	for _, tc := range []struct {
		body    any
		code    int
		errCode string
		field   string
	}{
		{map[string]any{"name": "acme"}, 409, "duplicate", "name"},
		{map[string]any{"name": "  "}, 422, "cluster_name_invalid", "name"},
		{map[string]any{"name": strings.Repeat("a", 101)}, 422, "cluster_name_invalid", "name"},
		{map[string]any{"name": "a\x00b"}, 422, "cluster_name_invalid", "name"},
		{map[string]any{"nmae": "x"}, 400, "invalid_json", "nmae"},
		{map[string]any{"name": 5}, 400, "invalid_json", "name"},
		{"", 400, "invalid_json", ""},
		{"{", 400, "invalid_json", ""},
		{`{"name":"a"} {"name":"b"}`, 400, "invalid_json", ""},
		{"null", 400, "invalid_json", ""},
		{"[]", 400, "invalid_json", ""},
		{`"acme"`, 400, "invalid_json", ""},
		{`{"Name":"acme2"}`, 400, "invalid_json", "Name"},
	} {
		r := e.do("POST", "/v1/clusters", e.admin, tc.body)
		errObj, _ := r.Body["error"].(map[string]any)
		if r.Code != tc.code || r.errCode() != tc.errCode || (tc.field != "" && errObj["field"] != tc.field) {
			t.Errorf("body %v: got %d %s, want %d %s field %q", tc.body, r.Code, r.Raw, tc.code, tc.errCode, tc.field)
		}
	}
	// The key works, and only for its own cluster.
	if r := e.do("GET", "/v1/clusters", key, nil); r.Code != 200 || !strings.Contains(r.Raw, id) || strings.Contains(r.Raw, "api_key") {
		t.Fatalf("own cluster list: %d %s", r.Code, r.Raw)
	}
	otherID, _ := e.cluster("bravo")
	if r := e.do("GET", "/v1/clusters", e.admin, nil); r.Code != 200 || !strings.Contains(r.Raw, otherID) || !strings.Contains(r.Raw, id) {
		t.Fatalf("admin list: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/clusters/"+otherID, key, nil); r.Code != 404 {
		t.Fatalf("other cluster by id: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/clusters/"+id, key, nil); r.Code != 200 || r.str("name") != "acme" {
		t.Fatalf("own cluster by id: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/clusters/"+otherID, e.admin, nil); r.Code != 200 || r.str("name") != "bravo" {
		t.Fatalf("admin cluster by id: %d %s", r.Code, r.Raw)
	}
}

func TestAddTrackingDomain(t *testing.T) {
	e := newEnv(t, "sqlite")
	clusterID, key := e.cluster("acme")
	r := e.do("POST", "/v1/tracking-domains", key, map[string]any{"name": "Track.Acme-Mail.COM.", "default": true})
	if r.Code != 201 {
		t.Fatalf("add: %d %s", r.Code, r.Raw)
	}
	cname := r.Body["cname"].(map[string]any)
	target := cname["value"].(string)
	if r.str("name") != "track.acme-mail.com" || r.str("status") != "pending" || r.Body["default"] != false ||
		r.Body["default_on_active"] != true || r.str("cluster_id") != clusterID || r.Body["failed_checks"] != 0.0 ||
		r.Body["last_check"] != nil || cname["name"] != "track.acme-mail.com" || cname["type"] != "CNAME" ||
		!regexp.MustCompile(`^v-[0-9a-f]{16}\.track\.waymark\.localhost$`).MatchString(target) ||
		r.Body["tls"].(map[string]any)["status"] != "none" || r.str("created_at") == "" {
		t.Fatalf("add returned %s", r.Raw)
	}
	// IDN is stored as punycode; targets are unique.
	r2 := e.addDomain(key, "links.bücher.de")
	if r2.Code != 201 || r2.str("name") != "links.xn--bcher-kva.de" || r2.Body["cname"].(map[string]any)["value"] == target {
		t.Fatalf("IDN add: %d %s", r2.Code, r2.Raw)
	}
	// Every refusal has its own code and names the field.
	for _, tc := range []struct{ name, code string }{
		{"", domain.CodeRequired},
		{"example.com", domain.CodeApex},
		{"example.co.uk", domain.CodeApex},
		{"co.uk", domain.CodePublicSuffix},
		{"192.0.2.1", domain.CodeIPAddress},
		{"[2001:db8::1]", domain.CodeIPAddress},
		{"track.example.test", domain.CodeReservedTLD},
		{"track.acme.localhost", domain.CodeReservedTLD},
		{"track.example.notatld", domain.CodeUnknownTLD},
		{"track_1.example.com", domain.CodeSyntax},
		{"https://track.example.com/", domain.CodeSyntax},
		{strings.Repeat("a", 64) + ".example.com", domain.CodeSyntax},
		{"x.track." + platform, domain.CodeReservedTLD},
	} {
		r := e.addDomain(key, tc.name)
		errObj, _ := r.Body["error"].(map[string]any)
		if r.Code != 422 || r.errCode() != tc.code || errObj["field"] != "name" {
			t.Errorf("add %q: got %d %s, want 422 %s", tc.name, r.Code, r.Raw, tc.code)
		}
	}
	if r := e.addDomain(key, "TRACK.acme-mail.com"); r.Code != 409 || r.errCode() != "duplicate" {
		t.Fatalf("duplicate: %d %s", r.Code, r.Raw)
	}
	// The same name is free in another cluster.
	_, keyB := e.cluster("bravo")
	if r := e.addDomain(keyB, "track.acme-mail.com"); r.Code != 201 {
		t.Fatalf("same name in other cluster: %d %s", r.Code, r.Raw)
	}
	// The admin key acts in a cluster it names.
	if r := e.do("POST", "/v1/tracking-domains", e.admin, map[string]any{"name": "admin.acme-mail.com"}, ClusterHeader, clusterID); r.Code != 201 || r.str("cluster_id") != clusterID {
		t.Fatalf("admin add: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/tracking-domains?cluster="+clusterID, e.admin, nil); r.Code != 200 || len(r.Body["items"].([]any)) != 3 {
		t.Fatalf("admin list: %d %s", r.Code, r.Raw)
	}
}

func TestPlatformDomainRefused(t *testing.T) {
	// With a real platform domain, customers cannot claim names under it.
	s, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin := apikey.New(apikey.AdminPrefix)
	if _, err := s.PutSetting(context.Background(), AdminKeySetting, apikey.Hash(admin), true); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{Store: s, PlatformDomain: "mail-platform.net", Logger: quiet, Monitor: newChecker(s), Tokens: track.NewKeys(s, testBox), Box: testBox}))
	defer srv.Close()
	e := &env{t: t, srv: srv, store: s, admin: admin}
	_, key := e.cluster("acme")
	for _, name := range []string{"v-0123456789abcdef.track.mail-platform.net", "t.mail-platform.net"} {
		if r := e.addDomain(key, name); r.Code != 422 || r.errCode() != domain.CodePlatform {
			t.Errorf("add %s: %d %s", name, r.Code, r.Raw)
		}
	}
}

func TestDefaultAndDelete(t *testing.T) {
	e := newEnv(t, "sqlite")
	clusterID, key := e.cluster("acme")
	one := e.domainID(key, "one.example.com")
	two := e.domainID(key, "two.example.com")
	if r := e.do("PUT", "/v1/tracking-domains/"+one+"/default", key, nil); r.Code != 409 || r.errCode() != "not_active" {
		t.Fatalf("default on pending: %d %s", r.Code, r.Raw)
	}
	e.activate(clusterID, one)
	e.activate(clusterID, two)
	if r := e.do("PUT", "/v1/tracking-domains/"+one+"/default", key, nil); r.Code != 200 || r.Body["default"] != true {
		t.Fatalf("set default: %d %s", r.Code, r.Raw)
	}
	// By name works as well as by id; setting clears the other.
	if r := e.do("PUT", "/v1/tracking-domains/two.example.com/default", key, nil); r.Code != 200 || r.Body["default"] != true {
		t.Fatalf("set default by name: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/tracking-domains/"+one, key, nil); r.Body["default"] != false {
		t.Fatalf("previous default kept its flag: %s", r.Raw)
	}
	if r := e.do("DELETE", "/v1/tracking-domains/"+two+"/default", key, nil); r.Code != 200 || r.Body["default"] != false {
		t.Fatalf("unset: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/tracking-domains/"+two, key, nil); r.Code != 204 || r.Raw != "" {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/tracking-domains/"+two, key, nil); r.Code != 404 || r.errCode() != "not_found" {
		t.Fatalf("get after delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/tracking-domains/"+two, key, nil); r.Code != 404 {
		t.Fatalf("second delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/tracking-domains", key, nil); r.Code != 200 || len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.Code, r.Raw)
	}
}

// TestCrossClusterIsolation walks the route table: every route that takes a
// tracking domain answers 404 to another cluster's key and changes nothing.
func TestCrossClusterIsolation(t *testing.T) {
	e := newEnv(t, "sqlite")
	clusterA, keyA := e.cluster("acme")
	_, keyB := e.cluster("bravo")
	a := e.domainID(keyA, "track.acme.com")
	e.activate(clusterA, a)
	if r := e.do("PUT", "/v1/tracking-domains/"+a+"/default", keyA, nil); r.Code != 200 {
		t.Fatalf("set default: %d %s", r.Code, r.Raw)
	}
	before := e.do("GET", "/v1/tracking-domains/"+a, keyA, nil).Raw

	tested := 0
	for _, rt := range routes {
		if rt.access != anyKey {
			continue
		}
		tested++
		path := strings.ReplaceAll(rt.path, "{id}", a)
		var body any
		if rt.method == "POST" {
			body = map[string]any{"name": "own.bravo.com"}
		}
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			e := e.in(t)
			// B with A's id (or A's name), and B pretending to act in A.
			r := e.do(rt.method, path, keyB, body)
			if strings.Contains(rt.path, "{id}") {
				if r.Code != 404 {
					t.Fatalf("B on A's domain: %d %s", r.Code, r.Raw)
				}
				byName := strings.ReplaceAll(rt.path, "{id}", "track.acme.com")
				if r := e.do(rt.method, byName, keyB, body); r.Code != 404 {
					t.Fatalf("B on A's domain by name: %d %s", r.Code, r.Raw)
				}
			} else if strings.Contains(r.Raw, a) {
				t.Fatalf("B sees A's domain: %s", r.Raw)
			}
			if r := e.do(rt.method, path, keyB, body, ClusterHeader, clusterA); r.Code != 404 {
				t.Fatalf("B naming A's cluster: %d %s", r.Code, r.Raw)
			}
		})
	}
	if tested < 6 {
		t.Fatalf("only %d cluster-scoped routes tested", tested)
	}
	if after := e.do("GET", "/v1/tracking-domains/"+a, keyA, nil).Raw; after != before {
		t.Fatalf("A's domain changed by B's requests:\nbefore %s\nafter  %s", before, after)
	}
}

// Two concurrent adds of one name in one cluster: one 201, one 409, on
// both stores.
func TestConcurrentAdd(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			_, key := e.cluster("acme")
			for round := range 10 {
				name := fmt.Sprintf("r%d.example.com", round)
				codes := make([]int, 2)
				var wg sync.WaitGroup
				for i := range codes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						codes[i] = e.addDomain(key, name).Code
					}()
				}
				wg.Wait()
				sort.Ints(codes)
				if codes[0] != 201 || codes[1] != 409 {
					t.Fatalf("round %d: codes %v, want [201 409]", round, codes)
				}
			}
		})
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, "sqlite")
	r := e.do("GET", "/v1/openapi.json", "", nil)
	if r.Code != 200 || !strings.HasPrefix(r.str("openapi"), "3.") {
		t.Fatalf("openapi: %d %.200s", r.Code, r.Raw)
	}
	var documented []string
	for path, item := range r.Body["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	var served []string
	for _, rt := range routes {
		served = append(served, rt.method+" "+rt.path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if fmt.Sprint(documented) != fmt.Sprint(served) {
		t.Fatalf("OpenAPI paths differ from routes\ndocumented %v\nserved     %v", documented, served)
	}
	// Every route a key opens documents the errors it can answer.
	for _, rt := range routes {
		op := r.Body["paths"].(map[string]any)[rt.path].(map[string]any)[strings.ToLower(rt.method)].(map[string]any)
		responses := op["responses"].(map[string]any)
		var want []string
		switch rt.access {
		case anyKey:
			want = []string{"400", "401", "404", "500"}
		case adminOnly, clusterWide:
			want = []string{"401", "500"}
		}
		for _, code := range want {
			if responses[code] == nil {
				t.Errorf("%s %s does not document %s", rt.method, rt.path, code)
			}
		}
	}
	// Every $ref points at something that exists.
	for _, ref := range regexp.MustCompile(`"\$ref":\s*"#/([^"]+)"`).FindAllStringSubmatch(r.Raw, -1) {
		var node any = r.Body
		for _, part := range strings.Split(ref[1], "/") {
			m, _ := node.(map[string]any)
			node = m[part]
		}
		if node == nil {
			t.Errorf("dangling $ref #/%s", ref[1])
		}
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, "sqlite")
	if r := e.do("GET", "/healthz", "", nil); r.Code != 200 || r.str("status") != "ok" || r.str("store") != "sqlite" {
		t.Fatalf("healthz: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/tracking-domains", "", nil); r.Code != 401 {
		t.Fatalf("without a key: %d %s", r.Code, r.Raw)
	}
	r := e.do("GET", "/metrics", "", nil)
	if r.Code != 200 || !strings.Contains(r.Raw, `waymark_http_requests_total{code="401",route="GET /v1/tracking-domains"} 1`) {
		t.Fatalf("metrics: %d %s", r.Code, r.Raw)
	}
	e.store.Close()
	if r := e.do("GET", "/healthz", "", nil); r.Code != 503 {
		t.Fatalf("healthz with closed store: %d %s", r.Code, r.Raw)
	}
}

func TestVerifyRoute(t *testing.T) {
	resetDNS(t)
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	r := e.do("POST", "/v1/tracking-domains", key, map[string]any{"name": "track.verify-me.com", "default": true})
	if r.Code != 201 {
		t.Fatalf("add: %d %s", r.Code, r.Raw)
	}
	id, target := r.str("id"), r.Body["cname"].(map[string]any)["value"].(string)
	if r.Body["next_check"] == nil {
		t.Fatalf("a new domain has no first check scheduled: %s", r.Raw)
	}
	// No record yet: 200 with the diagnosis, still pending.
	r = e.do("POST", "/v1/tracking-domains/"+id+"/verify", key, nil)
	check, _ := r.Body["last_check"].(map[string]any)
	if r.Code != 200 || r.str("status") != "pending" || check["ok"] != false || check["code"] != "no_record" ||
		!strings.Contains(check["diagnosis"].(string), target) || len(check["chain"].([]any)) != 1 {
		t.Fatalf("verify without DNS: %d %s", r.Code, r.Raw)
	}
	fakeDNS.mu.Lock()
	fakeDNS.results["track.verify-me.com"] = verify.Result{Code: verify.OK, Diagnosis: "ok", Chain: []string{"track.verify-me.com", target}}
	fakeDNS.mu.Unlock()
	r = e.do("POST", "/v1/tracking-domains/track.verify-me.com/verify", key, nil)
	check, _ = r.Body["last_check"].(map[string]any)
	if r.Code != 200 || r.str("status") != "active" || r.Body["default"] != true || check["ok"] != true || r.Body["failed_checks"] != 0.0 {
		t.Fatalf("verify with DNS: %d %s", r.Code, r.Raw)
	}
	// Now it can be the default, and set/unset works on it.
	if r := e.do("DELETE", "/v1/tracking-domains/"+id+"/default", key, nil); r.Code != 200 || r.Body["default"] != false {
		t.Fatalf("unset: %s", r.Raw)
	}
	if r := e.do("POST", "/v1/tracking-domains/td_0000000000000000/verify", key, nil); r.Code != 404 {
		t.Fatalf("verify unknown: %d", r.Code)
	}
}

func TestBearerSchemeCaseInsensitive(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	req, err := http.NewRequest("GET", e.srv.URL+"/v1/tracking-domains", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("lower-case bearer: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestWebhooksAPI(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, keyA := e.cluster("acme")
	_, keyB := e.cluster("bravo")
	for _, tc := range []struct {
		body  map[string]any
		code  string
		field string
	}{
		{map[string]any{"events": []string{"*"}}, "url_required", "url"},
		{map[string]any{"url": "ftp://x.example/", "events": []string{"*"}}, "url_invalid", "url"},
		{map[string]any{"url": "/relative", "events": []string{"*"}}, "url_invalid", "url"},
		{map[string]any{"url": "https://u:p@x.example/", "events": []string{"*"}}, "url_invalid", "url"},
		{map[string]any{"url": "https://x.example/"}, "events_required", "events"},
		{map[string]any{"url": "https://x.example/", "events": []string{"clicks"}}, "event_unknown", "events"},
		{map[string]any{"url": "https://x.example/", "events": []string{"*"}, "secret": "short"}, "secret_too_short", "secret"},
		{map[string]any{"url": "https://x.example/", "events": []string{"*"}, "max_batch": 0}, "max_batch_invalid", "max_batch"},
		{map[string]any{"url": "https://x.example/", "events": []string{"*"}, "max_batch": 1001}, "max_batch_invalid", "max_batch"},
	} {
		r := e.do("POST", "/v1/webhooks", keyA, tc.body)
		if errObj, _ := r.Body["error"].(map[string]any); r.Code != 422 || r.errCode() != tc.code || errObj["field"] != tc.field {
			t.Errorf("%v: %d %s", tc.body, r.Code, r.Raw)
		}
	}
	r := e.do("POST", "/v1/webhooks", keyA, map[string]any{"url": "https://hooks.acme.example/w", "events": []string{"tracking_domain.verified"}})
	id, secret := r.str("id"), r.str("secret")
	if r.Code != 201 || !strings.HasPrefix(secret, "whsec_") || r.Body["last_delivery"] != nil || r.Body["max_batch"] != float64(100) {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	// Its Location answers it, to its own cluster only, without the secret.
	if got := e.do("GET", r.Header.Get("Location"), keyA, nil); got.Code != 200 || got.str("id") != id || strings.Contains(got.Raw, secret) {
		t.Fatalf("GET %s: %d %s", r.Header.Get("Location"), got.Code, got.Raw)
	}
	if got := e.do("GET", "/v1/webhooks/"+id, keyB, nil); got.Code != 404 || got.errCode() != "not_found" {
		t.Fatalf("B reads A's webhook: %d %s", got.Code, got.Raw)
	}
	r = e.do("POST", "/v1/webhooks", keyA, map[string]any{"url": "https://hooks.acme.example/all", "events": []string{"*"}, "secret": "0123456789abcdef", "max_batch": 1})
	if r.Code != 201 || r.str("secret") != "0123456789abcdef" || r.Body["max_batch"] != float64(1) {
		t.Fatalf("create with secret: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/webhooks", keyA, nil); r.Code != 200 || len(r.Body["items"].([]any)) != 2 || strings.Contains(r.Raw, secret) {
		t.Fatalf("list: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/webhooks", keyB, nil); r.Code != 200 || len(r.Body["items"].([]any)) != 0 {
		t.Fatalf("B's list: %s", r.Raw)
	}
	if r := e.do("DELETE", "/v1/webhooks/"+id, keyB, nil); r.Code != 404 {
		t.Fatalf("B deletes A's webhook: %d", r.Code)
	}
	if r := e.do("DELETE", "/v1/webhooks/"+id, keyA, nil); r.Code != 204 {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/webhooks", keyA, nil); len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("after delete: %s", r.Raw)
	}
}

func TestMessagesDryRunAndEvents(t *testing.T) {
	e := newEnv(t, "sqlite")
	clusterID, key := e.cluster("acme")
	msg := "From: News <news@acme-mail.com>\r\nTo: Ann <ann@example.com>\r\nSubject: Hi\r\n" +
		"X-Waymark-Tracking-Domain: %s\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.example/?a=1&amp;b=2\">x</a>\r\n"
	post := func(body, query string) *http.Response {
		req, err := http.NewRequest("POST", e.srv.URL+"/v1/messages"+query, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "message/rfc822")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// The header names a domain that is not active: refused, named.
	resp := post(fmt.Sprintf(msg, "track.acme-mail.com"), "?dry_run=1&sign=0")
	if resp.StatusCode != 422 {
		t.Fatalf("inactive header domain: %d", resp.StatusCode)
	}
	resp.Body.Close()
	id := e.domainID(key, "track.acme-mail.com")
	e.activate(clusterID, id)
	resp = post(fmt.Sprintf(msg, "track.acme-mail.com"), "?dry_run=1&sign=0&message_id=msg_test")
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := string(body)
	if resp.StatusCode != 200 || resp.Header.Get("X-Waymark-Tracking-Host") != "track.acme-mail.com" || resp.Header.Get("X-Waymark-Message-Id") != "msg_test" ||
		strings.Contains(out, "X-Waymark") || !strings.Contains(out, "List-Unsubscribe: <https://track.acme-mail.com/u/") ||
		!strings.Contains(out, `<a href="https://track.acme-mail.com/c/`) {
		t.Fatalf("dry run: %d %v\n%s", resp.StatusCode, resp.Header, out)
	}
	// Without the header and without a default: the platform host.
	resp = post(strings.Replace(fmt.Sprintf(msg, ""), "X-Waymark-Tracking-Domain: \r\n", "", 1), "?dry_run=1&sign=0")
	resp.Body.Close()
	if resp.Header.Get("X-Waymark-Tracking-Host") != "t."+platform {
		t.Fatalf("fallback host %q", resp.Header.Get("X-Waymark-Tracking-Host"))
	}
	for _, tc := range []struct{ body, query, code string }{
		{fmt.Sprintf(msg, ""), "", "from_domain_not_verified"},
		{"not a message", "?dry_run=1", "invalid_message"},
		{"Subject: no recipient\r\n\r\nbody", "?dry_run=1", "recipient_invalid"},
		{fmt.Sprintf(msg, ""), "?dry_run=1", "from_domain_not_verified"},
		{"To: a@example.org\r\n\r\nbody", "?dry_run=1", "from_missing"},
		{"From: a@x.com, b@y.com\r\nTo: a@example.org\r\n\r\nbody", "?dry_run=1", "from_multiple"},
		{"From: a@x.com\r\nFrom: b@x.com\r\nTo: a@example.org\r\n\r\nbody", "?dry_run=1", "from_multiple"},
		{fmt.Sprintf(msg, ""), "?dry_run=1&sign=0&message_id=%FF", "invalid_query"},
		// A misspelt dry run is refused, never sent.
		{fmt.Sprintf(msg, "track.acme-mail.com"), "?dry_run=yes&sign=0", "invalid_query"},
		{fmt.Sprintf(msg, "track.acme-mail.com"), "?dry_run=1&sign=no", "invalid_query"},
	} {
		r := e.do("POST", "/v1/messages"+tc.query, key, tc.body, "Content-Type", "message/rfc822")
		if r.Code < 400 || r.errCode() != tc.code {
			t.Errorf("%q%s: %d %s, want %s", tc.body, tc.query, r.Code, r.Raw, tc.code)
		}
	}

	// Events: listed with filters and a cursor, only the caller's.
	now := time.Now().UTC()
	var evs []store.Event
	for i := range 5 {
		evs = append(evs, store.Event{ID: store.NewEventID(now.Add(time.Duration(i) * time.Millisecond)), ClusterID: clusterID, Type: "click",
			At: now, MessageID: "msg_test", Recipient: "ann@example.com", URL: "https://shop.example/", Class: "human"})
	}
	if err := e.store.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/events?type=click&limit=3", key, nil)
	if r.Code != 200 || len(r.Body["items"].([]any)) != 3 || r.str("next_cursor") == "" {
		t.Fatalf("events page 1: %d %s", r.Code, r.Raw)
	}
	r = e.do("GET", "/v1/events?type=click&limit=3&cursor="+r.str("next_cursor"), key, nil)
	if r.Code != 200 || len(r.Body["items"].([]any)) != 2 || r.str("next_cursor") != "" {
		t.Fatalf("events page 2: %d %s", r.Code, r.Raw)
	}
	for _, q := range []string{"type=nope", "since=yesterday", "limit=0", "limit=5000", "limit=abc"} {
		if r := e.do("GET", "/v1/events?"+q, key, nil); r.Code != 400 || r.errCode() != "invalid_query" {
			t.Errorf("%s: %d %s", q, r.Code, r.Raw)
		}
	}
	_, keyB := e.cluster("bravo")
	if r := e.do("GET", "/v1/events", keyB, nil); len(r.Body["items"].([]any)) != 0 {
		t.Fatalf("B sees A's events: %s", r.Raw)
	}
}

func TestSendingDomainsAPI(t *testing.T) {
	resetDNS(t)
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "Acme-Mail.com", "algorithms": []string{"ed25519"}})
	if r.Code != 201 || r.str("name") != "acme-mail.com" || r.str("status") != "pending" || r.str("click_host") != "clicks.acme-mail.com" ||
		r.str("bounce_host") != "bounce.acme-mail.com" {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	id := r.str("id")
	label := strings.TrimPrefix(id, "sd_")
	recs := r.Body["records"].([]any)
	var names []string
	for _, x := range recs {
		rec := x.(map[string]any)
		names = append(names, rec["name"].(string)+" "+rec["type"].(string)+" "+rec["value"].(string)+" "+rec["status"].(string))
	}
	for _, want := range []string{
		"wm1._domainkey.acme-mail.com CNAME wm1." + label + ".dkim.waymark.localhost pending",
		"wme2._domainkey.acme-mail.com CNAME wme2." + label + ".dkim.waymark.localhost pending",
		"bounce.acme-mail.com CNAME " + label + ".bounce.waymark.localhost pending",
		"_dmarc.acme-mail.com CNAME " + label + ".dmarc.waymark.localhost pending",
	} {
		if !strings.Contains(strings.Join(names, "\n"), want) {
			t.Errorf("record %q missing from\n%s", want, strings.Join(names, "\n"))
		}
	}
	if len(recs) != 7 {
		t.Fatalf("%d records, want 7", len(recs))
	}
	// The click host is a tracking domain of the cluster now.
	if r := e.do("GET", "/v1/tracking-domains/clicks.acme-mail.com", key, nil); r.Code != 200 {
		t.Fatalf("click domain: %d %s", r.Code, r.Raw)
	}
	// Keys are sealed at rest.
	keys, err := e.store.DKIMKeys(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 || !strings.HasPrefix(keys[0].PrivateKey, "wmseal1:") || strings.Contains(keys[0].PrivateKey, "PRIVATE") {
		t.Fatalf("keys at rest: %+v", keys)
	}
	for _, tc := range []struct {
		body  map[string]any
		code  int
		ecode string
	}{
		{map[string]any{"name": "acme-mail.com"}, 409, "duplicate"},
		{map[string]any{"name": "co.uk"}, 422, domain.CodePublicSuffix},
		{map[string]any{"name": "other.com", "algorithms": []string{"dsa"}}, 422, "algorithm_unknown"},
		{map[string]any{"name": "other.com", "click_host": "a.b"}, 422, "click_host_invalid"},
		{map[string]any{"name": "other.com", "click_host": "x", "bounce_host": "x"}, 422, "bounce_host_invalid"},
	} {
		if r := e.do("POST", "/v1/sending-domains", key, tc.body); r.Code != tc.code || r.errCode() != tc.ecode {
			t.Errorf("%v: %d %s", tc.body, r.Code, r.Raw)
		}
	}
	// Verify: DKIM records pass -> active, whatever DMARC says.
	fakeDNS.mu.Lock()
	for _, sel := range []string{"wm1", "wm2", "wme1", "wme2"} {
		fakeDNS.results[sel+"._domainkey.acme-mail.com"] = verify.Result{Code: verify.OK, Diagnosis: "ok"}
	}
	fakeDNS.mu.Unlock()
	r = e.do("POST", "/v1/sending-domains/acme-mail.com/verify", key, nil)
	if r.Code != 200 || r.str("status") != "active" {
		t.Fatalf("verify: %d %s", r.Code, r.Raw)
	}
	dkimState := r.Body["dkim"].([]any)[0].(map[string]any)
	if dkimState["selector"] != "wm1" || dkimState["next_rotation"] == "" {
		t.Fatalf("dkim state %v", dkimState)
	}
	before, err := e.store.DKIMKeys(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", "/v1/sending-domains/"+id+"/rotate", key, nil); r.Code != 200 {
		t.Fatalf("rotate: %d %s", r.Code, r.Raw)
	}
	after, err := e.store.DKIMKeys(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if before[1].TXT == after[1].TXT || before[0].TXT != after[0].TXT {
		t.Fatal("rotation did not replace only the idle slot's key")
	}
	if r := e.do("DELETE", "/v1/sending-domains/"+id, key, nil); r.Code != 204 {
		t.Fatalf("delete: %d", r.Code)
	}
	if r := e.do("GET", "/v1/tracking-domains/clicks.acme-mail.com", key, nil); r.Code != 404 {
		t.Fatalf("click domain after delete: %d", r.Code)
	}
}

// A verified sending domain signs dry-run messages; the signature verifies
// against the keys the zone publishes.
func TestDryRunSigns(t *testing.T) {
	resetDNS(t)
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "signing-co.com", "algorithms": []string{"ed25519"}})
	if r.Code != 201 {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	id := r.str("id")
	fakeDNS.mu.Lock()
	for _, sel := range []string{"wm1", "wm2", "wme1", "wme2"} {
		fakeDNS.results[sel+"._domainkey.signing-co.com"] = verify.Result{Code: verify.OK}
	}
	fakeDNS.results["clicks.signing-co.com"] = verify.Result{Code: verify.OK}
	fakeDNS.mu.Unlock()
	if r := e.do("POST", "/v1/sending-domains/"+id+"/verify", key, nil); r.str("status") != "active" {
		t.Fatalf("verify: %s", r.Raw)
	}
	req, err := http.NewRequest("POST", e.srv.URL+"/v1/messages?dry_run=1", strings.NewReader(
		"From: News <news@Signing-Co.com>\r\nTo: ann@example.org\r\nSubject: Hi\r\nContent-Type: text/html\r\n\r\n<a href=\"https://x.example/\">x</a>\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || strings.Count(string(signed), "DKIM-Signature:") != 2 {
		t.Fatalf("dry run: %d\n%s", resp.StatusCode, signed)
	}
	// The sending domain's click host carries its links (docs/CONCEPTS.md#tracking-host-order).
	if h := resp.Header.Get("X-Waymark-Tracking-Host"); h != "clicks.signing-co.com" || !strings.Contains(string(signed), "https://clicks.signing-co.com/c/") {
		t.Fatalf("tracking host %q:\n%s", h, signed)
	}
	keys, err := e.store.DKIMKeys(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	txt := map[string]string{}
	for _, k := range keys {
		sel := map[string][2]string{"rsa": {"wm1", "wm2"}, "ed25519": {"wme1", "wme2"}}[k.Algorithm][k.Slot]
		txt[sel+"._domainkey.signing-co.com"] = k.TXT
	}
	vs, err := msgauth.VerifyWithOptions(strings.NewReader(string(signed)), &msgauth.VerifyOptions{LookupTXT: func(d string) ([]string, error) {
		if v, ok := txt[d]; ok {
			return []string{v}, nil
		}
		return nil, fmt.Errorf("no key at %s", d)
	}})
	if err != nil || len(vs) != 2 {
		t.Fatalf("verifications: %v %v", vs, err)
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "signing-co.com" {
			t.Fatalf("signature by %s: %v", v.Domain, v.Err)
		}
	}
}

// TestDeliveryServersAndQueue: delivery servers per cluster, and a message
// POSTed without dry_run is queued, one copy per recipient, to the
// cluster's default server; suppressed recipients are dropped.
func TestDeliveryServersAndQueue(t *testing.T) {
	resetDNS(t)
	e := newEnv(t, "sqlite")
	aID, key := e.cluster("acme")
	_, otherKey := e.cluster("bravo")
	for _, tc := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"name": "mta1", "url": "http://x:25"}, "url_invalid"},
		{map[string]any{"name": "mta1", "url": "smtp://user@x:25"}, "url_invalid"},
		{map[string]any{"name": "", "url": "smtp://x:25"}, "name_invalid"},
		{map[string]any{"name": "mta1", "url": "smtp://x:25", "tracking_domain_id": "td_nope"}, "tracking_domain_unknown"},
	} {
		if r := e.do("POST", "/v1/delivery-servers", key, tc.body); r.Code != 422 || r.errCode() != tc.code {
			t.Errorf("%v: %d %s", tc.body, r.Code, r.Raw)
		}
	}
	r := e.do("POST", "/v1/delivery-servers", key, map[string]any{"name": "mta1", "url": "smtp://127.0.0.1:2500", "default": true})
	if r.Code != 201 || r.str("url") != "smtp://127.0.0.1:2500" {
		t.Fatalf("add: %d %s", r.Code, r.Raw)
	}
	dsID := r.str("id")
	if got := e.do("GET", r.Header.Get("Location"), key, nil); got.Code != 200 || got.str("id") != dsID || got.str("name") != "mta1" {
		t.Fatalf("GET %s: %d %s", r.Header.Get("Location"), got.Code, got.Raw)
	}
	if got := e.do("GET", "/v1/delivery-servers/"+dsID, otherKey, nil); got.Code != 404 {
		t.Fatalf("another cluster reads: %d %s", got.Code, got.Raw)
	}
	if r := e.do("POST", "/v1/delivery-servers", key, map[string]any{"name": "mta1", "url": "smtp://x:25"}); r.Code != 409 {
		t.Fatalf("duplicate: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/delivery-servers/"+dsID, otherKey, nil); r.Code != 404 {
		t.Fatalf("another cluster deletes: %d", r.Code)
	}
	if r := e.do("GET", "/v1/delivery-servers", otherKey, nil); !strings.Contains(r.Raw, `"items": []`) {
		t.Fatalf("another cluster lists: %s", r.Raw)
	}

	r = e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "signing-co.com"})
	if r.Code != 201 {
		t.Fatalf("create sending domain: %d %s", r.Code, r.Raw)
	}
	id := r.str("id")
	fakeDNS.mu.Lock()
	for _, sel := range []string{"wm1", "wm2"} {
		fakeDNS.results[sel+"._domainkey.signing-co.com"] = verify.Result{Code: verify.OK}
	}
	fakeDNS.mu.Unlock()
	if r := e.do("POST", "/v1/sending-domains/"+id+"/verify", key, nil); r.Code != 200 || r.str("status") != "active" {
		t.Fatalf("verify sending domain: %d %s", r.Code, r.Raw)
	}
	if err := e.store.Suppress(context.Background(), aID, "gone@example.org", "unsubscribe", "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	msg := "From: news@signing-co.com\r\nTo: Ann <ann@example.org>, gone@example.org\r\nCc: bob@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"
	r = e.do("POST", "/v1/messages", key, msg, "Content-Type", "message/rfc822")
	if r.Code != 202 {
		t.Fatalf("queue: %d %s", r.Code, r.Raw)
	}
	var res Submitted
	if err := json.Unmarshal([]byte(r.Raw), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Queued) != 2 || res.Queued[0].Recipient != "ann@example.org" || res.Queued[1].Recipient != "bob@example.org" ||
		len(res.Dropped) != 1 || res.Dropped[0].Recipient != "gone@example.org" {
		t.Fatalf("queued: %+v", res)
	}
	m, err := e.store.MailByID(context.Background(), res.Queued[0].QueueID)
	if err != nil || m.ServerURL != "smtp://127.0.0.1:2500" || m.MessageID != res.MessageID || !strings.HasSuffix(m.From, "@bounce.signing-co.com") {
		t.Fatalf("queue row: %+v %v", m, err)
	}
	// The message's status: two copies waiting, the suppressed one said so;
	// the queue counts the cluster's; another cluster sees neither.
	r = e.do("GET", "/v1/messages/"+res.MessageID, key, nil)
	if r.Code != 200 || strings.Count(r.Raw, `"state": "queued"`) != 2 || strings.Count(r.Raw, `"state": "suppressed"`) != 1 ||
		!strings.Contains(r.Raw, `"recipient": "gone@example.org"`) || !strings.Contains(r.Raw, `"next_attempt"`) {
		t.Fatalf("message status: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/messages/"+res.MessageID, otherKey, nil); r.Code != 404 {
		t.Fatalf("another cluster's message: %d", r.Code)
	}
	if r := e.do("GET", "/v1/queue", key, nil); r.Code != 200 || r.Body["total"].(float64) != 2 || !strings.Contains(r.Raw, `"delivery_server": "smtp://127.0.0.1:2500"`) {
		t.Fatalf("queue: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/queue", otherKey, nil); r.Code != 200 || r.Body["total"].(float64) != 0 {
		t.Fatalf("another cluster's queue: %s", r.Raw)
	}
	// Explicit recipients; an unknown delivery server is refused.
	r = e.do("POST", "/v1/messages?recipient=x@example.net", key, "X-Waymark-Delivery-Server: mta9\r\n"+msg, "Content-Type", "message/rfc822")
	if r.Code != 422 || r.errCode() != "delivery_server_unknown" || !strings.Contains(r.Raw, `"field": "X-Waymark-Delivery-Server"`) {
		t.Fatalf("unknown server: %d %s", r.Code, r.Raw)
	}
	if r := e.do("POST", "/v1/messages", key, "From: news@signing-co.com\r\nSubject: no one\r\n\r\nx\r\n"); r.Code != 422 || r.errCode() != "recipient_invalid" {
		t.Fatalf("no recipient: %d %s", r.Code, r.Raw)
	}
	// Mail from a domain that is not a sending domain: 422 naming the
	// setting, then, with unsigned_mail relay, queued with its From
	// address as the envelope sender.
	unsigned := strings.Replace(msg, "news@signing-co.com", "News <news@partner.example>", 1)
	if r := e.do("POST", "/v1/messages", key, unsigned, "Content-Type", "message/rfc822"); r.Code != 422 || r.errCode() != "from_domain_not_verified" ||
		!strings.Contains(r.Raw, "unsigned_mail") {
		t.Fatalf("unsigned, refused: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+aID, key, map[string]any{"unsigned_mail": "relay"}); r.Code != 200 {
		t.Fatalf("patch: %d %s", r.Code, r.Raw)
	}
	r = e.do("POST", "/v1/messages", key, unsigned, "Content-Type", "message/rfc822")
	if r.Code != 202 {
		t.Fatalf("unsigned, relayed: %d %s", r.Code, r.Raw)
	}
	if err := json.Unmarshal([]byte(r.Raw), &res); err != nil {
		t.Fatal(err)
	}
	if m, err := e.store.MailByID(context.Background(), res.Queued[0].QueueID); err != nil || m.From != "news@partner.example" ||
		bytes.Contains(m.Data, []byte("DKIM-Signature")) {
		t.Fatalf("unsigned queue row: %+v %v", m.From, err)
	}
}

// TestMessageRecipients: who a message goes to. Queued: each ?recipient=,
// else every To and Cc address, once each; a dry run: ?recipient=, else
// the first To address. Refusals name the address and where it came from.
func TestMessageRecipients(t *testing.T) {
	resetDNS(t)
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	if r := e.do("POST", "/v1/delivery-servers", key, map[string]any{"name": "mta1", "url": "smtp://127.0.0.1:2500", "default": true}); r.Code != 201 {
		t.Fatalf("add delivery server: %d %s", r.Code, r.Raw)
	}
	r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "signing-co.com"})
	if r.Code != 201 {
		t.Fatalf("create sending domain: %d %s", r.Code, r.Raw)
	}
	fakeDNS.mu.Lock()
	for _, sel := range []string{"wm1", "wm2"} {
		fakeDNS.results[sel+"._domainkey.signing-co.com"] = verify.Result{Code: verify.OK}
	}
	fakeDNS.mu.Unlock()
	if r := e.do("POST", "/v1/sending-domains/"+r.str("id")+"/verify", key, nil); r.str("status") != "active" {
		t.Fatalf("verify sending domain: %d %s", r.Code, r.Raw)
	}
	const dryRefusal = "give the recipient as ?recipient=name@example.com or in the To header"
	for _, tc := range []struct {
		header, query string
		queued        string // the queued recipients, or the refusal "field: message"
		dryRun        string // the dry run's refusal "field: message", "" if it answers
	}{
		{"To: Ann <ann@example.org>\r\n", "", "ann@example.org", ""},
		{"To: ann@example.org, Ann <ann@EXAMPLE.org>\r\nCc: bob@example.org, ann@example.org\r\n", "", "ann@example.org bob@example.org", ""},
		{"To: \"ann\"@example.org\r\n", "", "ann@example.org", ""},
		{"To: ann@example.org\r\n", "?recipient=x%40example.net&recipient=Bob+%3Cbob%40example.org%3E", "x@example.net bob@example.org", ""},
		{"To: \"a b\"@example.org\r\n", "", `To: "a b@example.org" is not an email address`, "recipient: " + dryRefusal},
		{"To: \"gone@example.org> NOTIFY=NEVER\"@x.example\r\n", "", `To: "gone@example.org> NOTIFY=NEVER@x.example" is not an email address`, "recipient: " + dryRefusal},
		{"To: ann@example.org\r\nCc: jörg@example.org\r\n", "", `Cc: "jörg@example.org" is not an email address`, ""},
		{"To: ann@localhost\r\n", "", `To: "ann@localhost" is not an email address`, "recipient: " + dryRefusal},
		{"To: ann@example.org\r\nCc: bob@\r\n", "", "Cc: the Cc header is not a list of addresses: mail: missing '@' or angle-addr", ""},
		{"To: ann@example.org\r\n", "?recipient=nobody", `recipient: "nobody" is not an email address`, "recipient: " + dryRefusal},
		{"To: undisclosed-recipients:;\r\n", "", "recipient: no recipient: give ?recipient=name@example.com or a To header", "recipient: " + dryRefusal},
		{"", "", "recipient: no recipient: give ?recipient=name@example.com or a To header", "recipient: " + dryRefusal},
	} {
		msg := "From: news@signing-co.com\r\n" + tc.header + "Subject: Hi\r\n\r\nHello\r\n"
		r := e.do("POST", "/v1/messages"+tc.query, key, msg, "Content-Type", "message/rfc822")
		var got string
		if r.Code == 202 {
			var res Submitted
			if err := json.Unmarshal([]byte(r.Raw), &res); err != nil {
				t.Fatal(err)
			}
			var to []string
			for _, q := range res.Queued {
				to = append(to, q.Recipient)
			}
			got = strings.Join(to, " ")
		} else if r.Code == 422 && r.errCode() == "recipient_invalid" {
			errObj := r.Body["error"].(map[string]any)
			got = errObj["field"].(string) + ": " + errObj["message"].(string)
		}
		if got != tc.queued {
			t.Errorf("queue %q%s: %d %s\nwant %s", tc.header, tc.query, r.Code, r.Raw, tc.queued)
		}
		query := "?dry_run=1&sign=0"
		if tc.query != "" {
			query += "&" + tc.query[1:]
		}
		r = e.do("POST", "/v1/messages"+query, key, msg, "Content-Type", "message/rfc822")
		got = ""
		if r.Code == 422 && r.errCode() == "recipient_invalid" {
			errObj := r.Body["error"].(map[string]any)
			got = errObj["field"].(string) + ": " + errObj["message"].(string)
		} else if r.Code != 200 {
			got = fmt.Sprintf("%d %s", r.Code, r.Raw)
		}
		if got != tc.dryRun {
			t.Errorf("dry run %q%s: %d %.300s\nwant %s", tc.header, tc.query, r.Code, r.Raw, tc.dryRun)
		}
	}
}

// TestSendingDomainNameThatCannotVerify: a sending domain whose longest
// record name would pass 253 octets is refused at add, naming the record.
func TestSendingDomainNameThatCannotVerify(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	name := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + "." + strings.Repeat("d", 51) + ".com" // 238 octets
	r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": name, "algorithms": []string{"ed25519"}})
	if r.Code != 422 || r.errCode() != "name_too_long" || !strings.Contains(r.Raw, "._domainkey."+name+" would have to be published, and at 254 characters") {
		t.Fatalf("238 octets with ed25519: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/tracking-domains", key, nil); strings.Contains(r.Raw, name) {
		t.Fatalf("a refused add left its click host: %s", r.Raw)
	}
	if r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": name}); r.Code != 201 {
		t.Fatalf("238 octets with RSA only (wm2._domainkey. fits): %d %s", r.Code, r.Raw)
	}
}

// TestQuotas: past its quota a cluster's add is 403 quota_exceeded, and a
// sending domain's click host counts as a tracking domain; another cluster
// is not held by it.
func TestQuotas(t *testing.T) {
	e := newEnv(t, "sqlite")
	s := httptest.NewServer(New(Options{Store: e.store, PlatformDomain: platform, Logger: quiet, Monitor: newChecker(e.store),
		Tokens: track.NewKeys(e.store, testBox), Box: testBox, MaxTrackingDomains: 3, MaxSendingDomains: 1}))
	t.Cleanup(s.Close)
	e.srv = s
	_, key := e.cluster("acme")
	_, other := e.cluster("bravo")
	for _, name := range []string{"t1.acme-mail.com", "t2.acme-mail.com"} {
		if r := e.addDomain(key, name); r.Code != 201 {
			t.Fatalf("add %s: %d %s", name, r.Code, r.Raw)
		}
	}
	if r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "acme-mail.com"}); r.Code != 201 {
		t.Fatalf("sending domain: %d %s", r.Code, r.Raw) // its click host is the third
	}
	if r := e.addDomain(key, "t3.acme-mail.com"); r.Code != 403 || r.errCode() != "quota_exceeded" || !strings.Contains(r.Raw, "--max-tracking-domains") {
		t.Fatalf("a fourth tracking domain: %d %s", r.Code, r.Raw)
	}
	if r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "acme-news.com"}); r.Code != 403 || r.errCode() != "quota_exceeded" || !strings.Contains(r.Raw, "--max-sending-domains") {
		t.Fatalf("a second sending domain: %d %s", r.Code, r.Raw)
	}
	if r := e.addDomain(other, "t1.bravo-mail.com"); r.Code != 201 {
		t.Fatalf("another cluster: %d %s", r.Code, r.Raw)
	}
}

// TestURLsChecked: a webhook or delivery server on loopback, a private or
// link-local address, or with a port out of range is refused at creation
// (422 url_invalid with the reason), unless the operator allows private
// addresses.
func TestURLsChecked(t *testing.T) {
	e := newEnv(t, "sqlite")
	s := httptest.NewServer(New(Options{Store: e.store, PlatformDomain: platform, Logger: quiet, Monitor: newChecker(e.store),
		Tokens: track.NewKeys(e.store, testBox), Box: testBox}))
	t.Cleanup(s.Close)
	strict := *e
	strict.srv = s
	_, key := e.cluster("acme")
	for _, tc := range []struct{ path, url, want string }{
		{"/v1/webhooks", "https://127.0.0.1/w", "not on the public Internet"},
		{"/v1/webhooks", "http://localhost:8080/w", "not on the public Internet"},
		{"/v1/webhooks", "https://10.1.2.3/w", "--webhook-allow-private"},
		{"/v1/webhooks", "https://[fe80::1]/w", "not on the public Internet"},
		{"/v1/webhooks", "https://hooks.example.net:70000/w", "1 to 65535"},
		{"/v1/delivery-servers", "smtp://192.168.1.10:25", "--delivery-allow-private"},
		{"/v1/delivery-servers", "smtp://mta.example.net:0", "1 to 65535"},
		{"/v1/delivery-servers", "smtp://[fe80::1%25lo]:25", "not smtp://host:port"},
		{"/v1/webhooks", "http://2130706433/", "neither a hostname nor an IP address"},
		{"/v1/webhooks", "http://0x7f000001/", "neither a hostname nor an IP address"},
		{"/v1/webhooks", "http://127.1/", "neither a hostname nor an IP address"},
		{"/v1/webhooks", "http://0177.0.0.1/", "neither a hostname nor an IP address"},
		{"/v1/webhooks", "http://127.0.0.1./", "not on the public Internet"},
		{"/v1/webhooks", "http://localhost./", "not on the public Internet"},
		{"/v1/webhooks", "http://localhost.localdomain/", "not on the public Internet"},
		{"/v1/webhooks", "http://[::ffff:0:127.0.0.1]/", "not on the public Internet"},
	} {
		body := map[string]any{"url": tc.url, "events": []string{"*"}}
		if tc.path == "/v1/delivery-servers" {
			body = map[string]any{"url": tc.url, "name": "mta"}
		}
		if r := strict.do("POST", tc.path, key, body); r.Code != 422 || r.errCode() != "url_invalid" || !strings.Contains(r.Raw, tc.want) {
			t.Errorf("%s %s: %d %s; want 422 saying %q", tc.path, tc.url, r.Code, r.Raw, tc.want)
		}
	}
	if r := strict.do("POST", "/v1/webhooks", key, map[string]any{"url": "https://cafe.example/w", "events": []string{"*"}}); r.Code != 201 {
		t.Fatalf("a hostname of hex letters: %d %s", r.Code, r.Raw)
	}
	if r := strict.do("POST", "/v1/webhooks", key, map[string]any{"url": "https://93.184.216.34/w", "events": []string{"*"}}); r.Code != 201 {
		t.Fatalf("a public address: %d %s", r.Code, r.Raw)
	}
	if r := e.do("POST", "/v1/delivery-servers", key, map[string]any{"url": "smtp://127.0.0.1:2525", "name": "local"}); r.Code != 201 {
		t.Fatalf("loopback with --delivery-allow-private: %d %s", r.Code, r.Raw)
	}
}

// TestWrongKeysThrottled: after five requests with a wrong key, a client
// gets 429 with Retry-After, even with a good key; other clients do not.
func TestWrongKeysThrottled(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	for i := range 5 {
		if r := e.do("GET", "/v1/tracking-domains", "wmk_wrong", nil); r.Code != 401 {
			t.Fatalf("wrong key %d: %d", i+1, r.Code)
		}
	}
	r := e.do("GET", "/v1/tracking-domains", key, nil)
	if r.Code != 429 || r.errCode() != "too_many_failures" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a good key after five wrong ones: %d %s (Retry-After %q)", r.Code, r.Raw, r.Header.Get("Retry-After"))
	}
	// Another client address is not held by this one's failures.
	req := httptest.NewRequest("GET", "/v1/tracking-domains", nil)
	req.RemoteAddr = "192.0.2.9:4000"
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("another client: %d %s", rec.Code, rec.Body)
	}
}

// TestSessions: a key starts, lists and ends its own sessions; another
// key sees none of them and cannot end them; an ended session is gone.
func TestSessions(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	_, other := e.cluster("bravo")
	r := e.do("POST", "/v1/sessions", key, nil)
	id := r.str("id")
	if r.Code != 201 || !strings.HasPrefix(id, "ses_") || r.Header.Get("Location") != "/v1/sessions/"+id {
		t.Fatalf("start: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/sessions", key, nil); r.Code != 200 || len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/sessions", other, nil); r.Code != 200 || len(r.Body["items"].([]any)) != 0 {
		t.Fatalf("another key's list: %s", r.Raw)
	}
	if r := e.do("GET", "/v1/sessions/"+id, other, nil); r.Code != 404 {
		t.Fatalf("another key reads it: %d", r.Code)
	}
	if r := e.do("DELETE", "/v1/sessions/"+id, other, nil); r.Code != 404 {
		t.Fatalf("another key ends it: %d", r.Code)
	}
	if r := e.do("GET", "/v1/sessions/"+id, key, nil); r.Code != 200 || r.str("id") != id {
		t.Fatalf("read: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/sessions/"+id, key, nil); r.Code != 204 {
		t.Fatalf("end: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/sessions/"+id, key, nil); r.Code != 404 {
		t.Fatalf("an ended session: %d", r.Code)
	}
}

// TestQuotasConcurrent: adds made at the same moment cannot pass a quota.
func TestQuotasConcurrent(t *testing.T) {
	e := newEnv(t, "sqlite")
	s := httptest.NewServer(New(Options{Store: e.store, PlatformDomain: platform, Logger: quiet, Monitor: newChecker(e.store),
		Tokens: track.NewKeys(e.store, testBox), Box: testBox, MaxTrackingDomains: 3}))
	t.Cleanup(s.Close)
	e.srv = s
	_, key := e.cluster("acme")
	var wg sync.WaitGroup
	codes := make([]int, 12)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", s.URL+"/v1/tracking-domains", strings.NewReader(fmt.Sprintf(`{"name":"t%d.acme-mail.com"}`, i)))
			req.Header.Set("Authorization", "Bearer "+key)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		if c == 201 {
			created++
		} else if c != 403 {
			t.Fatalf("codes %v", codes)
		}
	}
	if created != 3 {
		t.Fatalf("%d created at once with a quota of 3 (codes %v)", created, codes)
	}
}

// TestSessionOddUserAgent: a User-Agent that is not UTF-8, or that 200
// bytes would cut inside a character, is stored cleaned, on both
// databases (PostgreSQL refuses invalid UTF-8), and the sign-in works.
func TestSessionOddUserAgent(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			_, key := e.cluster("acme")
			for _, ua := range []string{strings.Repeat("a", 199) + "é", "Moz\xff"} {
				r := e.do("POST", "/v1/sessions", key, nil, "User-Agent", ua)
				if r.Code != 201 {
					t.Fatalf("User-Agent %q: %d %s", ua, r.Code, r.Raw)
				}
				if got := r.str("user_agent"); !utf8.ValidString(got) || len(got) > 200 {
					t.Fatalf("stored User-Agent %q", got)
				}
			}
		})
	}
}

// TestPatchCluster: a cluster key changes its own cluster's unsigned_mail,
// never another's; the admin key changes any; bad values and fields are
// refused with what is wrong, changing nothing.
func TestPatchCluster(t *testing.T) {
	e := newEnv(t, "sqlite")
	acme, key := e.cluster("acme")
	bravo, _ := e.cluster("bravo")
	if r := e.do("GET", "/v1/clusters/"+acme, key, nil); r.Code != 200 || r.str("unsigned_mail") != "refuse" {
		t.Fatalf("the default: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{"unsigned_mail": "relay"}); r.Code != 200 || r.str("unsigned_mail") != "relay" {
		t.Fatalf("own cluster: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+bravo, key, map[string]any{"unsigned_mail": "relay"}); r.Code != 404 {
		t.Fatalf("another cluster with a cluster key: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{"unsigned_mail": "always"}); r.Code != 422 || r.errCode() != "unsigned_mail_invalid" ||
		!strings.Contains(r.Raw, `\"refuse\" or \"relay\"`) {
		t.Fatalf("a bad value: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{"name": "renamed"}); r.Code != 400 {
		t.Fatalf("a field that cannot be changed: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{}); r.Code != 200 || r.str("unsigned_mail") != "relay" || r.str("name") != "acme" {
		t.Fatalf("nothing to change: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+bravo, e.admin, map[string]any{"unsigned_mail": "relay"}); r.Code != 200 || r.str("id") != bravo {
		t.Fatalf("the admin: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/cl_0000000000000000", e.admin, map[string]any{"unsigned_mail": "relay"}); r.Code != 404 {
		t.Fatalf("a missing cluster: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/clusters", e.admin, nil); r.Code != 200 || strings.Count(r.Raw, `"unsigned_mail": "relay"`) != 2 {
		t.Fatalf("list: %s", r.Raw)
	}
	// Notice addresses: checked, display names dropped, kept apart per
	// cluster, cleared with [].
	r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{"notify_email": []string{"Ops <ops@acme.example>", "ann@acme.example"}})
	if r.Code != 200 || !strings.Contains(r.Raw, `"notify_email": [
    "ops@acme.example",
    "ann@acme.example"
  ]`) || r.str("unsigned_mail") != "relay" {
		t.Fatalf("notify_email: %d %s", r.Code, r.Raw)
	}
	for _, bad := range [][]string{{"not an address"}, {"a@b@c"}, {"ops@acme.example", "OPS@acme.example"}, {"x@-bad-.example"},
		{`"<a@evil.com>"@x.example`}, {`"a>b"@x.example`}, {"ü@x.example"},
		{"a@x.example", "b@x.example", "c@x.example", "d@x.example", "e@x.example", "f@x.example", "g@x.example", "h@x.example", "i@x.example", "j@x.example", "k@x.example"}} {
		if r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{"notify_email": bad}); r.Code != 422 || r.errCode() != "notify_email_invalid" {
			t.Errorf("notify_email %q: %d %s", bad, r.Code, r.Raw)
		}
	}
	if r := e.do("GET", "/v1/clusters/"+bravo, e.admin, nil); !strings.Contains(r.Raw, `"notify_email": []`) {
		t.Fatalf("bravo: %s", r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{"notify_email": []string{}}); r.Code != 200 || !strings.Contains(r.Raw, `"notify_email": []`) {
		t.Fatalf("cleared: %d %s", r.Code, r.Raw)
	}
}

// TestNoticeOf: a sending domain's warning names the records whose check
// failed, with what was found; a deactivation is one; a tracking domain's
// fix is its CNAME.
func TestNoticeOf(t *testing.T) {
	at := time.Unix(1_800_000_000, 0).UTC()
	sd := &SendingDomain{Name: "acme-mail.com", Records: []SendingRecord{
		{Name: "wm1._domainkey.acme-mail.com", Type: "CNAME", Value: "wm1.l1.dkim.waymark.localhost", Status: "pending", Diagnosis: "no CNAME record"},
		{Name: "bounce.acme-mail.com", Type: "CNAME", Value: "l1.bounce.waymark.localhost", Status: "active"},
	}}
	n := NoticeOf(monitor.Notification{Event: event.SendingCheckFailed, At: at, Diagnosis: "DKIM record missing"}, NotificationData{SendingDomain: sd})
	if n.Kind != notice.Warning || n.What != "sending domain" || n.Name != "acme-mail.com" || len(n.Fix()) != 1 ||
		n.Fix()[0].Problem != "no CNAME record" || n.Fix()[0].Value != "wm1.l1.dkim.waymark.localhost" {
		t.Fatalf("sending warning: %+v", n)
	}
	if n := NoticeOf(monitor.Notification{Event: event.SendingDeactivated, At: at}, NotificationData{SendingDomain: sd}); n.Kind != notice.Deactivated {
		t.Fatalf("sending deactivation: %+v", n)
	}
	td := &TrackingDomain{Name: "track.acme.example", CNAME: Record{Name: "track.acme.example", Type: "CNAME", Value: "v-1.track.waymark.localhost"}}
	n = NoticeOf(monitor.Notification{Event: event.TrackingDeactivated, At: at, Diagnosis: "NXDOMAIN"}, NotificationData{TrackingDomain: td})
	if n.Kind != notice.Deactivated || n.What != "tracking domain" || len(n.Fix()) != 1 || n.Fix()[0].Value != "v-1.track.waymark.localhost" || n.Fix()[0].Problem != "NXDOMAIN" {
		t.Fatalf("tracking deactivation: %+v", n)
	}
}

// TestPatchTrackingDomain: home_url is set by id or hostname, cleared
// with "", checked (422 home_url_invalid with the reason), and another
// cluster's domain is a 404.
func TestPatchTrackingDomain(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	_, other := e.cluster("bravo")
	id := e.addDomain(key, "track.acme-mail.com").str("id")
	if r := e.do("GET", "/v1/tracking-domains/"+id, key, nil); r.str("home_url") != "" {
		t.Fatalf("default home_url: %s", r.Raw)
	}
	if r := e.do("PATCH", "/v1/tracking-domains/track.acme-mail.com", key, map[string]any{"home_url": "https://www.acme-mail.com/hello"}); r.Code != 200 ||
		r.str("home_url") != "https://www.acme-mail.com/hello" {
		t.Fatalf("set: %d %s", r.Code, r.Raw)
	}
	for bad, why := range map[string]string{
		"ftp://x.example/":           "absolute http or https URL",
		"/relative":                  "absolute http or https URL",
		"https://user:pw@x.example/": "user name or password",
		"https://x.example/\x01":     "is not a URL",
		"https://x.example/" + strings.Repeat("a", 2048): "the limit is 2048",
	} {
		if r := e.do("PATCH", "/v1/tracking-domains/"+id, key, map[string]any{"home_url": bad}); r.Code != 422 || r.errCode() != "home_url_invalid" || !strings.Contains(r.Raw, why) {
			t.Errorf("home_url %.40q: %d %s", bad, r.Code, r.Raw)
		}
	}
	if r := e.do("PATCH", "/v1/tracking-domains/"+id, other, map[string]any{"home_url": "https://evil.example/"}); r.Code != 404 {
		t.Fatalf("another cluster: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/tracking-domains/"+id, key, map[string]any{"home_url": ""}); r.Code != 200 || r.str("home_url") != "" {
		t.Fatalf("clear: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/tracking-domains/"+id, key, map[string]any{"default": true}); r.Code != 400 {
		t.Fatalf("a field PATCH does not take: %d %s", r.Code, r.Raw)
	}
}

// TestTrackingDefaults: a cluster's tracking defaults show filled in, a
// sending domain's as inherit until set; both are changed with PATCH and
// checked, inherit being for sending domains only.
func TestTrackingDefaults(t *testing.T) {
	e := newEnv(t, "sqlite")
	acme, key := e.cluster("acme")
	if r := e.do("GET", "/v1/clusters/"+acme, key, nil); !strings.Contains(r.Raw, `"tracking": {
    "opens": "on",
    "clicks": "all"
  }`) {
		t.Fatalf("cluster defaults: %s", r.Raw)
	}
	if r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{"tracking": map[string]string{"clicks": "html"}}); r.Code != 200 ||
		!strings.Contains(r.Raw, `"clicks": "html"`) || !strings.Contains(r.Raw, `"opens": "on"`) {
		t.Fatalf("cluster clicks=html: %d %s", r.Code, r.Raw)
	}
	for _, bad := range []map[string]string{{"opens": "inherit"}, {"clicks": "some"}, {"opens": "no"}} {
		if r := e.do("PATCH", "/v1/clusters/"+acme, key, map[string]any{"tracking": bad}); r.Code != 422 || r.errCode() != "tracking_invalid" {
			t.Errorf("cluster %v: %d %s", bad, r.Code, r.Raw)
		}
	}
	r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "acme-mail.com"})
	if r.Code != 201 || !strings.Contains(r.Raw, `"opens": "inherit"`) {
		t.Fatalf("sending domain: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/sending-domains/acme-mail.com", key, map[string]any{"tracking": map[string]string{"opens": "off"}}); r.Code != 200 ||
		!strings.Contains(r.Raw, `"opens": "off"`) || !strings.Contains(r.Raw, `"clicks": "inherit"`) {
		t.Fatalf("domain opens=off: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/sending-domains/acme-mail.com", key, map[string]any{"tracking": map[string]string{"opens": "inherit", "clicks": "bogus"}}); r.Code != 422 ||
		!strings.Contains(r.Raw, `"field": "tracking.clicks"`) {
		t.Fatalf("domain bad clicks: %d %s", r.Code, r.Raw)
	}
	if r := e.do("PATCH", "/v1/sending-domains/acme-mail.com", key, map[string]any{"tracking": map[string]string{"opens": "inherit"}}); r.Code != 200 ||
		!strings.Contains(r.Raw, `"opens": "inherit"`) {
		t.Fatalf("domain back to inherit: %d %s", r.Code, r.Raw)
	}
}

// TestDMARCPolicy: a sending domain's DMARC policy is set, shown with the
// record served, checked tag by tag, and reset with null.
func TestDMARCPolicy(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	if r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "acme-mail.com"}); r.Code != 201 ||
		r.str("dmarc_record") != "v=DMARC1; p=none; adkim=r; aspf=r" {
		t.Fatalf("default: %d %s", r.Code, r.Raw)
	}
	r := e.do("PATCH", "/v1/sending-domains/acme-mail.com", key, map[string]any{"dmarc": map[string]any{"p": "reject", "pct": 50, "rua": []string{"dmarc@acme-mail.com"}}})
	if r.Code != 200 || r.str("dmarc_record") != "v=DMARC1; p=reject; pct=50; rua=mailto:dmarc@acme-mail.com" {
		t.Fatalf("set: %d %s", r.Code, r.Raw)
	}
	for field, bad := range map[string]map[string]any{
		"dmarc.p":   {"p": "drop"},
		"dmarc.pct": {"p": "none", "pct": 101},
		"dmarc.rua": {"rua": []string{"https://x.example/"}},
		"dmarc":     {"policy": "reject"},
	} {
		if r := e.do("PATCH", "/v1/sending-domains/acme-mail.com", key, map[string]any{"dmarc": bad}); r.Code != 422 || r.errCode() != "dmarc_invalid" ||
			!strings.Contains(r.Raw, `"field": "`+field+`"`) {
			t.Errorf("%v: %d %s", bad, r.Code, r.Raw)
		}
	}
	if r := e.do("GET", "/v1/sending-domains/acme-mail.com", key, nil); !strings.Contains(r.Raw, "p=reject; pct=50") {
		t.Fatalf("a refused change changed it: %s", r.Raw)
	}
	if r := e.do("PATCH", "/v1/sending-domains/acme-mail.com", key, map[string]any{"dmarc": nil}); r.Code != 200 ||
		r.str("dmarc_record") != "v=DMARC1; p=none; adkim=r; aspf=r" {
		t.Fatalf("reset: %d %s", r.Code, r.Raw)
	}
}

// TestBlockedDomainsAPI: the admin blocks a registrable domain (a host is
// stored as its registrable domain), not a public suffix; a cluster key
// may not; unblocking twice is a 404.
func TestBlockedDomainsAPI(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	if r := e.do("POST", "/v1/blocked-domains", e.admin, map[string]any{"domain": "Login.Phish.example", "reason": "reported"}); r.Code != 201 ||
		r.str("domain") != "phish.example" || r.Header.Get("Location") != "/v1/blocked-domains/phish.example" {
		t.Fatalf("block: %d %s", r.Code, r.Raw)
	}
	for _, tc := range []struct {
		key, domain string
		code        int
		errCode     string
	}{
		{e.admin, "phish.example", 409, "duplicate"},
		{e.admin, "co.uk", 422, "domain_invalid"},
		{e.admin, "not a domain", 422, "domain_invalid"},
		{key, "other.example", 403, "forbidden"},
	} {
		if r := e.do("POST", "/v1/blocked-domains", tc.key, map[string]any{"domain": tc.domain}); r.Code != tc.code || r.errCode() != tc.errCode {
			t.Errorf("%s: %d %s", tc.domain, r.Code, r.Raw)
		}
	}
	if r := e.do("GET", "/v1/blocked-domains", e.admin, nil); r.Code != 200 || len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("list: %s", r.Raw)
	}
	if r := e.do("DELETE", "/v1/blocked-domains/phish.example", e.admin, nil); r.Code != 204 {
		t.Fatalf("unblock: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/blocked-domains/phish.example", e.admin, nil); r.Code != 404 {
		t.Fatalf("unblock twice: %d %s", r.Code, r.Raw)
	}
}

func TestSuppressionsAPI(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, key := e.cluster("acme")
	_, other := e.cluster("rival")
	if r := e.do("POST", "/v1/suppressions", key, map[string]any{"address": "Ann <Ann@Example.com>"}); r.Code != 201 ||
		r.str("address") != "ann@example.com" || r.str("reason") != "manual" || r.str("source") != "api" {
		t.Fatalf("add: %d %s", r.Code, r.Raw)
	}
	for _, tc := range []struct {
		body    any
		code    int
		errCode string
	}{
		{map[string]any{"address": "ann@example.com"}, 409, "duplicate"},
		{map[string]any{"address": "not an address"}, 422, "address_invalid"},
		{map[string]any{"address": ""}, 422, "address_invalid"},
		{"{", 400, "invalid_json"},
	} {
		if r := e.do("POST", "/v1/suppressions", key, tc.body); r.Code != tc.code || r.errCode() != tc.errCode {
			t.Errorf("%v: %d %s", tc.body, r.Code, r.Raw)
		}
	}
	// An IDN domain is kept in its ASCII form, as the relay reads a RCPT.
	if r := e.do("POST", "/v1/suppressions", key, map[string]any{"address": "Zoe@Bücher.example"}); r.Code != 201 || r.str("address") != "zoe@xn--bcher-kva.example" {
		t.Fatalf("IDN address: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/suppressions/zoe@bücher.example", key, nil); r.Code != 204 {
		t.Fatalf("delete by the Unicode form: %d %s", r.Code, r.Raw)
	}
	csv := "\uFEFFemail,name\r\nbob@example.com,Bob\r\nANN@example.com,Ann again\nnonsense,x\n\ncarol@example.org\n\"dave@example.org\",\"quoted\"\nBob@example.com,twice\n"
	r := e.do("POST", "/v1/suppressions", key, csv, "Content-Type", "text/csv; charset=utf-8")
	if r.Code != 200 || r.Body["added"] != 3.0 || r.Body["already"] != 2.0 {
		t.Fatalf("import: %d %s", r.Code, r.Raw)
	}
	if inv := r.Body["invalid"].([]any); len(inv) != 1 || inv[0].(map[string]any)["line"] != 4.0 {
		t.Fatalf("import invalid: %s", r.Raw)
	}
	if r := e.do("POST", "/v1/suppressions", key, "a@example.com\n\"broken,\n", "Content-Type", "text/csv"); r.Code != 400 || r.errCode() != "invalid_csv" ||
		!strings.Contains(r.Raw, "the 1 addresses before it were imported") {
		t.Fatalf("broken csv: %d %s", r.Code, r.Raw)
	}
	// The bound counts addresses, not the header or blank lines.
	importLimit = 3
	defer func() { importLimit = MaxImport }()
	if r := e.do("POST", "/v1/suppressions", other, "address\nx1@example.org\n\nx2@example.org\nx3@example.org\n", "Content-Type", "text/csv"); r.Code != 200 || r.Body["added"] != 3.0 {
		t.Fatalf("a header and the bound's worth: %d %s", r.Code, r.Raw)
	}
	if r := e.do("POST", "/v1/suppressions", other, "y1@example.org\ny2@example.org\ny3@example.org\ny4@example.org\n", "Content-Type", "text/csv"); r.Code != 400 ||
		!strings.Contains(r.Raw, "more than 3 addresses") || !strings.Contains(r.Raw, "before line 4") {
		t.Fatalf("past the bound: %d %s", r.Code, r.Raw)
	}
	importLimit = MaxImport
	for _, a := range []string{"x1@example.org", "x2@example.org", "x3@example.org", "y1@example.org", "y2@example.org", "y3@example.org"} {
		if r := e.do("DELETE", "/v1/suppressions/"+a, other, nil); r.Code != 204 {
			t.Fatalf("delete %s: %d %s", a, r.Code, r.Raw)
		}
	}

	list := func(key, query string) (addrs []string, next string) {
		t.Helper()
		r := e.do("GET", "/v1/suppressions"+query, key, nil)
		if r.Code != 200 {
			t.Fatalf("list %s: %d %s", query, r.Code, r.Raw)
		}
		for _, it := range r.Body["items"].([]any) {
			addrs = append(addrs, it.(map[string]any)["address"].(string))
		}
		return addrs, r.str("next_cursor")
	}
	// a@example.com from the broken import's first line was added before
	// the broken line: the error says so.
	all, _ := list(key, "")
	if want := []string{"a@example.com", "ann@example.com", "bob@example.com", "carol@example.org", "dave@example.org"}; !slices.Equal(all, want) {
		t.Fatalf("list = %v, want %v", all, want)
	}
	if got, _ := list(key, "?prefix=ca"); !slices.Equal(got, []string{"carol@example.org"}) {
		t.Errorf("prefix ca = %v", got)
	}
	page, next := list(key, "?limit=2")
	if !slices.Equal(page, all[:2]) || next != all[1] {
		t.Errorf("page 1 = %v next %q", page, next)
	}
	if page, _ := list(key, "?limit=2&cursor="+url.QueryEscape(next)); !slices.Equal(page, all[2:4]) {
		t.Errorf("page 2 = %v", page)
	}
	if got, _ := list(key, "?reason=manual&prefix=bob"); len(got) != 1 {
		t.Errorf("reason manual = %v", got)
	}
	if got, _ := list(key, "?reason=hard_bounce"); len(got) != 0 {
		t.Errorf("reason hard_bounce = %v", got)
	}
	for _, q := range []string{"?reason=bounce", "?limit=0", "?limit=x"} {
		if r := e.do("GET", "/v1/suppressions"+q, key, nil); r.Code != 400 || r.errCode() != "invalid_query" {
			t.Errorf("%s: %d %s", q, r.Code, r.Raw)
		}
	}

	// Another cluster sees nothing of it, and cannot delete it.
	if got, _ := list(other, ""); len(got) != 0 {
		t.Fatalf("other cluster sees %v", got)
	}
	if r := e.do("DELETE", "/v1/suppressions/bob@example.com", other, nil); r.Code != 404 {
		t.Fatalf("other cluster deletes: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/suppressions/Bob@Example.com", key, nil); r.Code != 204 {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/suppressions/bob@example.com", key, nil); r.Code != 404 || r.errCode() != "not_found" {
		t.Fatalf("delete twice: %d %s", r.Code, r.Raw)
	}
	if got, _ := list(key, "?prefix=bob"); len(got) != 0 {
		t.Fatalf("deleted still listed: %v", got)
	}
}

func TestKeysAPI(t *testing.T) {
	e := newEnv(t, "sqlite")
	id, first := e.cluster("acme")
	_, other := e.cluster("rival")
	r := e.do("POST", "/v1/keys", first, map[string]any{"label": " billing service "})
	second := r.str("key")
	if r.Code != 201 || r.str("label") != "billing service" || !strings.HasPrefix(second, "wmk_") || r.Header.Get("Location") != "/v1/keys/"+r.str("id") {
		t.Fatalf("create: %d %s", r.Code, r.Raw)
	}
	secondID := r.str("id")
	for _, body := range []any{map[string]any{"label": strings.Repeat("x", 101)}, map[string]any{"label": "a\nb"}} {
		if r := e.do("POST", "/v1/keys", first, body); r.Code != 422 || r.errCode() != "label_invalid" {
			t.Errorf("%v: %d %s", body, r.Code, r.Raw)
		}
	}
	if r := e.do("GET", "/v1/keys/"+r.str("id"), first, nil); r.Code != 200 || r.str("label") != "billing service" || strings.Contains(r.Raw, "wmk_") {
		t.Fatalf("get: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/keys/"+r.str("id"), other, nil); r.Code != 404 {
		t.Fatalf("get from another cluster: %d %s", r.Code, r.Raw)
	}
	if r := e.do("POST", "/v1/keys", first, map[string]any{"label": "admin\u202egnp.exe"}); r.Code != 422 || r.errCode() != "label_invalid" {
		t.Fatalf("a direction override in a label: %d %s", r.Code, r.Raw)
	}
	// The new key works everywhere the first does; the list marks the
	// caller's own and never shows a key.
	r = e.do("GET", "/v1/keys", second, nil)
	items := r.Body["items"].([]any)
	if r.Code != 200 || len(items) != 2 || strings.Contains(r.Raw, "wmk_") {
		t.Fatalf("list: %d %s", r.Code, r.Raw)
	}
	if a, b := items[0].(map[string]any), items[1].(map[string]any); a["label"] != "created with the cluster" || a["current"] != false || b["current"] != true {
		t.Fatalf("list: %s", r.Raw)
	}
	// Another cluster sees none of them and cannot revoke them; the admin
	// can, inside the cluster.
	if r := e.do("GET", "/v1/keys", other, nil); len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("other cluster's list: %s", r.Raw)
	}
	if r := e.do("DELETE", "/v1/keys/"+secondID, other, nil); r.Code != 404 {
		t.Fatalf("other cluster revokes: %d %s", r.Code, r.Raw)
	}
	sess := e.do("POST", "/v1/sessions", second, nil)
	if sess.Code != 201 {
		t.Fatalf("session: %d %s", sess.Code, sess.Raw)
	}
	if r := e.do("DELETE", "/v1/keys/"+secondID, e.admin, nil, "X-Waymark-Cluster", id); r.Code != 204 {
		t.Fatalf("revoke: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/tracking-domains", second, nil); r.Code != 401 {
		t.Fatalf("a revoked key: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/sessions/"+sess.str("id"), first, nil); r.Code != 404 {
		t.Fatalf("a revoked key's session: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/keys/"+secondID, first, nil); r.Code != 404 {
		t.Fatalf("revoked twice: %d %s", r.Code, r.Raw)
	}
	// At most MaxKeys.
	for i := 1; i < MaxKeys; i++ {
		if r := e.do("POST", "/v1/keys", first, map[string]any{}); r.Code != 201 {
			t.Fatalf("key %d: %d %s", i+1, r.Code, r.Raw)
		}
	}
	if r := e.do("POST", "/v1/keys", first, map[string]any{}); r.Code != 403 || r.errCode() != "quota_exceeded" {
		t.Fatalf("key %d: %d %s", MaxKeys+1, r.Code, r.Raw)
	}
}

func TestDeleteCluster(t *testing.T) {
	e := newEnv(t, "sqlite")
	id, key := e.cluster("acme")
	// A name shaped like an id would make --cluster and the CLI ambiguous.
	for _, name := range []string{id, "cl_0000000000000000", "bad\u200bname"} {
		if r := e.do("POST", "/v1/clusters", e.admin, map[string]any{"name": name}); r.Code != 422 || r.errCode() != "cluster_name_invalid" {
			t.Errorf("name %q: %d %s", name, r.Code, r.Raw)
		}
	}
	_, other := e.cluster("rival")
	e.domainID(key, "track.acme-mail.com")
	if r := e.do("DELETE", "/v1/clusters/"+id, key, nil); r.Code != 403 {
		t.Fatalf("a cluster key deletes its cluster: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/clusters/"+id, e.admin, nil); r.Code != 204 {
		t.Fatalf("delete: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/tracking-domains", key, nil); r.Code != 401 {
		t.Fatalf("the deleted cluster's key: %d %s", r.Code, r.Raw)
	}
	if r := e.do("GET", "/v1/clusters/"+id, e.admin, nil); r.Code != 404 {
		t.Fatalf("the deleted cluster: %d %s", r.Code, r.Raw)
	}
	if r := e.do("DELETE", "/v1/clusters/"+id, e.admin, nil); r.Code != 404 || r.errCode() != "not_found" {
		t.Fatalf("deleted twice: %d %s", r.Code, r.Raw)
	}
	// The name is free again, and the other cluster is untouched.
	e.cluster("acme")
	if r := e.do("GET", "/v1/tracking-domains", other, nil); r.Code != 200 {
		t.Fatalf("the other cluster: %d %s", r.Code, r.Raw)
	}
	e.domainID(other, "track.acme-mail.com")
}

// TestStatsAPI: GET /v1/stats by hour (every bucket, the empty ones too),
// by day, by link; bad parameters are 400 with the field; a cluster sees
// its own counts only.
func TestStatsAPI(t *testing.T) {
	e := newEnv(t, "sqlite")
	idA, keyA := e.cluster("acme")
	_, keyB := e.cluster("bravo")
	h0 := time.Date(2027, 3, 4, 10, 0, 0, 0, time.UTC)
	var evs []store.Event
	for i, tc := range []struct {
		typ   event.Type
		class event.Class
		at    time.Duration
		url   string
	}{{event.Open, event.Human, time.Minute, ""}, {event.Open, event.Proxy, 2 * time.Minute, ""}, {event.Click, event.Human, 3 * time.Minute, "https://s/a"},
		{event.Click, event.Bot, 2*time.Hour + time.Minute, "https://s/b"}, {event.Bounce, event.Hard, 2 * time.Hour, ""}} {
		evs = append(evs, store.Event{ID: fmt.Sprint(i), ClusterID: idA, Type: tc.typ, Class: tc.class, At: h0.Add(tc.at), MessageID: "msg_1",
			Recipient: "ann@example.com", URL: tc.url, Host: "t.example"})
	}
	// msg_1 was queued signed for Example.COM (B has no such message).
	if err := e.store.EnqueueMail(context.Background(), []store.Mail{{ID: "q1", ClusterID: idA, MessageID: "msg_1", Rcpt: "ann@example.com",
		ServerURL: "smtp://127.0.0.1:1", Status: store.MailSent, NextAt: h0, CreatedAt: h0, SendingDomain: "Example.COM"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.InsertEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	var out struct{ Items []StatsItem }
	get := func(key, query string) int {
		r := e.do("GET", "/v1/stats?"+query, key, nil)
		out.Items = nil
		if r.Code == 200 {
			if err := json.Unmarshal([]byte(r.Raw), &out); err != nil {
				t.Fatal(err)
			}
		}
		return r.Code
	}
	if code := get(keyA, "from=2027-03-04T10:00:00Z&to=2027-03-04T13:00:00Z"); code != 200 || len(out.Items) != 3 {
		t.Fatalf("by hour: %d %+v", code, out.Items)
	}
	first, empty, third := out.Items[0], out.Items[1], out.Items[2]
	if first.Opens != 2 || first.UniqueOpens != 1 || first.ByClass["proxy"].Opens != 1 || first.Clicks != 1 || !first.Start.Equal(h0) || !first.End.Equal(h0.Add(time.Hour)) ||
		empty.Opens != 0 || empty.Clicks != 0 || third.Clicks != 1 || third.ByClass["bot"].Clicks != 1 || third.Bounces.Hard != 1 {
		t.Fatalf("by hour: %+v", out.Items)
	}
	if code := get(keyA, "from=2027-03-04T10:30:00Z&to=2027-03-04T12:10:00Z&interval=day"); code != 200 || len(out.Items) != 1 ||
		out.Items[0].Opens != 2 || out.Items[0].Clicks != 2 || !out.Items[0].Start.Equal(time.Date(2027, 3, 4, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("by day: %+v", out.Items)
	}
	if code := get(keyA, "from=2027-03-04T00:00:00Z&to=2027-03-05T00:00:00Z&interval=day&group_by=link"); code != 200 || len(out.Items) != 2 ||
		*out.Items[0].Group != "https://s/a" || *out.Items[1].Group != "https://s/b" || out.Items[0].UniqueClicks != 1 {
		t.Fatalf("by link: %+v", out.Items)
	}
	if code := get(keyA, "from=2027-03-04T00:00:00Z&to=2027-03-05T00:00:00Z&interval=day&group_by=sending_domain"); code != 200 || len(out.Items) != 1 ||
		*out.Items[0].Group != "example.com" || out.Items[0].Opens != 2 || out.Items[0].Clicks != 2 || out.Items[0].Bounces.Hard != 1 {
		t.Fatalf("by sending domain: %+v", out.Items)
	}
	if code := get(keyB, "interval=day&group_by=sending_domain"); code != 200 || len(out.Items) != 0 {
		t.Fatalf("B sees A's sending domain: %+v", out.Items)
	}
	if code := get(keyB, "from=2027-03-04T10:00:00Z&to=2027-03-04T13:00:00Z"); code != 200 || len(out.Items) != 3 || out.Items[0].Opens != 0 {
		t.Fatalf("B sees A's counts: %+v", out.Items)
	}
	// The OpenAPI document offers every group_by the API takes.
	var doc struct {
		Paths map[string]struct {
			Get struct {
				Parameters []struct {
					Name   string
					Schema struct{ Enum []string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(e.do("GET", "/v1/openapi.json", "", nil).Raw), &doc); err != nil {
		t.Fatal(err)
	}
	var enum []string
	for _, p := range doc.Paths["/v1/stats"].Get.Parameters {
		if p.Name == "group_by" {
			enum = p.Schema.Enum
		}
	}
	for _, d := range stats.Dims {
		if !slices.Contains(enum, string(d)) {
			t.Errorf("openapi.json's group_by %v lacks %q", enum, d)
		}
	}
	for q, field := range map[string]string{
		"interval=week": "interval", "group_by=country": "group_by", "group_by=sending_domains": "group_by", "from=yesterday": "from",
		"from=2027-03-05T00:00:00Z&to=2027-03-04T00:00:00Z": "from", "from=2020-01-01T00:00:00Z&to=2027-01-01T00:00:00Z": "from",
	} {
		r := e.do("GET", "/v1/stats?"+q, keyA, nil)
		if errObj, _ := r.Body["error"].(map[string]any); r.Code != 400 || r.errCode() != "invalid_query" || errObj["field"] != field {
			t.Errorf("%s: %d %s", q, r.Code, r.Raw)
		}
	}
}
