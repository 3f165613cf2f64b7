package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/waymark-mail/waymark/internal/api"
)

func deliveryAdd(c *Client, out io.Writer, args []string, o opts) error {
	body := map[string]any{"name": args[0], "url": args[1], "default": o.dflt}
	if o.trackingDomain != "" {
		body["tracking_domain_id"] = o.trackingDomain
	}
	raw, err := c.Do("POST", "/v1/delivery-servers", body)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var d api.DeliveryServer
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nNAME\t%s\nURL\t%s\nDEFAULT\t%s\nTRACKING DOMAIN\t%s\n", d.ID, d.Name, d.URL, yesNo(d.Default), orNone(d.TrackingDomainID))
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func deliveryServers(c *Client) ([]api.DeliveryServer, error) {
	raw, err := c.Do("GET", "/v1/delivery-servers", nil)
	if err != nil {
		return nil, err
	}
	var l struct{ Items []api.DeliveryServer }
	return l.Items, json.Unmarshal(raw, &l)
}

func deliveryList(c *Client, out io.Writer, _ []string, o opts) error {
	if o.json {
		raw, err := c.Do("GET", "/v1/delivery-servers", nil)
		return errors.Join(err, printJSON(out, raw))
	}
	list, err := deliveryServers(c)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(out, "no delivery servers: mail goes to the server's default delivery server (serve --delivery); add one with: waymark delivery-server add mta1 smtp://mta1.example.net:25")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tURL\tDEFAULT\tTRACKING DOMAIN\tCREATED\tID")
	for _, d := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.URL, yesNo(d.Default), orNone(d.TrackingDomainID), when(d.CreatedAt), d.ID)
	}
	return tw.Flush()
}

// deliveryDelete deletes a delivery server named by id or name.
func deliveryDelete(c *Client, out io.Writer, args []string, o opts) error {
	ref := strings.TrimSpace(args[0])
	id := ref
	if !strings.HasPrefix(ref, "ds_") {
		list, err := deliveryServers(c)
		if err != nil {
			return err
		}
		id = ""
		for _, d := range list {
			if d.Name == ref {
				id = d.ID
			}
		}
		if id == "" {
			return fmt.Errorf("no delivery server named %q in this cluster (waymark delivery-server list shows them)", ref)
		}
	}
	if _, err := c.Do("DELETE", "/v1/delivery-servers/"+url.PathEscape(id), nil); err != nil {
		return err
	}
	if o.json {
		return nil
	}
	_, err := fmt.Fprintf(out, "deleted delivery server %s\n", ref)
	return err
}

func webhookAdd(c *Client, out io.Writer, args []string, o opts) error {
	events := []string(o.events)
	if len(events) == 0 {
		events = []string{"*"}
	}
	req := map[string]any{"url": args[0], "events": events}
	if o.maxBatch != -1 { // given
		if o.maxBatch < 1 || o.maxBatch > 1000 {
			return fmt.Errorf("--max-batch must be from 1 to 1000%.0w", errUsage)
		}
		req["max_batch"] = o.maxBatch
	}
	raw, err := c.Do("POST", "/v1/webhooks", req)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var h api.Webhook
	if err := json.Unmarshal(raw, &h); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\nURL\t%s\nEVENTS\t%s\nMAX BATCH\t%d events a delivery\nSECRET\t%s\n", h.ID, h.URL, strings.Join(h.Events, ", "), h.MaxBatch, h.Secret)
	tw.Flush()
	_, err = fmt.Fprintln(out, "\nThe signing secret is shown only once: each POST's Waymark-Signature is made with it.")
	return err
}

