package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

// command is one client subcommand.
type command struct {
	args     string // positional arguments, for help: "NAME|ID"
	help     string
	nargs    int
	flags    func(fs *flag.FlagSet, o *opts) // its own flags, beyond the global ones
	examples []string
	run      func(c *Client, out io.Writer, args []string, o opts) error
}

// group is a noun and its commands ("tracking-domain add").
type group struct {
	name, help string
	order      []string // its commands, in the order help lists them
	cmds       map[string]command
	dflt       string // the command run when none is named ("waymark queue")
}

// opts are the per-command flags beyond the connection flags.
type opts struct {
	json                  bool
	dflt                  bool
	clickHost, bounceHost string
	ed25519               bool
	unsignedMail          string
	notifyEmail           *string // set: --notify-email was given ("" clears)
	homeURL               *string // set: --home-url was given ("" clears)
	trackOpens            string
	trackClicks           string
	dmarc                 string
	reason, prefix        string
	label                 string
	yes                   bool
	events                List
	eventType, messageID  string
	since, cursor         string
	limit                 int
	maxBatch              int
	interval, groupBy     string
	trackingDomain        string
	stdin                 io.Reader
}

// Groups lists the client command groups, for the top-level help.
func Groups() []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.name
	}
	return out
}

func findGroup(name string) *group {
	for i := range groups {
		if groups[i].name == name {
			return &groups[i]
		}
	}
	return nil
}

// IsGroup reports whether name is a client command group.
func IsGroup(name string) bool { return findGroup(name) != nil }

// globalValueFlags are the connection flags that take a value; --json is
// the boolean one. They may stand before or after the command.
var globalValueFlags = map[string]bool{"api": true, "key": true, "cluster": true}

