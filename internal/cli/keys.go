package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/waymark-mail/waymark/internal/api"
)

func keyCreate(c *Client, out io.Writer, _ []string, o opts) error {
	raw, err := c.Do("POST", "/v1/keys", map[string]string{"label": o.label})
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var k api.Key
	if err := json.Unmarshal(raw, &k); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nLABEL\t%s\nAPI KEY\t%s\n", k.ID, k.Label, k.Key)
	tw.Flush()
	_, err = fmt.Fprintln(out, "\nThe API key is shown only once. It is also the SMTP AUTH password (the user name is the cluster id).")
	return err
}

func keyList(c *Client, out io.Writer, _ []string, o opts) error {
	raw, err := c.Do("GET", "/v1/keys", nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var l struct{ Items []api.Key }
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tCREATED\tID")
	for _, k := range l.Items {
		label := k.Label
		if label == "" {
			label = "(no label)"
		}
		if k.Current {
			label += " (this key)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", label, when(k.CreatedAt), k.ID)
	}
	return tw.Flush()
}

func keyRevoke(c *Client, out io.Writer, args []string, o opts) error {
	id := strings.TrimSpace(args[0])
	// What is about to go: the key this command runs with, or the last.
	var l struct{ Items []api.Key }
	raw, err := c.Do("GET", "/v1/keys", nil)
	if err == nil {
		err = json.Unmarshal(raw, &l)
	}
	if err != nil {
		return err
	}
	own := false
	for _, k := range l.Items {
		own = own || k.ID == id && k.Current
	}
	if _, err := c.Do("DELETE", "/v1/keys/"+url.PathEscape(id), nil); err != nil {
		return err
	}
	if o.json {
		return nil
	}
	fmt.Fprintf(out, "revoked %s: the API, SMTP and the dashboard refuse it from now on\n", id)
	switch {
	case len(l.Items) == 1:
		fmt.Fprintln(out, "That was the cluster's last key: only the admin key can reach it now (waymark key create --cluster ID with the admin key).")
	case own:
		fmt.Fprintln(out, "That was the key this command ran with: use another of the cluster's keys from now on.")
	}
	return nil
}

func clusterDelete(c *Client, out io.Writer, args []string, o opts) error {
	if !o.yes {
		return fmt.Errorf("deleting a cluster removes its domains, keys, mail, events and suppressions at once and cannot be undone: add --yes%.0w", errUsage)
	}
	id, err := clusterRef(c, args[0])
	if err != nil {
		return err
	}
	if _, err := c.Do("DELETE", "/v1/clusters/"+url.PathEscape(id), nil); err != nil {
		return err
	}
	if o.json {
		return nil
	}
	_, err = fmt.Fprintf(out, "deleted cluster %s (%s) and everything of it\n", args[0], id)
	return err
}
