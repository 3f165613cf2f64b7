package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/store"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		wantPos []string
		want    string // api|json|ips
		wantErr string
	}{
		{args: []string{"add", "x.example.com", "--json"}, wantPos: []string{"add", "x.example.com"}, want: "|true|"},
		{args: []string{"--api", "http://a", "show", "x"}, env: map[string]string{"WAYMARK_API": "http://env"}, wantPos: []string{"show", "x"}, want: "http://a|false|"},
		{args: []string{"show"}, env: map[string]string{"WAYMARK_API": "http://env", "WAYMARK_JSON": "1"}, wantPos: []string{"show"}, want: "http://env|true|"},
		{args: []string{"--edge-ip", "192.0.2.1", "--edge-ip", "2001:db8::1"}, want: "|false|192.0.2.1,2001:db8::1"},
		{args: nil, env: map[string]string{"WAYMARK_EDGE_IP": "192.0.2.1, 192.0.2.2"}, want: "|false|192.0.2.1,192.0.2.2"},
		{args: []string{"a", "--", "--json"}, wantPos: []string{"a", "--json"}, want: "|false|"},
		{args: []string{"--", "x@example.org", "--json"}, wantPos: []string{"x@example.org", "--json"}, want: "|false|"},
		{args: []string{"--json", "--", "--", "x"}, wantPos: []string{"--", "x"}, want: "|true|"},
		{args: nil, env: map[string]string{"WAYMARK_JSON": "maybe"}, wantErr: "WAYMARK_JSON"},
		{args: []string{"--nope"}, wantErr: "flag provided but not defined"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var api string
		var js bool
		var ips List
		fs.StringVar(&api, "api", "", "")
		fs.BoolVar(&js, "json", false, "")
		fs.Var(&ips, "edge-ip", "")
		pos, err := Parse(fs, tc.args, func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		got := fmt.Sprintf("%s|%v|%s", api, js, ips.String())
		if err != nil || got != tc.want || fmt.Sprint(pos) != fmt.Sprint(tc.wantPos) {
			t.Errorf("%v: got %q %v %v; want %q %v", tc.args, got, pos, err, tc.want, tc.wantPos)
		}
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("bounce-smtp"); got != "WAYMARK_BOUNCE_SMTP" {
		t.Fatal(got)
	}
}

// TestRunAgainstAPI checks what the commands send and print, and that an
// API error becomes exit code 1 with the API's message.
func TestRunAgainstAPI(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("%s %s: reading the request body: %v", r.Method, r.URL.Path, err)
		}
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Waymark-Cluster")+" "+string(body))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/tracking-domains/nope.example.com":
			w.WriteHeader(404)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "not_found", "message": "tracking domain \"nope.example.com\" not found in this cluster"}})
		case r.Method == "DELETE" && !strings.HasSuffix(r.URL.Path, "/default"):
			w.WriteHeader(204)
		default:
			fmt.Fprint(w, `{"id":"td_1","name":"track.example.com","status":"active","default":true,"cname":{"name":"track.example.com","type":"CNAME","value":"v-1.track.wm"},"tls":{"status":"none"},"created_at":"2026-01-02T03:04:05Z"}`)
		}
	}))
	defer srv.Close()
	run := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := Run("tracking-domain", args, Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string {
			return map[string]string{"WAYMARK_API": srv.URL, "WAYMARK_KEY": "wma_k"}[k]
		}})
		return out.String(), errOut.String(), code
	}
	out, _, code := run("add", "track.example.com", "--default", "--cluster", "cl_0123456789abcdef")
	if code != 0 || !strings.Contains(out, "track.example.com  CNAME  v-1.track.wm") || !strings.Contains(out, "DEFAULT        yes") {
		t.Fatalf("add: %d\n%s", code, out)
	}
	if got[0] != `POST /v1/tracking-domains Bearer wma_k cl_0123456789abcdef {"default":true,"name":"track.example.com"}` {
		t.Fatalf("request: %q", got[0])
	}
	_, errOut, code := run("show", "nope.example.com")
	if code != 1 || !strings.Contains(errOut, `not found in this cluster [not_found]`) {
		t.Fatalf("show missing: %d %q", code, errOut)
	}
	// Under --json the error is JSON too, in the API's shape.
	_, errOut, code = run("show", "nope.example.com", "--json")
	var shape struct {
		Error struct{ Code, Message, Field string }
	}
	if code != 1 || json.Unmarshal([]byte(errOut), &shape) != nil || shape.Error.Code != "not_found" || !strings.Contains(shape.Error.Message, "nope.example.com") {
		t.Fatalf("show missing, --json: %d %q", code, errOut)
	}
	if out, _, code := run("delete", "track.example.com"); code != 0 || !strings.Contains(out, "deleted track.example.com") {
		t.Fatalf("delete: %d %q", code, out)
	}
	if _, errOut, code := run("frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown: %d %q", code, errOut)
	}
	if _, errOut, code := run("show"); code != 2 || errOut != "waymark tracking-domain show: takes NAME|ID, got none; see waymark tracking-domain show --help\n" {
		t.Fatalf("missing arg: %d %q", code, errOut)
	}
}