func flagName(tok string) (name string, hasValue bool, ok bool) {
	if !strings.HasPrefix(tok, "-") || tok == "-" || tok == "--" {
		return "", false, false
	}
	name = strings.TrimLeft(tok, "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue, true
}

func isHelp(tok string) bool {
	return tok == "-h" || tok == "--help" || tok == "-help" || tok == "help"
}

// Main runs a client command line: "waymark [global flags] GROUP
// [COMMAND] [args and flags]". It returns the exit code: 0, 1 for an error
// from the API or the network, 2 for a usage mistake. Help asked for
// (--help) goes to stdout with 0.
func Main(args []string, env Env) int {
	var pre []string // global flags before the command, with their values
	var g *group
	var name string
	i := 0
	for ; i < len(args); i++ {
		tok := args[i]
		if isHelp(tok) {
			if g == nil {
				return -1 // the caller prints the top-level help
			}
			Usage(env.Stdout, g.name)
			return 0
		}
		if n, hasValue, isFlag := flagName(tok); isFlag {
			if n != "json" && !globalValueFlags[n] && g != nil && g.dflt != "" {
				// "waymark stats --since 7d": the default command's flags.
				name = g.dflt
				break
			}
			if n != "json" && !globalValueFlags[n] {
				where := "waymark --help"
				if g != nil {
					where = "waymark " + g.name + " --help"
				}
				fmt.Fprintf(env.Stderr, "waymark: --%s: only --api, --key, --cluster and --json may come before the command, a command's own flags after it; see %s\n", n, where)
				return 2
			}
			pre = append(pre, tok)
			if globalValueFlags[n] && !hasValue && i+1 < len(args) {
				i++
				pre = append(pre, args[i])
			}
			continue
		}
		if g == nil {
			if g = findGroup(tok); g == nil {
				fmt.Fprintf(env.Stderr, "waymark: unknown command %q; see waymark --help\n", tok)
				return 2
			}
			continue
		}
		name = tok
		i++
		break
	}
	if g == nil {
		return -1
	}
	if name != "" && g.cmds[name].run == nil && g.dflt != "" {
		name, i = g.dflt, i-1 // "waymark queue X": X is the default command's
	}
	if name == "" {
		if g.dflt == "" {
			fmt.Fprintf(env.Stderr, "waymark %s: which command? one of %s; see waymark %s --help\n", g.name, strings.Join(g.order, ", "), g.name)
			return 2
		}
		name = g.dflt
	}
	cmd, ok := g.cmds[name]
	if !ok {
		fmt.Fprintf(env.Stderr, "waymark %s: unknown command %q (one of %s); see waymark %s --help\n", g.name, name, strings.Join(g.order, ", "), g.name)
		return 2
	}
	return runCommand(g, name, cmd, append(pre, args[i:]...), env)
}

// Run runs "waymark <group> …" (the group already chosen).
func Run(group string, args []string, env Env) int {
	code := Main(append([]string{group}, args...), env)
	if code < 0 {
		code = 2
	}
	return code
}

// clusterID is the shape of a cluster id; anything else --cluster is given
// is a cluster's name.
var clusterID = regexp.MustCompile(`^cl_[0-9a-f]{16}$`)

func runCommand(g *group, name string, cmd command, args []string, env Env) int {
	fs := flag.NewFlagSet("waymark "+g.name+" "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &Client{}
	var o opts
	fs.StringVar(&c.BaseURL, "api", DefaultAPI, "API address")
	fs.StringVar(&c.Key, "key", "", "API key")
	fs.StringVar(&c.Cluster, "cluster", "", "cluster to act in (admin key)")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	own := flag.NewFlagSet("", flag.ContinueOnError)
	if cmd.flags != nil {
		cmd.flags(own, &o)
		own.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	}
	o.stdin = env.Stdin
	pos, err := Parse(fs, args, env.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(env.Stdout, g, name, cmd, own)
		return 0
	}
	hint := fmt.Sprintf("see waymark %s %s --help", g.name, name)
	if err != nil {
		fmt.Fprintf(env.Stderr, "waymark %s %s: %s; %s\n", g.name, name, FlagError(err), hint)
		return 2
	}
	if len(pos) != cmd.nargs {
		want := "no arguments"
		if cmd.nargs > 0 {
			want = strings.Join(strings.Fields(cmd.args)[:cmd.nargs], " ")
		}
		got := "none"
		if len(pos) > 0 {
			got = fmt.Sprintf("%d: %s", len(pos), strings.Join(pos, " "))
		}
		fmt.Fprintf(env.Stderr, "waymark %s %s: takes %s, got %s; %s\n", g.name, name, want, got, hint)
		return 2
	}
	if c.Key == "" {
		fmt.Fprintln(env.Stderr, "waymark: no API key: pass --key or set WAYMARK_KEY "+
			"(`waymark serve` prints the admin key on first start; `waymark cluster create` prints a cluster key)")
		return 2
	}
	if err := c.checkBase(); err != nil {
		fmt.Fprintf(env.Stderr, "waymark: %v\n", err)
		return 2
	}
	if c.Cluster != "" && !clusterID.MatchString(c.Cluster) {
		id, err := clusterByName(c, c.Cluster)
		if err != nil {
			fmt.Fprintf(env.Stderr, "waymark: --cluster %s: %v\n", c.Cluster, err)
			return 1
		}
		c.Cluster = id
	}
	if err := cmd.run(c, env.Stdout, pos, o); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprintf(env.Stderr, "waymark %s %s: %v; %s\n", g.name, name, err, hint)
			return 2
		}
		if o.json {
			writeJSONError(env.Stderr, err)
			return 1
		}
		fmt.Fprintf(env.Stderr, "waymark: %v\n", err)
		return 1
	}
	return 0
}

// writeJSONError writes an error under --json in the API's error shape:
// the API's own error as it came, anything else (the network, a file) with
// the code "client".
func writeJSONError(w io.Writer, err error) {
	detail := APIError{Code: "client", Message: err.Error()}
	var ae *APIError
	if errors.As(err, &ae) {
		detail = *ae
		if detail.Code == "" {
			detail.Code, detail.Message = "http_"+fmt.Sprint(ae.Status), ae.Error()
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"error": map[string]string{"code": detail.Code, "message": detail.Message, "field": detail.Field}}, "", "  ")
	fmt.Fprintf(w, "%s\n", b)
}

