package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/verify"
)

// DefaultAPI is where the CLI looks for the API without --api.
const DefaultAPI = "http://127.0.0.1:8080"

// Env is what a client subcommand runs with.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader // for "suppression import -"
	Getenv         func(string) string
}

// command is one client subcommand.
type command struct {
	usage string // arguments, for help
	help  string
	args  int // number of positional arguments
	run   func(c *Client, out io.Writer, args []string, o opts) error
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
	stdin                 io.Reader
}

var commands = map[string]map[string]command{
	"message": {
		"show": {"ID", "show where each copy of a message is (queued, deferred, sent, bounced, suppressed)", 1, messageShow},
	},
	"queue": {
		"show": {"", "show the cluster's messages waiting in the queue (waymark queue)", 0, queueShow},
	},
	"suppression": {
		"list":   {"[--reason R] [--prefix P]", "list the addresses mail is not sent to (reason unsubscribe, hard_bounce, complaint or manual)", 0, suppressionList},
		"add":    {"ADDRESS", "stop sending to an address (reason manual)", 1, suppressionAdd},
		"delete": {"ADDRESS", "send to an address again", 1, suppressionDelete},
		"import": {"FILE", "add every address of a CSV file (first column; - for stdin)", 1, suppressionImport},
	},
	"cluster": {
		"create": {"NAME", "create a cluster (admin key) and print its id and API key", 1, clusterCreate},
		"list":   {"", "list clusters (all with the admin key, yours with a cluster key)", 0, clusterList},
		"show":   {"ID", "show a cluster and its settings", 1, clusterShow},
		"set": {"ID [--unsigned-mail refuse|relay] [--notify-email A,B] [--track-opens on|off] [--track-clicks all|html|text|off]",
			"change a cluster's settings (its own key or the admin key)", 1, clusterSet},
		"delete": {"ID --yes", "delete a cluster and everything of it, at once (admin key)", 1, clusterDelete},
	},
	"key": {
		"create": {"[--label L]", "create an API key of the cluster and print it (shown once)", 0, keyCreate},
		"list":   {"", "list the cluster's API keys", 0, keyList},
		"revoke": {"ID", "revoke an API key at once (API, SMTP, dashboard)", 1, keyRevoke},
	},
	"tracking-domain": {
		"add":           {"NAME [--default]", "add a tracking domain and print the CNAME record to publish", 1, trackingAdd},
		"list":          {"", "list the cluster's tracking domains", 0, trackingList},
		"show":          {"NAME|ID", "show one tracking domain and its CNAME record", 1, trackingShow},
		"verify":        {"NAME|ID", "check the CNAME now (exit 1 if it does not verify)", 1, trackingVerify},
		"set":           {"NAME|ID --home-url URL", "change a tracking domain's settings: where its front door (/) redirects (\"\" for the edge's own page)", 1, trackingSet},
		"set-default":   {"NAME|ID", "make an active tracking domain the cluster's default", 1, trackingSetDefault},
		"unset-default": {"NAME|ID", "stop using a tracking domain as the default", 1, trackingUnsetDefault},
		"delete":        {"NAME|ID", "delete a tracking domain at once (links in delivered mail stop working)", 1, trackingDelete},
	},
	"sending-domain": {
		"add":    {"NAME [--click-host L] [--bounce-host L] [--ed25519]", "add a sending domain and print the CNAME records to publish", 1, sendingAdd},
		"list":   {"", "list the cluster's sending domains", 0, sendingList},
		"show":   {"NAME|ID", "show a sending domain and its records", 1, sendingShow},
		"verify": {"NAME|ID", "check every record now (exit 1 if DKIM does not verify)", 1, sendingVerify},
		"rotate": {"NAME|ID", "force a DKIM key rotation (new keys sign 72 h later)", 1, sendingRotate},
		"set": {"NAME|ID [--track-opens on|off|inherit] [--track-clicks all|html|text|off|inherit] [--dmarc \"p=reject; rua=mailto:…\"|default]",
			"change a sending domain's tracking defaults and DMARC policy", 1, sendingSet},
		"delete": {"NAME|ID", "delete a sending domain, its keys and its click host", 1, sendingDelete},
	},
}

// Groups lists the client command groups, for the top-level help.
func Groups() []string {
	return []string{"cluster", "tracking-domain", "sending-domain", "message", "queue", "suppression", "key"}
}

