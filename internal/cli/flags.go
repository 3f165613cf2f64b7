package cli

import (
	"flag"
	"fmt"
	"strings"
)

// EnvName is the environment variable that stands in for a flag:
// --edge-ip is WAYMARK_EDGE_IP.
func EnvName(flagName string) string {
	return "WAYMARK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args into fs, allowing flags after positional arguments
// ("add track.example.com --json"), then fills every flag not given on the
// command line from its WAYMARK_<NAME> variable. It returns the positional
// arguments.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	var positional, after []string
	// Everything after the first "--" is an argument, even "--json".
	for i, a := range args {
		if a == "--" {
			args, after = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	positional = append(positional, after...)
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		v := getenv(EnvName(f.Name))
		if v == "" {
			return
		}
		if multi, ok := f.Value.(*List); ok {
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					multi.Set(item)
				}
			}
			return
		}
		if serr := f.Value.Set(v); serr != nil {
			err = fmt.Errorf("%s=%q: %v", EnvName(f.Name), v, serr)
		}
	})
	return positional, err
}

// List is a repeatable string flag (--edge-ip a --edge-ip b); from the
// environment it takes a comma-separated list.
type List []string

// String implements flag.Value.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value by appending.
func (l *List) Set(v string) error {
	*l = append(*l, v)
	return nil
}
