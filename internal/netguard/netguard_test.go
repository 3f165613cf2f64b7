package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

func TestPublic(t *testing.T) {
	for ip, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1::1": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.100.100.200": false, "0.1.2.3": false, "0.0.0.0": false, "198.18.0.1": false, "240.0.0.1": false,
		"255.255.255.255": false, "::1": false, "::": false, "::ffff:127.0.0.1": false, "64:ff9b::a9fe:a9fe": false,
		"2002:7f00:1::": false, "::127.0.0.1": false, "fec0::1": false, "fe80::1": false, "::ffff:0:127.0.0.1": false, "fd00::1": false, "ff02::1": false,
	} {
		if got := Public(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Public(%s) = %v, want %v", ip, got, want)
		}
	}
}

func TestControl(t *testing.T) {
	for addr, ok := range map[string]bool{"93.184.216.34:443": true, "127.0.0.1:25": false, "[::1]:80": false, "[fd00::1]:25": false} {
		err := Control("tcp", addr, nil)
		if ok != (err == nil) || (!ok && !errors.Is(err, ErrPrivate)) {
			t.Errorf("Control(%s) = %v", addr, err)
		}
	}
	if err := Control("tcp", "not an address", nil); err == nil {
		t.Error("an unparsable address passed")
	}
}

func TestPrivateError(t *testing.T) {
	err := Control("tcp", "127.0.0.1:25", nil)
	var pe *PrivateError
	if !errors.As(err, &pe) || pe.Addr != netip.MustParseAddr("127.0.0.1") || err.Error() != "address is not public: 127.0.0.1" {
		t.Fatalf("Control: %v", err)
	}
}
