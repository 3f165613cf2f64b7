package realip

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClient(t *testing.T) {
	proxies, err := Parse([]string{"10.0.0.0/8, 192.0.2.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "198.51.100.9:4000", nil, "198.51.100.9"},
		{"untrusted peer's header is ignored", "198.51.100.9:4000", []string{"203.0.113.5"}, "198.51.100.9"},
		{"one proxy", "10.1.2.3:4000", []string{"203.0.113.5"}, "203.0.113.5"},
		{"the client cannot pick its address", "10.1.2.3:4000", []string{"1.2.3.4, 203.0.113.5"}, "203.0.113.5"},
		{"two proxies", "10.1.2.3:4000", []string{"203.0.113.5, 192.0.2.7"}, "203.0.113.5"},
		{"two headers", "10.1.2.3:4000", []string{"1.2.3.4, 203.0.113.5", "10.9.9.9"}, "203.0.113.5"},
		{"only proxies", "10.1.2.3:4000", []string{"10.9.9.9"}, "10.9.9.9"},
		{"no header", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"garbage stops the walk", "10.1.2.3:4000", []string{"203.0.113.5, nonsense"}, "10.1.2.3"},
		{"garbage after a proxy hop", "10.1.2.3:4000", []string{"nonsense, 10.9.9.9"}, "10.9.9.9"},
		{"IPv6 proxy, IPv4-mapped client", "[2001:db8::1]:4000", []string{"::ffff:203.0.113.5"}, "203.0.113.5"},
		{"mapped peer", "[::ffff:10.1.2.3]:4000", []string{"2001:db9::5"}, "2001:db9::5"},
		{"zone refused", "10.1.2.3:4000", []string{"fe80::1%eth0"}, "10.1.2.3"},
		{"spaces", "10.1.2.3:4000", []string{"  203.0.113.5 ,  "}, "10.1.2.3"},
		{"with a port", "10.1.2.3:4000", []string{"203.0.113.5:5555"}, "203.0.113.5"},
		{"IPv6 in brackets", "10.1.2.3:4000", []string{"[2001:db9::5]"}, "2001:db9::5"},
		{"IPv6 with a port", "10.1.2.3:4000", []string{"[2001:db9::5]:443"}, "2001:db9::5"},
		{"a proxy's hop with a port", "10.1.2.3:4000", []string{"203.0.113.5, 10.9.9.9:80"}, "203.0.113.5"},
		{"quoted", "10.1.2.3:4000", []string{`"203.0.113.5"`}, "10.1.2.3"},
		{"brackets around IPv4", "10.1.2.3:4000", []string{"[203.0.113.5]"}, "10.1.2.3"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := proxies.Client(r); got.String() != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	var none Proxies
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:4000"
	r.Header.Set("X-Forwarded-For", "203.0.113.5")
	if got := none.Client(r); got.String() != "10.1.2.3" {
		t.Errorf("no proxies trusted: %s", got)
	}
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"nope", "10.0.0.0/33", "fe80::1%eth0", "10.0.0.1:80", "::ffff:0:0/95", "::ffff:10.0.0.0/8"} {
		if _, err := Parse([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	p, err := Parse([]string{"::ffff:10.0.0.0/104", "10.1.2.3/8"})
	if err != nil || len(p) != 2 || p[0].String() != "10.0.0.0/8" || p[1].String() != "10.0.0.0/8" {
		t.Fatalf("%v %v", p, err)
	}
}

func TestHandler(t *testing.T) {
	proxies, _ := Parse([]string{"127.0.0.1"})
	var seen string
	var logged bytes.Buffer
	h := proxies.Handler(slog.New(slog.NewTextHandler(&logged, nil)), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.RemoteAddr }))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.5")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if seen != "203.0.113.5:0" || r.RemoteAddr != "127.0.0.1:5000" {
		t.Fatalf("handler saw %s (request now %s)", seen, r.RemoteAddr)
	}
	r.Header.Del("X-Forwarded-For")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if seen != "127.0.0.1:5000" {
		t.Fatalf("without the header: %s", seen)
	}
	for range 2 {
		r.Header.Set("X-Forwarded-For", "unknown")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := strings.Count(logged.String(), "not an address"); n != 1 || !strings.Contains(logged.String(), "entry=unknown") {
		t.Fatalf("log of an unreadable entry (%d lines):\n%s", n, logged.String())
	}
}
