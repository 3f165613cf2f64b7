package web

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/event"
)

// chartMax bounds the opens and the clicks the chart reads.
const chartMax = 20_000

func (s *Server) events(w http.ResponseWriter, r *http.Request, sess session) {
	if needCluster(w, r, sess) {
		return
	}
	q := r.URL.Query()
	typ, msg, cursor := q.Get("type"), q.Get("message_id"), q.Get("cursor")
	if typ != "" && !event.Type(typ).Valid() {
		typ = ""
	}
	rg := rangeOf(q.Get("range"))
	to := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-rg.Window)

	// The chart and the hosts: from the rollups (GET /v1/stats), however
	// many events the window had; for one message, from its events (up to
	// chartMax of each type; past that the page says the chart is cut short).
	var charts []map[string]any
	truncated := false
	type hostCount struct {
		Host          string
		Opens, Clicks int
	}
	var hosts []hostCount
	if msg == "" {
		var hourly struct{ Items []api.StatsItem }
		v := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "interval": {"hour"}}
		if code, e := s.call(r, sess, "GET", "/v1/stats?"+v.Encode(), nil, &hourly); code != http.StatusOK {
			s.apiFailed(w, r, code, e)
			return
		}
		for _, sr := range bucketizeStats(hourly.Items, from, to, rg.Buckets) {
			charts = append(charts, map[string]any{"Type": sr.Type, "SVG": chartSVG(sr, from, to, rg)})
		}
		var byHost struct{ Items []api.StatsItem }
		v.Set("interval", "day")
		v.Set("group_by", "host")
		if code, e := s.call(r, sess, "GET", "/v1/stats?"+v.Encode(), nil, &byHost); code != http.StatusOK {
			s.apiFailed(w, r, code, e)
			return
		}
		perHost := map[string][2]int{}
		for _, it := range byHost.Items {
			if it.Group != nil {
				c := perHost[*it.Group]
				perHost[*it.Group] = [2]int{c[0] + int(it.Opens), c[1] + int(it.Clicks)}
			}
		}
		for h, c := range perHost {
			if h != "" && c[0]+c[1] > 0 {
				hosts = append(hosts, hostCount{h, c[0], c[1]})
			}
		}
	} else {
		var all []api.Event
		for _, typ := range []event.Type{event.Open, event.Click} {
			next, n := "", 0
			for {
				v := url.Values{"since": {from.Format(time.RFC3339)}, "limit": {"1000"}, "type": {string(typ)}, "message_id": {msg}}
				if next != "" {
					v.Set("cursor", next)
				}
				var page struct {
					Items      []api.Event
					NextCursor string `json:"next_cursor"`
				}
				if code, e := s.call(r, sess, "GET", "/v1/events?"+v.Encode(), nil, &page); code != http.StatusOK {
					s.apiFailed(w, r, code, e)
					return
				}
				all, n = append(all, page.Items...), n+len(page.Items)
				if page.NextCursor == "" {
					break
				}
				if n >= chartMax {
					truncated = true
					break
				}
				next = page.NextCursor
			}
		}
		for _, sr := range bucketize(all, from, to, rg.Buckets) {
			charts = append(charts, map[string]any{"Type": sr.Type, "SVG": chartSVG(sr, from, to, rg)})
		}
		perHost := map[string][2]int{}
		for _, e := range all {
			c := perHost[e.Host]
			switch e.Type {
			case event.Open:
				c[0]++
			case event.Click:
				c[1]++
			}
			perHost[e.Host] = c
		}
		for h, c := range perHost {
			if h != "" {
				hosts = append(hosts, hostCount{h, c[0], c[1]})
			}
		}
	}
	slices.SortFunc(hosts, func(a, b hostCount) int { return (b.Opens + b.Clicks) - (a.Opens + a.Clicks) })

	// The table: one page of events, filtered, newest first, paging back
	// in time from the cursor.
	v := url.Values{"limit": {"50"}, "order": {"newest"}}
	for k, val := range map[string]string{"type": typ, "message_id": msg, "cursor": cursor} {
		if val != "" {
			v.Set(k, val)
		}
	}
	var page struct {
		Items      []api.Event
		NextCursor string `json:"next_cursor"`
	}
	if code, e := s.call(r, sess, "GET", "/v1/events?"+v.Encode(), nil, &page); code != http.StatusOK {
		s.apiFailed(w, r, code, e)
		return
	}
	nextURL := ""
	if page.NextCursor != "" {
		nv := url.Values{"cursor": {page.NextCursor}, "range": {rg.Name}}
		if typ != "" {
			nv.Set("type", typ)
		}
		if msg != "" {
			nv.Set("message_id", msg)
		}
		nextURL = "/events?" + nv.Encode()
	}
	s.render(w, http.StatusOK, "events.html", sess, map[string]any{"Title": "Events", "Charts": charts, "Classes": classes, "Truncated": truncated,
		"Hosts": hosts, "Events": page.Items, "Next": nextURL, "Type": typ, "MessageID": msg, "Types": event.Types,
		"Range": rg, "Ranges": chartRanges})
}