// FlagError words the flag package's errors with the double dash the help
// shows.
func FlagError(err error) string {
	msg := err.Error()
	for _, p := range []struct{ from, to string }{
		{"flag provided but not defined: -", "unknown flag --"},
		{"flag needs an argument: -", "a value is missing after --"},
	} {
		if strings.HasPrefix(msg, p.from) {
			return p.to + strings.TrimPrefix(msg, p.from)
		}
	}
	return regexp.MustCompile(`(^| )-([a-z])`).ReplaceAllString(msg, "$1--$2")
}

// clusterRef is the id of the cluster ref names: ref itself if it is an
// id, else the cluster of that name.
func clusterRef(c *Client, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if clusterID.MatchString(ref) {
		return ref, nil
	}
	id, err := clusterByName(c, ref)
	if err != nil {
		return "", fmt.Errorf("cluster %q: %w", ref, err)
	}
	return id, nil
}

// clusterByName finds the id of the cluster --cluster names.
func clusterByName(c *Client, name string) (string, error) {
	admin := *c
	admin.Cluster = ""
	raw, err := admin.Do("GET", "/v1/clusters", nil)
	if err != nil {
		return "", err
	}
	var l struct {
		Items []struct{ ID, Name string }
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return "", err
	}
	for _, cl := range l.Items {
		if cl.Name == name {
			return cl.ID, nil
		}
	}
	if !strings.HasPrefix(c.Key, "wma_") {
		return "", fmt.Errorf("no cluster of this name is visible to this key: a cluster key sees only its own cluster (--cluster is for the admin key)")
	}
	return "", fmt.Errorf("no cluster has this name or id (waymark cluster list shows them)")
}

const globalHelp = `global flags (each may come before or after the command, and is also read from WAYMARK_<NAME>, e.g. WAYMARK_KEY):
  --api URL          the API's address (default ` + DefaultAPI + `)
  --key KEY          an API key: a cluster key, or the admin key with --cluster
  --cluster NAME|ID  with the admin key, the cluster to act in
  --json             print the API's JSON instead of a table
`

// Usage writes the help of one command group.
func Usage(w io.Writer, name string) {
	g := findGroup(name)
	fmt.Fprintf(w, "usage: waymark %s <command> [arguments] [flags]\n\n%s\n\ncommands:\n", g.name, g.help)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, n := range g.order {
		c := g.cmds[n]
		dflt := ""
		if n == g.dflt {
			dflt = " (the default: waymark " + g.name + ")"
		}
		fmt.Fprintf(tw, "  %s %s\t%s%s\n", n, c.args, c.help, dflt)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s\nwaymark %s <command> --help shows a command's flags and examples.\n", globalHelp, g.name)
}

func commandUsage(w io.Writer, g *group, name string, cmd command, own *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s [flags]\n\n%s\n", strings.Join(strings.Fields("waymark "+g.name+" "+name+" "+cmd.args), " "), cmd.help)
	n := 0
	own.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		own.VisitAll(func(f *flag.Flag) {
			kind, usage := flag.UnquoteUsage(f)
			if kind != "" {
				kind = " " + strings.ToUpper(kind)
			}
			fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, kind, usage)
		})
		tw.Flush()
	}
	fmt.Fprintf(w, "\n%s", globalHelp)
	if len(cmd.examples) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, e := range cmd.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// TimeFormat is the one format of times in tables (--json has RFC 3339).
const TimeFormat = "2006-01-02 15:04 UTC"

// when formats a time for a table.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(TimeFormat)
}

// Commands lists a group's commands, in help order.
func Commands(name string) []string {
	if g := findGroup(name); g != nil {
		return g.order
	}
	return nil
}
