package main

import (
	"strings"
	"testing"
)

func TestParseRoles(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"api,edge,dns,relay,monitor", "api edge dns relay monitor", ""},
		{" api , api,dns", "api dns", ""},
		{"api,web", "", `unknown role "web"`},
		{",", "", "name at least one"},
	} {
		got, err := parseRoles(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%q: %v %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@db:5432/w":        "postgres://u:xxxxx@db:5432/w",
		"postgres://u@db/w":                    "postgres://u@db/w",
		"postgres://db/w?sslmode=disable":      "postgres://db/w?sslmode=disable",
		"postgres://u@db/w?password=topsecret": "postgres://u@db/w?password=xxxxx",
		"postgres://u:a@b@db/w?password=x&a=b": "postgres://u:xxxxx@db/w?a=b&password=xxxxx",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFirstNameserver(t *testing.T) {
	for in, want := range map[string]string{
		"# c\nsearch x\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n": "10.0.0.2:53",
		"nameserver fe80::1%eth0\n":                                 "[fe80::1%eth0]:53",
		"nameserver 2001:db8::53\n":                                 "[2001:db8::53]:53",
		"options ndots:5\n":                                         "127.0.0.1:53",
		"nameserver not-an-ip\n":                                    "127.0.0.1:53",
	} {
		if got := firstNameserver(strings.NewReader(in)); got != want {
			t.Errorf("firstNameserver(%q) = %q, want %q", in, got, want)
		}
	}
}
