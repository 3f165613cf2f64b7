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
	fmt.Fprintln(tw, "NAME\tCREATED\tID")
	for _, cl := range l.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", cl.Name, when(cl.CreatedAt), cl.ID)
	}
	return tw.Flush()
}

func clusterShow(c *Client, out io.Writer, args []string, o opts) error {
	id, err := clusterRef(c, args[0])
	if err != nil {
		return err
	}
	raw, err := c.Do("GET", "/v1/clusters/"+url.PathEscape(id), nil)
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
	id, err := clusterRef(c, args[0])
	if err != nil {
		return err
	}
	raw, err := c.Do("PATCH", "/v1/clusters/"+url.PathEscape(id), body)
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
		when(cl.CreatedAt), cl.UnsignedMail, notify, cl.Tracking.Opens, cl.Tracking.Clicks)
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
			next = when(*r.NextAttempt)
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
		oldest = when(*q.Oldest)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Status, yesNo(d.Default), lastCheck(d, diagnosisWidth), d.TLS.Status, d.ID)
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
		d.ID, d.Name, d.Status, dflt, d.TLS.Status, d.FailedChecks, lastCheck(d, 0))
	if d.LastCheck != nil && len(d.LastCheck.Chain) > 0 {
		fmt.Fprintf(tw, "CHAIN\t%s\n", strings.Join(d.LastCheck.Chain, " -> "))
	}
	next := "on request"
	if d.NextCheck != nil {
		next = when(*d.NextCheck)
	}
	home := d.HomeURL
	if home == "" {
		home = "none (the edge's own page)"
	}
	fmt.Fprintf(tw, "NEXT CHECK\t%s\nHOME URL\t%s\nCREATED\t%s\n", next, home, when(d.CreatedAt))
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

// lastCheck is the last check's time and result; width cuts its diagnosis
// (0: whole).
func lastCheck(d api.TrackingDomain, width int) string {
	if d.LastCheck == nil {
		return "never"
	}
	diagnosis := d.LastCheck.Diagnosis
	if width > 0 {
		diagnosis = truncate(diagnosis, width)
	}
	result := "failed: " + diagnosis
	switch {
	case d.LastCheck.OK:
		result = "ok"
	case d.LastCheck.Code == string(verify.Transient): // the resolver, not the record: not a strike
		result = "not counted: " + diagnosis
		if strings.Contains(diagnosis, "not counted") {
			result = diagnosis // it says so itself
		}
	}
	return when(d.LastCheck.At) + " " + result
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
		fmt.Fprintf(tw, "DKIM %s\tselector %s, next rotation %s\n", k.Algorithm, k.Selector, when(k.NextRotation))
	}
	tw.Flush()
	fmt.Fprintln(out, "\nPublish these records at your DNS provider (DNS only, not proxied):")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tVALUE\tSTATUS\tPURPOSE")
	var failing []api.SendingRecord
	for _, r := range d.Records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Value, r.Status, r.Purpose)
		if r.Diagnosis != "" {
			failing = append(failing, r)
		}
	}
	tw.Flush()
	if len(failing) > 0 {
		fmt.Fprintln(out, "\nWhy these records do not verify yet:")
		for _, r := range failing {
			fmt.Fprintf(out, "  %s: %s\n", r.Name, r.Diagnosis)
		}
	}
	return nil
}

// diagnosisWidth is where a table cuts a check's diagnosis.
const diagnosisWidth = 40
