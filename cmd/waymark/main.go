package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/waymark-mail/waymark/internal/cli"
)

// version and revision are set at build time by make dist (-ldflags "-X
// main.version=… -X main.revision=…"); without them the build info says.
var version, revision = "dev", ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	env := cli.Env{Stdout: stdout, Stderr: stderr, Stdin: os.Stdin, Getenv: os.Getenv}
	switch args[0] {
	case "serve":
		return serve(args[1:], env)
	case "backup":
		return backupCmd(args[1:], env)
	case "version", "--version", "-version":
		if len(args) > 1 && (args[1] == "--help" || args[1] == "-h") {
			fmt.Fprintln(stdout, "usage: waymark version\n\nPrints the version, the VCS revision the binary was built from, and the Go toolchain.")
			return 0
		}
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	switch code := cli.Main(args, env); code {
	case -1: // no command named: the top-level help
		if len(args) > 0 && (args[0] == "help" || strings.HasSuffix(args[0], "-help") || args[0] == "-h") {
			usage(stdout)
			return 0
		}
		fmt.Fprintln(stderr, "waymark: which command? see waymark --help")
		return 2
	default:
		return code
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `waymark: branded tracking domains and authenticated sender domains for email platforms

usage:
  waymark serve [flags]        run the service (waymark serve --help lists its flags and WAYMARK_* variables)
  waymark backup --to FILE     back up the embedded database and the secret key file, online (--help)
  waymark version              print the version and the VCS revision it was built from
  waymark GROUP COMMAND ...    talk to the API of a running waymark:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, g := range cli.Groups() {
		fmt.Fprintf(tw, "    %s\t%s\n", g, strings.Join(cli.Commands(g), "|"))
	}
	tw.Flush()
	fmt.Fprint(w, `
waymark GROUP --help lists a group's commands; waymark GROUP COMMAND --help a command's flags and examples.
The client commands take --api URL (WAYMARK_API), --key KEY (WAYMARK_KEY), --cluster NAME|ID (with the admin
key) and --json, before or after the command; exit 0 on success, 1 for an error from the API or the network,
2 for a usage mistake.
`)
}

// versionString is what waymark version prints: the version (set by make
// dist, else the module version go install recorded), the VCS revision and
// time the binary was built from (and "modified" when the tree had
// uncommitted changes), and the Go toolchain.
func versionString() string {
	v, rev, at, dirty := version, "unknown", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if revision != "" && rev == "unknown" {
		rev = revision
	}
	if dirty {
		rev += " (modified)"
	}
	if at != "" {
		rev += " of " + at
	}
	return fmt.Sprintf("waymark %s\nrevision %s\n%s %s/%s", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
