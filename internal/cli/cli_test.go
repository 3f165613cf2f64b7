package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
	out, _, code := run("add", "track.example.com", "--default", "--cluster", "cl_1")
	if code != 0 || !strings.Contains(out, "track.example.com  CNAME  v-1.track.wm") || !strings.Contains(out, "DEFAULT        yes") {
		t.Fatalf("add: %d\n%s", code, out)
	}
	if got[0] != `POST /v1/tracking-domains Bearer wma_k cl_1 {"default":true,"name":"track.example.com"}` {
		t.Fatalf("request: %q", got[0])
	}
	_, errOut, code := run("show", "nope.example.com")
	if code != 1 || !strings.Contains(errOut, `not found in this cluster [not_found]`) {
		t.Fatalf("show missing: %d %q", code, errOut)
	}
	if out, _, code := run("delete", "track.example.com"); code != 0 || !strings.Contains(out, "deleted track.example.com") {
		t.Fatalf("delete: %d %q", code, out)
	}
	if _, errOut, code := run("frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("unknown: %d %q", code, errOut)
	}
	if _, errOut, code := run("show"); code != 2 || !strings.Contains(errOut, "usage: waymark tracking-domain show NAME|ID") {
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
		{&store.Check{At: at, OK: true, Code: "ok"}, "2026-12-01 10:00:00 ok"},
		{&store.Check{At: at, Code: "no_record", Diagnosis: "no CNAME"}, "2026-12-01 10:00:00 failed: no CNAME"},
		{&store.Check{At: at, Code: "transient", Diagnosis: "the resolver timed out"}, "2026-12-01 10:00:00 not counted: the resolver timed out"},
	} {
		if got := lastCheck(api.TrackingDomain{LastCheck: tc.check}); got != tc.want {
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
		if code != 2 || !strings.Contains(errOut.String(), "nothing to set") || !strings.Contains(errOut.String(), "usage: waymark "+group+" set") ||
			strings.Contains(errOut.String(), "%!") {
			t.Errorf("%s set: exit %d\n%s", group, code, errOut.String())
		}
	}
}