// Usage writes the help of one command group.
func Usage(w io.Writer, group string) {
	fmt.Fprintf(w, "usage: waymark %s <command> [flags]\n\ncommands:\n", group)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, name := range order[group] {
		c := commands[group][name]
		fmt.Fprintf(tw, "  %s %s\t%s\n", name, c.usage, c.help)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nflags (each also WAYMARK_<NAME>):\n"+
		"  --api URL      API address (default %s)\n"+
		"  --key KEY      API key: a cluster key, or the admin key with --cluster\n"+
		"  --cluster ID   with the admin key, the cluster to act in\n"+
		"  --json         print the API's JSON instead of a table\n", DefaultAPI)
}

var order = map[string][]string{
	"cluster":         {"create", "list", "show", "set", "delete"},
	"key":             {"create", "list", "revoke"},
	"message":         {"show"},
	"queue":           {"show"},
	"suppression":     {"list", "add", "delete", "import"},
	"tracking-domain": {"add", "list", "show", "verify", "set", "set-default", "unset-default", "delete"},
	"sending-domain":  {"add", "list", "show", "verify", "rotate", "set", "delete"},
}

// Run runs "waymark <group> <command> …" and returns the exit code: 0, 1 for
// an error from the API or the network, 2 for a usage mistake.
func Run(group string, args []string, env Env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		Usage(env.Stderr, group)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[group][args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "waymark %s: unknown command %q\n\n", group, args[0])
		Usage(env.Stderr, group)
		return 2
	}
	fs := flag.NewFlagSet("waymark "+group+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	c := &Client{}
	var o opts
	fs.StringVar(&c.BaseURL, "api", DefaultAPI, "API address")
	fs.StringVar(&c.Key, "key", "", "API key")
	fs.StringVar(&c.Cluster, "cluster", "", "cluster to act in (admin key)")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	if group == "tracking-domain" && args[0] == "add" {
		fs.BoolVar(&o.dflt, "default", false, "make it the default once verified")
	}
	if group == "tracking-domain" && args[0] == "set" {
		fs.Func("home-url", "where the domain's front door (/) redirects; \"\" for the edge's own page", func(v string) error {
			o.homeURL = &v
			return nil
		})
	}
	if args[0] == "set" && (group == "cluster" || group == "sending-domain") {
		inherit := ""
		if group == "sending-domain" {
			inherit = ", or inherit (the cluster's)"
		}
		fs.StringVar(&o.trackOpens, "track-opens", "", "the open pixel: on or off"+inherit)
		fs.StringVar(&o.trackClicks, "track-clicks", "", "which links are tracked: all, html, text or off"+inherit)
	}
	if group == "sending-domain" && args[0] == "set" {
		fs.StringVar(&o.dmarc, "dmarc", "", "the domain's DMARC policy as tags (p=reject; pct=50; rua=mailto:dmarc@example.com), or default")
	}
	if group == "cluster" && args[0] == "set" {
		fs.StringVar(&o.unsignedMail, "unsigned-mail", "", "refuse, or relay unsigned, mail whose From domain is not a verified sending domain")
		fs.Func("notify-email", "addresses that get the cluster's notices by email, comma-separated (\"\" for none)", func(v string) error {
			o.notifyEmail = &v
			return nil
		})
	}
	if group == "sending-domain" && args[0] == "add" {
		fs.StringVar(&o.clickHost, "click-host", "", "label of the click host (default clicks)")
		fs.StringVar(&o.bounceHost, "bounce-host", "", "label of the bounce host (default bounce)")
		fs.BoolVar(&o.ed25519, "ed25519", false, "also sign with Ed25519")
	}
	if group == "suppression" && args[0] == "list" {
		fs.StringVar(&o.reason, "reason", "", "only this reason: unsubscribe, hard_bounce, complaint or manual")
		fs.StringVar(&o.prefix, "prefix", "", "only addresses that start with this")
	}
	if group == "key" && args[0] == "create" {
		fs.StringVar(&o.label, "label", "", "what the key is for, e.g. billing service")
	}
	if group == "cluster" && args[0] == "delete" {
		fs.BoolVar(&o.yes, "yes", false, "really delete: everything of the cluster goes, at once")
	}
	o.stdin = env.Stdin
	pos, err := Parse(fs, args[1:], env.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "waymark: %v\n", err)
		return 2
	}
	if len(pos) != cmd.args {
		fmt.Fprintf(env.Stderr, "usage: waymark %s %s %s\n", group, args[0], cmd.usage)
		return 2
	}
	if c.Key == "" {
		fmt.Fprintln(env.Stderr, "waymark: no API key: pass --key or set WAYMARK_KEY "+
			"(`waymark serve` prints the admin key on first start; `waymark cluster create` prints a cluster key)")
		return 2
	}
	if err := cmd.run(c, env.Stdout, pos, o); err != nil {
		fmt.Fprintf(env.Stderr, "waymark: %v\n", err)
		if errors.Is(err, errUsage) {
			fmt.Fprintf(env.Stderr, "usage: waymark %s %s %s\n", group, args[0], cmd.usage)
			return 2
		}
		return 1
	}
	return 0
}

