// Package deploy_test checks the release build: make dist's tarball. It
// is its own package so that its build, which shares no cache with the
// tests' (static, -trimpath), runs beside the other packages' tests.
package deploy_test

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waymark-mail/waymark/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestDist: make dist builds a static binary (no ELF interpreter) into a
// versioned tarball with the deployment files; the binary says its version
// and the VCS revision it was built from.
func TestDist(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testenv.Missing(t, "make", err)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		testenv.Missing(t, "a git checkout (make dist records its revision)", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("make", "-C", "..", "dist", "VERSION=v0.0.0-test", "DIST="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	name := "waymark-v0.0.0-test-" + goEnv(t, "GOOS") + "-" + goEnv(t, "GOARCH")
	f, err := os.Open(filepath.Join(dir, name+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	got := map[string]bool{}
	out := t.TempDir()
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = true
		if h.Name == name+"/waymark" {
			w, err := os.OpenFile(filepath.Join(out, "waymark"), os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			w.Close()
		}
	}
	for _, want := range []string{"waymark", "README.md", "docs/OPERATIONS.md", "docs/CONCEPTS.md", "docs/API.md", "waymark.service", "waymark.env"} {
		if !got[name+"/"+want] {
			t.Errorf("the tarball lacks %s: %v", want, got)
		}
	}
	e, err := elf.Open(filepath.Join(out, "waymark"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary is dynamically linked (it has an ELF interpreter)")
		}
	}
	e.Close()
	v, err := exec.Command(filepath.Join(out, "waymark"), "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "waymark v0.0.0-test\nrevision "+strings.TrimSpace(string(head))) {
		t.Fatalf("version: %v\n%s", err, v)
	}
}

func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
