package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/waymark-mail/waymark/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

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
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	if args[0] == "queue" && (len(args) == 1 || strings.HasPrefix(args[1], "-") && args[1] != "-h" && args[1] != "--help") {
		args = append([]string{"queue", "show"}, args[1:]...) // waymark queue [flags]
	}
	for _, g := range cli.Groups() {
		if args[0] == g {
			return cli.Run(g, args[1:], env)
		}
	}
	fmt.Fprintf(stderr, "waymark: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `waymark: branded tracking domains and authenticated sender domains for email platforms

usage:
  waymark serve [flags]             run the service (waymark serve --help for flags)
  waymark cluster create NAME       create a cluster, print its id and API key
  waymark cluster list|show|set
  waymark tracking-domain add|list|show|verify|set|set-default|unset-default|delete
  waymark sending-domain add|list|show|verify|rotate|set|delete
  waymark message show ID           where each copy of a message is
  waymark queue                     the cluster's messages waiting
  (waymark <group> --help lists a group's commands and flags)
  waymark version

The client commands talk to the API: --api (WAYMARK_API), --key (WAYMARK_KEY).
`)
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("waymark %s%s (%s %s/%s)", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
