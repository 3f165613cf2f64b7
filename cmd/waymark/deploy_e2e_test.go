package main

import (
	"bufio"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/waymark-mail/waymark/internal/cli"
	"github.com/waymark-mail/waymark/internal/testenv"
)

// TestSystemdUnit: deploy/waymark.service passes systemd-analyze verify
// (with ExecStart pointing at the binary built here, the one change),
// keeps only CAP_NET_BIND_SERVICE, and systemd's own exposure score rates
// its hardening OK (under 3 of 10); every variable of deploy/waymark.env
// is a flag serve has.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Missing(t, "systemd-analyze (apt systemd)", err)
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../deploy/waymark.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	for _, want := range []string{"\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n", "\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
		"\nNoNewPrivileges=yes\n", "\nExecStart=/usr/local/bin/waymark serve\n", "\nStateDirectory=waymark\n", "\nUser=waymark\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	env, err := filepath.Abs("../../deploy/waymark.env")
	if err != nil {
		t.Fatal(err)
	}
	unit = strings.Replace(unit, "ExecStart=/usr/local/bin/waymark", "ExecStart="+bin, 1)
	unit = strings.Replace(unit, "EnvironmentFile=/etc/waymark/waymark.env", "EnvironmentFile="+env, 1)
	path := filepath.Join(t.TempDir(), "waymark.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for waymark\.service: ([0-9.]+) `).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score >= 3 {
		t.Fatalf("exposure %.1f, want under 3:\n%s", score, out)
	}

	// Every WAYMARK_ variable of the example environment file is a flag.
	flags := map[string]bool{}
	var c serveConfig
	serveFlags(&c).VisitAll(func(f *flag.Flag) { flags[cli.EnvName(f.Name)] = true })
	fh, err := os.Open(env)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	n := 0
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), "#")
		if name, _, ok := strings.Cut(line, "="); ok && strings.HasPrefix(name, "WAYMARK_") {
			n++
			if !flags[name] {
				t.Errorf("deploy/waymark.env sets %s, which is no flag of serve", name)
			}
		}
	}
	if n < 10 {
		t.Fatalf("deploy/waymark.env has %d variables", n)
	}
}
