package api

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/waymark-mail/waymark/internal/stats"
	"github.com/waymark-mail/waymark/internal/store"
)

// ClassCounts are the opens and clicks of one class.
type ClassCounts struct {
	Opens  int64 `json:"opens"`
	Clicks int64 `json:"clicks"`
}

// Bounces are the bounces by finality.
type Bounces struct {
	Hard int64 `json:"hard"`
	Soft int64 `json:"soft"`
}

// StatsItem is one bucket (of one group) of GET /v1/stats.
type StatsItem struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Group is the host, link, message or sending domain of the bucket,
	// with group_by.
	Group        *string                `json:"group,omitempty"`
	Opens        int64                  `json:"opens"`
	Clicks       int64                  `json:"clicks"`
	UniqueOpens  int64                  `json:"unique_opens"`
	UniqueClicks int64                  `json:"unique_clicks"`
	ByClass      map[string]ClassCounts `json:"by_class"`
	Unsubscribes int64                  `json:"unsubscribes"`
	Bounces      Bounces                `json:"bounces"`
	Complaints   int64                  `json:"complaints"`
	Relayed      int64                  `json:"relayed"`
}

func statsItem(start, end time.Time, group *string, c stats.Counts) StatsItem {
	return StatsItem{Start: start, End: end, Group: group, Opens: c.Opens(), Clicks: c.Clicks(), UniqueOpens: c.UniqueOpens,
		UniqueClicks: c.UniqueClicks, Unsubscribes: c.Unsubscribes, Bounces: Bounces{Hard: c.BouncesHard, Soft: c.BouncesSoft},
		Complaints: c.Complaints, Relayed: c.Relayed, ByClass: map[string]ClassCounts{
			"human": {Opens: c.OpensHuman, Clicks: c.ClicksHuman},
			"proxy": {Opens: c.OpensProxy, Clicks: c.ClicksProxy},
			"bot":   {Opens: c.OpensBot, Clicks: c.ClicksBot},
		}}
}

// maxBuckets bounds the buckets of one answer.
const maxBuckets = 2000

func (s *Server) getStats(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	interval := q.Get("interval")
	step := time.Hour
	switch interval {
	case "", "hour":
		interval = "hour"
	case "day":
		step = 24 * time.Hour
	default:
		writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("interval must be hour or day, not %q", interval), "interval")
		return
	}
	dim := stats.Dim(q.Get("group_by"))
	if dim != stats.Total && !slices.Contains(stats.Dims, dim) {
		writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("group_by must be host, link, message or sending_domain, not %q", dim), "group_by")
		return
	}
	to := time.Now().UTC()
	from := to.Add(-24 * time.Hour)
	if step > time.Hour {
		from = to.Add(-30 * 24 * time.Hour)
	}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("%s %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", f.name, v), f.name)
				return
			}
			*f.t = t.UTC()
		}
	}
	// Buckets are whole hours or UTC days: from rounds down, to up.
	from = time.UnixMicro(stats.Bucket(stats.HourOf(from), step > time.Hour)).UTC()
	if end := time.UnixMicro(stats.Bucket(stats.HourOf(to), step > time.Hour)).UTC(); end.Before(to) {
		to = end.Add(step)
	}
	if !from.Before(to) {
		writeError(w, http.StatusBadRequest, "invalid_query", "from must be before to", "from")
		return
	}
	if n := to.Sub(from) / step; n > maxBuckets {
		hint := "narrow from and to"
		if step == time.Hour {
			hint += ", or use interval=day"
		}
		writeError(w, http.StatusBadRequest, "invalid_query",
			fmt.Sprintf("%d %ss asked for; at most %d in one answer: %s", n, interval, maxBuckets, hint), "from")
		return
	}
	rows, err := s.store.Stats(r.Context(), p.Cluster.ID, store.StatsQuery{From: from, To: to, Day: step > time.Hour, Dim: dim})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[StatsItem]{Items: []StatsItem{}}
	if dim == stats.Total {
		// Every bucket, the empty ones too, so a chart has its axis.
		byStart := map[int64]stats.Counts{}
		for _, row := range rows {
			byStart[row.Start] = row.Counts
		}
		for t := from; t.Before(to); t = t.Add(step) {
			out.Items = append(out.Items, statsItem(t, t.Add(step), nil, byStart[t.UnixMicro()]))
		}
	} else {
		for _, row := range rows {
			start := time.UnixMicro(row.Start).UTC()
			group := row.Value
			out.Items = append(out.Items, statsItem(start, start.Add(step), &group, row.Counts))
		}
	}
	writeJSON(w, http.StatusOK, out)
}