func webhookList(c *Client, out io.Writer, _ []string, o opts) error {
	raw, err := c.Do("GET", "/v1/webhooks", nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var l struct{ Items []api.Webhook }
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	if len(l.Items) == 0 {
		_, err := fmt.Fprintln(out, "no webhooks yet; add one with: waymark webhook add https://hooks.example.com/waymark")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "URL\tEVENTS\tMAX BATCH\tLAST DELIVERY\tID")
	for _, h := range l.Items {
		last := "none yet"
		if d := h.LastDelivery; d != nil {
			last = when(d.At) + " " + d.Status
			if d.Code != 0 {
				last += " (" + strconv.Itoa(d.Code) + ")"
			}
			if d.Error != "" {
				last += ": " + d.Error
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", truncate(h.URL, 60), strings.Join(h.Events, ", "), h.MaxBatch, truncate(last, 70), h.ID)
	}
	return tw.Flush()
}

func webhookDelete(c *Client, out io.Writer, args []string, o opts) error {
	id := strings.TrimSpace(args[0])
	if _, err := c.Do("DELETE", "/v1/webhooks/"+url.PathEscape(id), nil); err != nil {
		return err
	}
	if o.json {
		return nil
	}
	_, err := fmt.Fprintf(out, "deleted webhook %s\n", id)
	return err
}

// eventList prints the newest events first.
func eventList(c *Client, out io.Writer, _ []string, o opts) error {
	q := url.Values{"order": {"newest"}}
	if o.limit < 1 || o.limit > 1000 {
		return fmt.Errorf("--limit must be from 1 to 1000%.0w", errUsage)
	}
	q.Set("limit", strconv.Itoa(o.limit))
	if o.eventType != "" {
		q.Set("type", o.eventType)
	}
	if o.messageID != "" {
		q.Set("message_id", o.messageID)
	}
	if o.since != "" {
		since, err := sinceTime(o.since, time.Now())
		if err != nil {
			return fmt.Errorf("--since: %v%.0w", err, errUsage)
		}
		q.Set("since", since.Format(time.RFC3339))
	}
	if o.cursor != "" {
		q.Set("cursor", o.cursor)
	}
	raw, err := c.Do("GET", "/v1/events?"+q.Encode(), nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var l struct {
		Items      []api.Event
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	if len(l.Items) == 0 {
		_, err := fmt.Fprintln(out, "no events")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tTYPE\tCLASS\tRECIPIENT\tMESSAGE\tDETAIL")
	for _, e := range l.Items {
		detail := e.Reason
		if e.URL != "" {
			detail = strings.TrimSpace(e.URL + " " + e.Reason)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", when(e.At), e.Type, orDash(string(e.Class)), e.Recipient, e.MessageID, truncate(detail, 60))
	}
	if err := tw.Flush(); err != nil || l.NextCursor == "" {
		return err
	}
	_, err = fmt.Fprintf(out, "more: add --cursor %s\n", l.NextCursor)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// sinceTime reads --since: an RFC 3339 time, or a duration before now.
func sinceTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 && days <= 3650 {
			return now.AddDate(0, 0, -days).UTC().Truncate(time.Second), nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a duration such as 24h or 7d", v)
	}
	return now.Add(-d).UTC().Truncate(time.Second), nil
}

func statsShow(c *Client, out io.Writer, _ []string, o opts) error {
	now := time.Now()
	since, err := sinceTime(o.since, now)
	if err != nil {
		return fmt.Errorf("--since: %v%.0w", err, errUsage)
	}
	interval := o.interval
	if interval == "" {
		interval = "hour"
		if now.Sub(since) > 48*time.Hour {
			interval = "day"
		}
	}
	q := url.Values{"from": {since.Format(time.RFC3339)}, "to": {now.UTC().Format(time.RFC3339)}, "interval": {interval}}
	if o.groupBy != "" {
		q.Set("group_by", o.groupBy)
	}
	raw, err := c.Do("GET", "/v1/stats?"+q.Encode(), nil)
	if err != nil || o.json {
		return errors.Join(err, printJSON(out, raw))
	}
	var l struct{ Items []api.StatsItem }
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	if len(l.Items) == 0 {
		_, err := fmt.Fprintln(out, "nothing counted in that time")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "START\t"
	if o.groupBy != "" {
		head += strings.ToUpper(o.groupBy) + "\t"
	}
	fmt.Fprintln(tw, head+"OPENS\tUNIQUE\tCLICKS\tUNIQUE\tBOT\tPROXY\tUNSUBSCRIBES\tBOUNCES\tCOMPLAINTS\tRELAYED\t")
	layout := "2006-01-02 15:04"
	if interval == "day" {
		layout = "2006-01-02"
	}
	for _, it := range l.Items {
		row := it.Start.Format(layout) + "\t"
		if it.Group != nil {
			row += truncate(*it.Group, 50) + "\t"
		}
		bot, proxy := it.ByClass["bot"], it.ByClass["proxy"]
		fmt.Fprintf(tw, "%s%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", row, it.Opens, it.UniqueOpens, it.Clicks, it.UniqueClicks,
			bot.Opens+bot.Clicks, proxy.Opens+proxy.Clicks, it.Unsubscribes, it.Bounces.Hard+it.Bounces.Soft, it.Complaints, it.Relayed)
	}
	return tw.Flush()
}