// errUsage marks a command given nothing to do: exit 2, with its usage.
var errUsage = errors.New("see the usage")

// printJSON writes the API's answer as it came.
func printJSON(out io.Writer, raw []byte) error {
	_, err := out.Write(raw)
	return err
}

func clusterCreate(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("POST", "/v1/clusters", map[string]string{"name": args[0]})
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var cl api.Cluster
	if err := json.Unmarshal(raw, &cl); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nNAME\t%s\nAPI KEY\t%s\n", cl.ID, cl.Name, cl.APIKey)
	tw.Flush()
	fmt.Fprintf(out, "\nThe API key is shown only once. To act as this cluster:\n  export WAYMARK_KEY=%s\n", cl.APIKey)
	return nil
}

func clusterList(c *Client, out io.Writer, _ []string, o opts) error {
	raw, err := c.Do("GET", "/v1/clusters", nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var l struct{ Items []api.Cluster }
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCREATED")
	for _, cl := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", cl.ID, cl.Name, cl.CreatedAt.Format(time.DateTime))
	}
	return tw.Flush()
}

func clusterShow(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("GET", "/v1/clusters/"+url.PathEscape(strings.TrimSpace(args[0])), nil)
	return printCluster(out, raw, err, o)
}

func clusterSet(c *Client, out io.Writer, args []string, o opts) error {
	body := map[string]any{}
	if o.unsignedMail != "" {
		body["unsigned_mail"] = o.unsignedMail
	}
	if o.notifyEmail != nil {
		body["notify_email"] = splitList(*o.notifyEmail)
	}
	if t := trackingBody(o); t != nil {
		body["tracking"] = t
	}
	if len(body) == 0 {
		return fmt.Errorf("nothing to set: give --unsigned-mail, --notify-email, --track-opens or --track-clicks%.0w", errUsage)
	}
	raw, err := c.Do("PATCH", "/v1/clusters/"+url.PathEscape(strings.TrimSpace(args[0])), body)
	return printCluster(out, raw, err, o)
}

func printCluster(out io.Writer, raw []byte, err error, o opts) error {
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var cl api.Cluster
	if err := json.Unmarshal(raw, &cl); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	notify := strings.Join(cl.NotifyEmail, ", ")
	if notify == "" {
		notify = "none"
	}
	fmt.Fprintf(tw, "ID\t%s\nNAME\t%s\nCREATED\t%s\nUNSIGNED MAIL\t%s\nNOTIFY EMAIL\t%s\nTRACKING\topens %s, clicks %s\n", cl.ID, cl.Name,
		cl.CreatedAt.Format(time.DateTime), cl.UnsignedMail, notify, cl.Tracking.Opens, cl.Tracking.Clicks)
	return tw.Flush()
}

// trackingBody is the tracking change the flags ask for, or nil.
func trackingBody(o opts) map[string]string {
	t := map[string]string{}
	if o.trackOpens != "" {
		t["opens"] = o.trackOpens
	}
	if o.trackClicks != "" {
		t["clicks"] = o.trackClicks
	}
	if len(t) == 0 {
		return nil
	}
	return t
}

func sendingSet(c *Client, out io.Writer, args []string, o opts) error {
	body := map[string]any{}
	if t := trackingBody(o); t != nil {
		body["tracking"] = t
	}
	if o.dmarc != "" {
		policy, err := dmarcTags(o.dmarc)
		if err != nil {
			return err
		}
		body["dmarc"] = policy
	}
	if len(body) == 0 {
		return fmt.Errorf("nothing to set: give --track-opens, --track-clicks or --dmarc%.0w", errUsage)
	}
	raw, err := c.Do("PATCH", sendingPath(args[0], ""), body)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var d api.SendingDomain
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: tracking opens %s, clicks %s\nDMARC: %s\n", d.Name, d.Tracking.Opens, d.Tracking.Clicks, d.DMARCRecord)
	return nil
}

// dmarcTags reads --dmarc: the policy's tags, or "default" (null).
func dmarcTags(s string) (any, error) {
	if strings.EqualFold(strings.TrimSpace(s), "default") {
		return nil, nil
	}
	d, err := sending.ParseTags(s)
	if err != nil {
		return nil, fmt.Errorf("--dmarc: %v", err)
	}
	return d, nil
}