// TestLastCheck: a transient result is shown as not counted, not failed.
func TestLastCheck(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		check *store.Check
		want  string
	}{
		{nil, "never"},
		{&store.Check{At: at, OK: true, Code: "ok"}, "2026-12-01 10:00 UTC ok"},
		{&store.Check{At: at, Code: "no_record", Diagnosis: "no CNAME"}, "2026-12-01 10:00 UTC failed: no CNAME"},
		{&store.Check{At: at, Code: "transient", Diagnosis: "the resolver timed out"}, "2026-12-01 10:00 UTC not counted: the resolver timed out"},
	} {
		if got := lastCheck(api.TrackingDomain{LastCheck: tc.check}, 0); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.check, got, tc.want)
		}
	}
}

// TestSetWithNothingToSet: a set command without a flag is a usage
// mistake (exit 2, with the usage), not an API error.
func TestSetWithNothingToSet(t *testing.T) {
	for _, group := range []string{"cluster", "tracking-domain", "sending-domain"} {
		var out, errOut bytes.Buffer
		code := Run(group, []string{"set", "x"}, Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string {
			return map[string]string{"WAYMARK_API": "http://127.0.0.1:9", "WAYMARK_KEY": "wmk_k"}[k]
		}})
		if code != 2 || !strings.Contains(errOut.String(), "nothing to set") || !strings.Contains(errOut.String(), "see waymark "+group+" set --help") ||
			strings.Contains(errOut.String(), "%!") {
			t.Errorf("%s set: exit %d\n%s", group, code, errOut.String())
		}
	}
}

// TestEveryCommandHelp: each command's --help goes to stdout with exit 0,
// in one style: the usage line with its arguments, double-dash flags, the
// global flags, and examples where the command has flags.
func TestEveryCommandHelp(t *testing.T) {
	for _, g := range groups {
		var out, errOut bytes.Buffer
		if code := Main([]string{g.name, "--help"}, Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}); code != 0 ||
			!strings.HasPrefix(out.String(), "usage: waymark "+g.name+" <command>") || errOut.Len() > 0 {
			t.Errorf("%s --help: exit %d\n%s%s", g.name, code, out.String(), errOut.String())
		}
		for _, name := range g.order {
			cmd := g.cmds[name]
			if cmd.run == nil || cmd.help == "" {
				t.Errorf("%s %s has no run or help", g.name, name)
			}
			for _, help := range []string{"--help", "-h"} {
				var out, errOut bytes.Buffer
				code := Main([]string{g.name, name, help}, Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
				text := out.String()
				if code != 0 || errOut.Len() > 0 || !strings.HasPrefix(text, "usage: waymark "+g.name+" "+name+" "+cmd.args) ||
					!strings.Contains(text, "--api URL") || !strings.Contains(text, "--cluster NAME|ID") {
					t.Errorf("%s %s %s: exit %d\n%s%s", g.name, name, help, code, text, errOut.String())
				}
				if cmd.flags != nil && !strings.Contains(text, "examples:\n  waymark "+g.name) {
					t.Errorf("%s %s has flags but no examples:\n%s", g.name, name, text)
				}
				if regexp.MustCompile(`(?m)^\s+-[a-z]`).MatchString(text) {
					t.Errorf("%s %s: a single-dash flag in the help:\n%s", g.name, name, text)
				}
			}
		}
	}
}

