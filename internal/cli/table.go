package cli

import (
	"errors"
	"flag"
)

// errUsage marks a command given nothing to do: exit 2, with a hint.
var errUsage = errors.New("see the usage")

func trackFlags(inherit string) func(fs *flag.FlagSet, o *opts) {
	return func(fs *flag.FlagSet, o *opts) {
		fs.StringVar(&o.trackOpens, "track-opens", "", "the open pixel: on or off"+inherit)
		fs.StringVar(&o.trackClicks, "track-clicks", "", "which links are tracked: all, html, text or off"+inherit)
	}
}

// groups are the client commands, in the order the help lists them.
var groups = []group{
	{name: "cluster", help: "Clusters are the tenants; the admin key creates, lists and deletes them.",
		order: []string{"create", "list", "show", "set", "delete"},
		cmds: map[string]command{
			"create": {args: "NAME", nargs: 1, help: "create a cluster (admin key) and print its id and first API key",
				examples: []string{"waymark cluster create acme --key $ADMIN_KEY"}, run: clusterCreate},
			"list": {help: "list clusters (all with the admin key, yours with a cluster key)", run: clusterList},
			"show": {args: "NAME|ID", nargs: 1, help: "show a cluster and its settings", run: clusterShow,
				examples: []string{"waymark cluster show acme"}},
			"set": {args: "NAME|ID", nargs: 1, help: "change a cluster's settings (its own key or the admin key)", run: clusterSet,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.StringVar(&o.unsignedMail, "unsigned-mail", "", "what to do with mail whose From domain is not a verified sending domain: refuse, or relay it unsigned (`MODE`)")
					fs.Func("notify-email", "`ADDRESSES` that get the cluster's notices by email, comma-separated (\"\" for none)", func(v string) error {
						o.notifyEmail = &v
						return nil
					})
					trackFlags("")(fs, o)
				},
				examples: []string{"waymark cluster set acme --unsigned-mail relay", "waymark cluster set cl_0123456789abcdef --notify-email ops@example.com,dev@example.com"}},
			"delete": {args: "NAME|ID", nargs: 1, help: "delete a cluster and everything of it, at once (admin key)", run: clusterDelete,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.BoolVar(&o.yes, "yes", false, "really delete: domains, keys, mail, events and suppressions go at once")
				},
				examples: []string{"waymark cluster delete acme --yes"}},
		}},
	{name: "key", help: "API keys of a cluster: each is the API's bearer key, the SMTP AUTH password and a dashboard sign-in.",
		order: []string{"create", "list", "revoke"},
		cmds: map[string]command{
			"create": {help: "create an API key and print it (shown once)", run: keyCreate,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.StringVar(&o.label, "label", "", "what the key is for (`LABEL`), e.g. \"billing service\"")
				},
				examples: []string{`waymark key create --label "newsletter server"`}},
			"list": {help: "list the cluster's API keys", run: keyList},
			"revoke": {args: "ID", nargs: 1, help: "revoke an API key at once (API, SMTP, dashboard)", run: keyRevoke,
				examples: []string{"waymark key revoke key_0123456789abcdef"}},
		}},
	{name: "tracking-domain", help: "Tracking domains carry a cluster's links and open pixels (track.example.com).",
		order: []string{"add", "list", "show", "verify", "set", "set-default", "unset-default", "delete"},
		cmds: map[string]command{
			"add": {args: "NAME", nargs: 1, help: "add a tracking domain and print the CNAME record to publish", run: trackingAdd,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.BoolVar(&o.dflt, "default", false, "make it the cluster's default once verified")
				},
				examples: []string{"waymark tracking-domain add track.example.com --default"}},
			"list":   {help: "list the cluster's tracking domains", run: trackingList},
			"show":   {args: "NAME|ID", nargs: 1, help: "show one tracking domain and its CNAME record", run: trackingShow},
			"verify": {args: "NAME|ID", nargs: 1, help: "check the CNAME now (exit 1 if it does not verify)", run: trackingVerify},
			"set": {args: "NAME|ID", nargs: 1, help: "change a tracking domain's settings", run: trackingSet,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.Func("home-url", "where the domain's front door (/) redirects: an https `URL`, or \"\" for the edge's own page", func(v string) error {
						o.homeURL = &v
						return nil
					})
				},
				examples: []string{"waymark tracking-domain set track.example.com --home-url https://www.example.com/"}},
			"set-default":   {args: "NAME|ID", nargs: 1, help: "make an active tracking domain the cluster's default", run: trackingSetDefault},
			"unset-default": {args: "NAME|ID", nargs: 1, help: "stop using a tracking domain as the default", run: trackingUnsetDefault},
			"delete":        {args: "NAME|ID", nargs: 1, help: "delete a tracking domain at once (links in delivered mail stop working)", run: trackingDelete},
		}},
	{name: "sending-domain", help: "Sending domains sign a cluster's mail with DKIM and carry its bounces (example.com).",
		order: []string{"add", "list", "show", "verify", "rotate", "set", "delete"},
		cmds: map[string]command{
			"add": {args: "NAME", nargs: 1, help: "add a sending domain and print the CNAME records to publish", run: sendingAdd,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.StringVar(&o.clickHost, "click-host", "", "`LABEL` of the click host (default clicks)")
					fs.StringVar(&o.bounceHost, "bounce-host", "", "`LABEL` of the bounce host (default bounce)")
					fs.BoolVar(&o.ed25519, "ed25519", false, "also sign with Ed25519")
				},
				examples: []string{"waymark sending-domain add example.com", "waymark sending-domain add example.com --click-host links --ed25519"}},
			"list":   {help: "list the cluster's sending domains", run: sendingList},
			"show":   {args: "NAME|ID", nargs: 1, help: "show a sending domain and its records", run: sendingShow},
			"verify": {args: "NAME|ID", nargs: 1, help: "check every record now and show why any fails (exit 1 if the domain is not active)", run: sendingVerify},
			"rotate": {args: "NAME|ID", nargs: 1, help: "force a DKIM key rotation (new keys sign 72 h later)", run: sendingRotate},
			"set": {args: "NAME|ID", nargs: 1, help: "change a sending domain's tracking defaults and DMARC policy", run: sendingSet,
				flags: func(fs *flag.FlagSet, o *opts) {
					trackFlags(", or inherit (the cluster's)")(fs, o)
					fs.StringVar(&o.dmarc, "dmarc", "", "the DMARC `POLICY` as tags (p=reject; pct=50; rua=mailto:dmarc@example.com), or default")
				},
				examples: []string{`waymark sending-domain set example.com --dmarc "p=quarantine; rua=mailto:dmarc@example.com"`, "waymark sending-domain set example.com --track-opens off"}},
			"delete": {args: "NAME|ID", nargs: 1, help: "delete a sending domain, its keys and its click host", run: sendingDelete},
		}},
	{name: "delivery-server", help: "Delivery servers are the MTAs the relay hands a cluster's mail to.",
		order: []string{"add", "list", "delete"},
		cmds: map[string]command{
			"add": {args: "NAME URL", nargs: 2, help: "add a delivery server, smtp://host:port (STARTTLS is used when it offers it)", run: deliveryAdd,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.StringVar(&o.trackingDomain, "tracking-domain", "", "the tracking domain (`NAME|ID`) of mail sent through it")
					fs.BoolVar(&o.dflt, "default", false, "make it the cluster's default")
				},
				examples: []string{"waymark delivery-server add mta1 smtp://mta1.example.net:25 --default"}},
			"list":   {help: "list the cluster's delivery servers", run: deliveryList},
			"delete": {args: "NAME|ID", nargs: 1, help: "delete a delivery server", run: deliveryDelete},
		}},
	{name: "message", help: "Messages the cluster sent, and where each copy is.",
		order: []string{"show"},
		cmds: map[string]command{
			"show": {args: "ID", nargs: 1, help: "show where each copy of a message is (queued, deferred, sent, bounced, suppressed)", run: messageShow,
				examples: []string{"waymark message show msg_0123456789abcdef"}},
		}},
	{name: "queue", help: "The cluster's mail waiting to be delivered.", dflt: "show",
		order: []string{"show"},
		cmds: map[string]command{
			"show": {help: "show the messages waiting, by delivery server and state, and the oldest", run: queueShow,
				examples: []string{"waymark queue", "waymark queue --json"}},
		}},
	{name: "event", help: "What happened to the cluster's mail: opens, clicks, bounces, complaints, unsubscribes.",
		order: []string{"list"},
		cmds: map[string]command{
			"list": {help: "list events, newest first", run: eventList,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.StringVar(&o.eventType, "type", "", "only this `TYPE`: open, click, bounce, complaint, unsubscribe, …")
					fs.StringVar(&o.messageID, "message-id", "", "only events of this message (`msg_…`)")
					fs.StringVar(&o.since, "since", "", "only events since this `TIME` (RFC 3339, or a duration before now such as 24h)")
					fs.IntVar(&o.limit, "limit", 50, "at most `N` events (up to 1000)")
					fs.StringVar(&o.cursor, "cursor", "", "the next page: the `CURSOR` the last page printed")
				},
				examples: []string{"waymark event list --type bounce --since 24h", "waymark event list --message-id msg_0123456789abcdef --json"}},
		}},
	{name: "stats", help: "The cluster's counts by hour or day: opens, clicks (and their uniques), unsubscribes, bounces, complaints, relayed.", dflt: "show",
		order: []string{"show"},
		cmds: map[string]command{
			"show": {help: "show the counts of each hour or day (from the rollups: GET /v1/stats)", run: statsShow,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.StringVar(&o.since, "since", "24h", "from this `TIME` (RFC 3339, or a duration before now such as 7d or 24h)")
					fs.StringVar(&o.interval, "interval", "", "buckets of one `INTERVAL`: hour or day (default: hour for a day or less, else day)")
					fs.StringVar(&o.groupBy, "group-by", "", "a row per `DIMENSION` in each bucket: host, link, message or sending_domain")
				},
				examples: []string{"waymark stats", "waymark stats --since 30d --interval day", "waymark stats --since 7d --group-by link --json"}},
		}},
	{name: "suppression", help: "The addresses the cluster's mail is not sent to.",
		order: []string{"list", "add", "delete", "import"},
		cmds: map[string]command{
			"list": {help: "list suppressed addresses (reasons unsubscribe, hard_bounce, complaint, manual)", run: suppressionList,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.StringVar(&o.reason, "reason", "", "only this `REASON`: unsubscribe, hard_bounce, complaint or manual")
					fs.StringVar(&o.prefix, "prefix", "", "only addresses that start with `TEXT`")
				},
				examples: []string{"waymark suppression list --reason hard_bounce", "waymark suppression list --prefix ann@"}},
			"add":    {args: "ADDRESS", nargs: 1, help: "stop sending to an address (reason manual)", run: suppressionAdd},
			"delete": {args: "ADDRESS", nargs: 1, help: "send to an address again", run: suppressionDelete},
			"import": {args: "FILE", nargs: 1, help: "add every address of a CSV file: its first column, reason manual (other columns are ignored; - reads stdin)", run: suppressionImport,
				examples: []string{"waymark suppression import unsubscribed.csv", "cut -d, -f2 export.csv | waymark suppression import -"}},
		}},
	{name: "webhook", help: "Webhooks receive the cluster's events as signed HTTP POSTs.",
		order: []string{"add", "list", "delete"},
		cmds: map[string]command{
			"add": {args: "URL", nargs: 1, help: "add a webhook and print its signing secret (shown once)", run: webhookAdd,
				flags: func(fs *flag.FlagSet, o *opts) {
					fs.Var(&o.events, "event", "an `EVENT` it receives (repeat the flag for more; none: all)")
					fs.IntVar(&o.maxBatch, "max-batch", -1, "at most `N` events a delivery carries, 1 to 1000 (default 100)")
				},
				examples: []string{"waymark webhook add https://hooks.example.com/waymark --event bounce --event complaint",
					"waymark webhook add https://hooks.example.com/waymark --max-batch 1"}},
			"list":   {help: "list the cluster's webhooks and their last delivery", run: webhookList},
			"delete": {args: "ID", nargs: 1, help: "delete a webhook (its pending deliveries go too)", run: webhookDelete},
		}},
}