// splitList reads a comma-separated list, dropping empty items.
func splitList(s string) []string {
	out := []string{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func trackingSet(c *Client, out io.Writer, args []string, o opts) error {
	if o.homeURL == nil {
		return fmt.Errorf("nothing to set: give --home-url URL (or --home-url \"\" for the edge's own page)%.0w", errUsage)
	}
	raw, err := c.Do("PATCH", domainPath(args[0], ""), map[string]any{"home_url": *o.homeURL})
	return printDomain(out, raw, err, o, false)
}

func messageShow(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("GET", "/v1/messages/"+url.PathEscape(strings.TrimSpace(args[0])), nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var m api.MessageStatus
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECIPIENT\tQUEUE ID\tSTATE\tATTEMPTS\tNEXT\tLAST REPLY")
	for _, r := range m.Recipients {
		next := ""
		if r.NextAttempt != nil {
			next = r.NextAttempt.Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Recipient, r.QueueID, r.State, r.Attempts, next, truncate(r.LastReply, 80))
	}
	return tw.Flush()
}

func queueShow(c *Client, out io.Writer, _ []string, o opts) error {
	raw, err := c.Do("GET", "/v1/queue", nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var q api.QueueState
	if err := json.Unmarshal(raw, &q); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DELIVERY SERVER\tSTATE\tMESSAGES")
	for _, s := range q.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", s.Server, s.State, s.Count)
	}
	oldest := "none waiting"
	if q.Oldest != nil {
		oldest = q.Oldest.Format(time.DateTime)
	}
	fmt.Fprintf(tw, "TOTAL\t\t%d\nOLDEST\t\t%s\n", q.Total, oldest)
	return tw.Flush()
}

// truncate shortens s for a table column (--json has it whole).
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// domainPath is the API path of a tracking domain given by id or name.
func domainPath(ref string, suffix string) string {
	return "/v1/tracking-domains/" + url.PathEscape(strings.TrimSpace(ref)) + suffix
}

func trackingAdd(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("POST", "/v1/tracking-domains", map[string]any{"name": args[0], "default": o.dflt})
	return printDomain(out, raw, err, o, true)
}

func trackingShow(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("GET", domainPath(args[0], ""), nil)
	return printDomain(out, raw, err, o, true)
}

// errNotVerified makes verify exit 1 when the check did not pass.
var errNotVerified = errors.New("not verified")

func trackingVerify(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("POST", domainPath(args[0], "/verify"), nil)
	if err := printDomain(out, raw, err, o, true); err != nil {
		return err
	}
	var d api.TrackingDomain
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	if d.LastCheck == nil || !d.LastCheck.OK {
		return fmt.Errorf("%s is %s: %w", d.Name, d.Status, errNotVerified)
	}
	return nil
}

func trackingSetDefault(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("PUT", domainPath(args[0], "/default"), nil)
	return printDomain(out, raw, err, o, false)
}

func trackingUnsetDefault(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("DELETE", domainPath(args[0], "/default"), nil)
	return printDomain(out, raw, err, o, false)
}

func trackingDelete(c *Client, out io.Writer, args []string, o opts) error {
	if _, err := c.Do("DELETE", domainPath(args[0], ""), nil); err != nil {
		return err
	}
	if o.json {
		return nil
	}
	_, err := fmt.Fprintf(out, "deleted %s; links that use it in mail already delivered no longer work\n", args[0])
	return err
}

func trackingList(c *Client, out io.Writer, _ []string, o opts) error {
	raw, err := c.Do("GET", "/v1/tracking-domains", nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var l struct{ Items []api.TrackingDomain }
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	if len(l.Items) == 0 {
		_, err := fmt.Fprintln(out, "no tracking domains yet; add one with: waymark tracking-domain add track.example.com")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tDEFAULT\tLAST CHECK\tTLS\tID")
	for _, d := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Status, yesNo(d.Default), lastCheck(d), d.TLS.Status, d.ID)
	}
	return tw.Flush()
}

// printDomain prints one tracking domain from an API answer (or its
// error); withRecord adds the CNAME the customer must publish.
func printDomain(out io.Writer, raw []byte, err error, o opts, withRecord bool) error {
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var d api.TrackingDomain
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	dflt := yesNo(d.Default)
	if !d.Default && d.DefaultOnActive {
		dflt = "no (becomes the default once verified)"
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nNAME\t%s\nSTATUS\t%s\nDEFAULT\t%s\nTLS\t%s\nFAILED CHECKS\t%d\nLAST CHECK\t%s\n",
		d.ID, d.Name, d.Status, dflt, d.TLS.Status, d.FailedChecks, lastCheck(d))
	if d.LastCheck != nil && len(d.LastCheck.Chain) > 0 {
		fmt.Fprintf(tw, "CHAIN\t%s\n", strings.Join(d.LastCheck.Chain, " -> "))
	}
	next := "on request"
	if d.NextCheck != nil {
		next = d.NextCheck.Format(time.DateTime)
	}
	home := d.HomeURL
	if home == "" {
		home = "none (the edge's own page)"
	}
	fmt.Fprintf(tw, "NEXT CHECK\t%s\nHOME URL\t%s\nCREATED\t%s\n", next, home, d.CreatedAt.Format(time.RFC3339))
	tw.Flush()
	if !withRecord {
		return nil
	}
	fmt.Fprintln(out, "\nPublish this record at your DNS provider (DNS only, not proxied):")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tTYPE\tVALUE\n%s\t%s\t%s\n", d.CNAME.Name, d.CNAME.Type, d.CNAME.Value)
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func lastCheck(d api.TrackingDomain) string {
	if d.LastCheck == nil {
		return "never"
	}
	result := "failed: " + d.LastCheck.Diagnosis
	switch {
	case d.LastCheck.OK:
		result = "ok"
	case d.LastCheck.Code == string(verify.Transient): // the resolver, not the record: not a strike
		result = "not counted: " + d.LastCheck.Diagnosis
	}
	return d.LastCheck.At.Format(time.DateTime) + " " + result
}

func sendingPath(ref, suffix string) string {
	return "/v1/sending-domains/" + url.PathEscape(strings.TrimSpace(ref)) + suffix
}

func sendingAdd(c *Client, out io.Writer, args []string, o opts) error {
	body := map[string]any{"name": args[0], "click_host": o.clickHost, "bounce_host": o.bounceHost}
	if o.ed25519 {
		body["algorithms"] = []string{"rsa", "ed25519"}
	}
	raw, err := c.Do("POST", "/v1/sending-domains", body)
	return printSending(out, raw, err, o)
}

func sendingShow(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("GET", sendingPath(args[0], ""), nil)
	return printSending(out, raw, err, o)
}

func sendingRotate(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("POST", sendingPath(args[0], "/rotate"), nil)
	return printSending(out, raw, err, o)
}

func sendingVerify(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("POST", sendingPath(args[0], "/verify"), nil)
	if err := printSending(out, raw, err, o); err != nil {
		return err
	}
	var d api.SendingDomain
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	if d.Status != "active" {
		return fmt.Errorf("%s is %s: %w", d.Name, d.Status, errNotVerified)
	}
	return nil
}

func sendingDelete(c *Client, out io.Writer, args []string, o opts) error {
	if _, err := c.Do("DELETE", sendingPath(args[0], ""), nil); err != nil {
		return err
	}
	if o.json {
		return nil
	}
	_, err := fmt.Fprintf(out, "deleted %s\n", args[0])
	return err
}

func sendingList(c *Client, out io.Writer, _ []string, o opts) error {
	raw, err := c.Do("GET", "/v1/sending-domains", nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var l struct{ Items []api.SendingDomain }
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	if len(l.Items) == 0 {
		_, err := fmt.Fprintln(out, "no sending domains yet; add one with: waymark sending-domain add example.com")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tALGORITHMS\tCLICK HOST\tID")
	for _, d := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Status, strings.Join(d.Algorithms, ","), d.ClickHost, d.ID)
	}
	return tw.Flush()
}

// printSending prints a sending domain and the records to publish.
func printSending(out io.Writer, raw []byte, err error, o opts) error {
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var d api.SendingDomain
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nNAME\t%s\nSTATUS\t%s\nFAILED CHECKS\t%d\nTRACKING\topens %s, clicks %s\nDMARC\t%s\n",
		d.ID, d.Name, d.Status, d.FailedChecks, d.Tracking.Opens, d.Tracking.Clicks, d.DMARCRecord)
	for _, k := range d.DKIM {
		fmt.Fprintf(tw, "DKIM %s\tselector %s, next rotation %s\n", k.Algorithm, k.Selector, k.NextRotation.Format(time.DateTime))
	}
	tw.Flush()
	fmt.Fprintln(out, "\nPublish these records at your DNS provider (DNS only, not proxied):")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tVALUE\tSTATUS\tPURPOSE")
	for _, r := range d.Records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Value, r.Status, r.Purpose)
	}
	return tw.Flush()
}
