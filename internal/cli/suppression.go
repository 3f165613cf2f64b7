package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/waymark-mail/waymark/internal/api"
)

// suppressionList prints the whole list, page after page, filtered by
// --reason and --prefix.
func suppressionList(c *Client, out io.Writer, _ []string, o opts) error {
	q := url.Values{}
	if o.reason != "" {
		q.Set("reason", o.reason)
	}
	if o.prefix != "" {
		q.Set("prefix", o.prefix)
	}
	q.Set("limit", "1000")
	var all []api.Suppression
	for {
		raw, err := c.Do("GET", "/v1/suppressions?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		var page api.SuppressionPage
		if err := json.Unmarshal(raw, &page); err != nil {
			return err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if o.json {
		if all == nil {
			all = []api.Suppression{}
		}
		b, err := json.MarshalIndent(map[string]any{"items": all}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	if len(all) == 0 {
		_, err := fmt.Fprintln(out, "no suppressed addresses")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tREASON\tSOURCE\tSINCE")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Address, s.Reason, s.Source, when(s.CreatedAt))
	}
	return tw.Flush()
}

func suppressionAdd(c *Client, out io.Writer, args []string, o opts) error {
	raw, err := c.Do("POST", "/v1/suppressions", map[string]string{"address": args[0]})
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var s api.Suppression
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "suppressed %s: no mail is sent to it until `waymark suppression delete %s`\n", s.Address, s.Address)
	return err
}

func suppressionDelete(c *Client, out io.Writer, args []string, o opts) error {
	addr := strings.TrimSpace(args[0])
	if _, err := c.Do("DELETE", "/v1/suppressions/"+url.PathEscape(addr), nil); err != nil {
		return err
	}
	if o.json {
		return nil
	}
	_, err := fmt.Fprintf(out, "%s is no longer suppressed\n", addr)
	return err
}

func suppressionImport(c *Client, out io.Writer, args []string, o opts) error {
	var in io.Reader
	if args[0] == "-" {
		in = o.stdin
		if in == nil {
			in = os.Stdin
		}
	} else {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err != nil || st.IsDir() {
			return fmt.Errorf("%s is not a file%.0w", args[0], errUsage)
		}
		in = f
	}
	raw, err := c.Send("POST", "/v1/suppressions", "text/csv", in)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var r api.ImportResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	fmt.Fprintf(out, "added %d, already suppressed %d, not addresses %d\n", r.Added, r.Already, len(r.Invalid))
	for _, inv := range r.Invalid {
		fmt.Fprintf(out, "  line %d: %q\n", inv.Line, inv.Value)
	}
	return nil
}
