package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Missing reports that an external part a test needs is absent: a failure
// under CI=true or WAYMARK_REQUIRE_PEERS=1, a skip elsewhere, with the
// install hint either way.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available (%v); run scripts/test-deps to install it", what, err)
	if os.Getenv("CI") == "true" || os.Getenv("WAYMARK_REQUIRE_PEERS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// stoppers run at the end of Main.
var stoppers []func()

// AtExit runs f when Main ends, after the tests, in reverse order of
// registration.
func AtExit(f func()) { stoppers = append(stoppers, f) }

// Main runs the package's tests and then stops every peer that was started.
// Use it from TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	for i := len(stoppers) - 1; i >= 0; i-- {
		stoppers[i]()
	}
	os.Exit(code)
}

// lookBin finds a peer's program on PATH or in /usr/sbin or /usr/bin
// (where Debian puts daemons that a non-root PATH lacks); missing, it is
// Missing(what).
func lookBin(t testing.TB, name, what string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	Missing(t, what, exec.ErrNotFound)
	return ""
}