// TestGlobalFlagsAnywhere: --api, --key, --json and --cluster work before
// the group, between the group and the command, and after it; --cluster
// takes a name; a bad flag is one line with the hint.
func TestGlobalFlagsAnywhere(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+r.Header.Get("X-Waymark-Cluster"))
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/clusters":
			fmt.Fprint(w, `{"items":[{"id":"cl_0123456789abcdef","name":"acme"},{"id":"cl_fedcba9876543210","name":"bravo"}]}`)
		default:
			fmt.Fprint(w, `{"items":[]}`)
		}
	}))
	defer srv.Close()
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{
		{"--api", srv.URL, "--key", "wma_k", "--json", "--cluster", "bravo", "webhook", "list"},
		{"webhook", "--api=" + srv.URL, "--key", "wma_k", "--cluster=bravo", "list", "--json"},
		{"webhook", "list", "--json", "--api", srv.URL, "--cluster", "cl_fedcba9876543210", "--key", "wma_k"},
	} {
		got = nil
		var out, errOut bytes.Buffer
		code := Main(args, Env{Stdout: &out, Stderr: &errOut, Getenv: noEnv})
		if code != 0 || strings.TrimSpace(out.String()) != `{"items":[]}` || got[len(got)-1] != "GET /v1/webhooks Bearer wma_k cl_fedcba9876543210" {
			t.Errorf("%v: exit %d %q %q %v", args, code, out.String(), errOut.String(), got)
		}
	}
	// A group's default command takes its flags without its name.
	got = nil
	var sout, serr bytes.Buffer
	if code := Main([]string{"stats", "--since", "7d", "--group-by", "link", "--api", srv.URL, "--key", "wma_k"}, Env{Stdout: &sout, Stderr: &serr, Getenv: noEnv}); code != 0 ||
		len(got) != 1 || !strings.HasPrefix(got[0], "GET /v1/stats") {
		t.Errorf("waymark stats --since 7d: exit %d %q %v", code, serr.String(), got)
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"webhook", "list", "--api", srv.URL, "--key", "wma_k", "--cluster", "nobody"}, Env{Stdout: &out, Stderr: &errOut, Getenv: noEnv}); code != 1 ||
		!strings.Contains(errOut.String(), "--cluster nobody: no cluster has this name or id") {
		t.Errorf("unknown cluster name: exit %d %q", code, errOut.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"webhook", "list", "--nope"}, "waymark webhook list: unknown flag --nope; see waymark webhook list --help\n"},
		{[]string{"key", "create", "--label"}, "waymark key create: a value is missing after --label; see waymark key create --help\n"},
		{[]string{"--label", "x", "key", "create"}, "waymark: --label: only --api, --key, --cluster and --json may come before the command, a command's own flags after it; see waymark --help\n"},
		{[]string{"frob"}, "waymark: unknown command \"frob\"; see waymark --help\n"},
		{[]string{"delivery-server", "add", "mta1", "--key", "k"}, "waymark delivery-server add: takes NAME URL, got 1: mta1; see waymark delivery-server add --help\n"},
		{[]string{"webhook", "list", "--key", "k", "--api", "127.0.0.1:8080"}, "waymark: API address \"127.0.0.1:8080\" is not an http(s) URL; set --api or WAYMARK_API, e.g. http://127.0.0.1:8080\n"},
		{[]string{"key", "frob"}, "waymark key: unknown command \"frob\" (one of create, list, revoke); see waymark key --help\n"},
		{[]string{"event", "list", "--limit", "0", "--key", "k"}, "waymark event list: --limit must be from 1 to 1000; see waymark event list --help\n"},
		{[]string{"webhook", "add", "https://h.example/w", "--max-batch", "0", "--key", "k"}, "waymark webhook add: --max-batch must be from 1 to 1000; see waymark webhook add --help\n"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(tc.args, Env{Stdout: &out, Stderr: &errOut, Getenv: noEnv}); code != 2 || errOut.String() != tc.want || out.Len() > 0 {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

func TestSinceTime(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{"24h": "2026-11-30T12:00:00Z", "2026-11-01T00:00:00Z": "2026-11-01T00:00:00Z", "90m": "2026-12-01T10:30:00Z"} {
		if got, err := sinceTime(in, now); err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("%s: %v %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-1h", "0s"} {
		if _, err := sinceTime(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDocsListEveryCommand: docs/API.md's CLI table has a row for every
// command, and no row for a command that does not exist.
func TestDocsListEveryCommand(t *testing.T) {
	raw, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	rows := regexp.MustCompile("(?m)^\\| `waymark ([a-z-]+) ([a-z-]+)").FindAllStringSubmatch(doc, -1)
	documented := map[string]bool{}
	for _, r := range rows {
		documented[r[1]+" "+r[2]] = true
		if g := findGroup(r[1]); g == nil || (g.cmds[r[2]].run == nil && g.dflt == "") {
			t.Errorf("docs/API.md lists waymark %s %s, which is not a command", r[1], r[2])
		}
	}
	for _, g := range groups {
		for _, name := range g.order {
			if !documented[g.name+" "+name] && !(name == g.dflt && strings.Contains(doc, "`waymark "+g.name+"` (`"+g.name+" "+name+"`)")) {
				t.Errorf("docs/API.md has no row for waymark %s %s", g.name, name)
			}
		}
	}
}

// TestEventListPages: a full page says how to ask for the next, and
// --cursor asks for it.
func TestEventListPages(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("cursor") == "" {
			fmt.Fprint(w, `{"items":[{"id":"e1","type":"click","at":"2026-12-01T10:00:00Z","recipient":"ann@example.com"}],"next_cursor":"c42"}`)
			return
		}
		fmt.Fprint(w, `{"items":[{"id":"e0","type":"open","at":"2026-12-01T09:00:00Z","recipient":"ann@example.com"}]}`)
	}))
	defer srv.Close()
	env := func(out, errOut *bytes.Buffer) Env {
		return Env{Stdout: out, Stderr: errOut, Getenv: func(string) string { return "" }}
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"event", "list", "--limit", "1", "--api", srv.URL, "--key", "k"}, env(&out, &errOut)); code != 0 ||
		!strings.Contains(out.String(), "more: add --cursor c42") {
		t.Fatalf("first page: exit %d %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := Main([]string{"event", "list", "--limit", "1", "--cursor", "c42", "--api", srv.URL, "--key", "k"}, env(&out, &errOut)); code != 0 ||
		strings.Contains(out.String(), "more:") || !strings.Contains(queries[1], "cursor=c42") {
		t.Fatalf("second page: exit %d %q %v", code, out.String(), queries)
	}
}
