package track

import (
	"errors"
	"testing"
)

func TestHost(t *testing.T) {
	active := map[string]bool{"hdr.example.com": true, "clicks.example.com": true, "ds.example.com": true, "default.example.com": true}
	isActive := func(n string) bool { return active[n] }
	for _, tc := range []struct {
		name string
		c    HostChoice
		want string
		err  bool
	}{
		{"header wins", HostChoice{Header: "HDR.example.com.", ClickHost: "clicks.example.com", Default: "default.example.com"}, "hdr.example.com", false},
		{"inactive header refused", HostChoice{Header: "pending.example.com", Default: "default.example.com"}, "", true},
		{"click host next", HostChoice{ClickHost: "clicks.example.com", DeliveryServer: "ds.example.com", Default: "default.example.com"}, "clicks.example.com", false},
		{"pending click host skipped", HostChoice{ClickHost: "pending.example.com", DeliveryServer: "ds.example.com"}, "ds.example.com", false},
		{"delivery server next", HostChoice{DeliveryServer: "ds.example.com", Default: "default.example.com"}, "ds.example.com", false},
		{"default next", HostChoice{Default: "default.example.com"}, "default.example.com", false},
		{"platform last", HostChoice{}, "t.waymark.localhost", false},
		{"only pending ones", HostChoice{ClickHost: "p1.example.com", DeliveryServer: "p2.example.com"}, "t.waymark.localhost", false},
		{"blank header ignored", HostChoice{Header: "  ", Default: "default.example.com"}, "default.example.com", false},
	} {
		tc.c.Platform, tc.c.Active = "waymark.localhost", isActive
		got, err := Host(tc.c)
		var he *HeaderError
		if got != tc.want || (err != nil) != tc.err || (tc.err && !errors.As(err, &he)) {
			t.Errorf("%s: %q %v; want %q err=%v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
