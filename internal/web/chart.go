package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/event"
)

// Classes stacked in the chart, bottom up, with their colours (each with
// at least 3:1 contrast on white) and names for the legend.
var classes = []struct {
	Name         event.Class
	Color, Label string
}{
	{event.Human, "#0b4f8a", "human"},
	{event.Proxy, "#8a5a00", "image proxy"},
	{event.Bot, "#7a1f5c", "bot or scanner"},
}

// series counts events of one type per time bucket and class.
type series struct {
	Type   event.Type
	Counts [][3]int // per bucket: human, proxy, bot
}

// bucketize counts opens and clicks in n equal buckets from from to to.
func bucketize(evs []api.Event, from, to time.Time, n int) []series {
	out := []series{{Type: event.Open, Counts: make([][3]int, n)}, {Type: event.Click, Counts: make([][3]int, n)}}
	span := to.Sub(from)
	if span <= 0 || n <= 0 {
		return out
	}
	for _, e := range evs {
		if e.At.Before(from) || !e.At.Before(to) {
			continue
		}
		i := int(int64(e.At.Sub(from)) * int64(n) / int64(span))
		c := 0
		switch e.Class {
		case event.Proxy:
			c = 1
		case event.Bot:
			c = 2
		}
		for s := range out {
			if out[s].Type == e.Type {
				out[s].Counts[i][c]++
			}
		}
	}
	return out
}

// bucketizeStats adds hourly rollups into n equal buckets from from to to.
func bucketizeStats(items []api.StatsItem, from, to time.Time, n int) []series {
	out := []series{{Type: event.Open, Counts: make([][3]int, n)}, {Type: event.Click, Counts: make([][3]int, n)}}
	span := to.Sub(from)
	if span <= 0 || n <= 0 {
		return out
	}
	for _, it := range items {
		if it.Start.Before(from) || !it.Start.Before(to) {
			continue
		}
		i := int(int64(it.Start.Sub(from)) * int64(n) / int64(span))
		for c, class := range []string{"human", "proxy", "bot"} {
			out[0].Counts[i][c] += int(it.ByClass[class].Opens)
			out[1].Counts[i][c] += int(it.ByClass[class].Clicks)
		}
	}
	return out
}

// chartRange is a span the events page charts: its length, its buckets,
// and where the x axis has a labelled tick.
type chartRange struct {
	Name    string // the query's range=
	Label   string // for the heading: "last 7 days"
	Window  time.Duration
	Buckets int
	Tick    time.Duration
	Format  string // of a tick's label
}

var chartRanges = []chartRange{
	{"24h", "last 24 hours", 24 * time.Hour, 24, 4 * time.Hour, "15:04"},
	{"7d", "last 7 days", 7 * 24 * time.Hour, 28, 24 * time.Hour, "Jan 2"},
	{"30d", "last 30 days", 30 * 24 * time.Hour, 30, 5 * 24 * time.Hour, "Jan 2"},
}

// rangeOf is the chart range a query names, 7 days when none or another.
func rangeOf(name string) chartRange {
	for _, r := range chartRanges {
		if r.Name == name {
			return r
		}
	}
	return chartRanges[1]
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten, so the y axis
// has round ticks.
func niceCeil(n int) int {
	if n <= 1 {
		return 1
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// chartSVG draws one series as stacked bars with a y axis of counts and an
// x axis of labelled times (UTC): an accessible image with a title and a
// text alternative listing the totals. The legend is the page's, above the
// charts, so nothing is drawn over the bars.
func chartSVG(s series, from, to time.Time, rg chartRange) template.HTML {
	const w, h = 640, 180                         // the whole image
	const left, right, top, bottom = 44, 8, 8, 26 // the plot's margins
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	peak := 0
	total := [3]int{}
	for _, c := range s.Counts {
		peak = max(peak, c[0]+c[1]+c[2])
		for k := range total {
			total[k] += c[k]
		}
	}
	ceil := niceCeil(peak)
	var b strings.Builder
	desc := fmt.Sprintf("%d %s events: %d human, %d from image proxies, %d from bots, %s to %s (at most %d in one bar)", total[0]+total[1]+total[2], s.Type,
		total[0], total[1], total[2], from.UTC().Format("Jan 2 15:04"), to.UTC().Format("Jan 2 15:04 UTC"), peak)
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-labelledby="t-%s d-%s" class="chart">`, w, h, s.Type, s.Type)
	fmt.Fprintf(&b, `<title id="t-%s">%ss over time</title><desc id="d-%s">%s</desc>`, s.Type, s.Type, s.Type, template.HTMLEscapeString(desc))
	// The y axis: 0, the middle (when a whole number) and the top, with
	// light grid lines.
	ticks := []int{0, ceil}
	if ceil%2 == 0 {
		ticks = []int{0, ceil / 2, ceil}
	}
	for _, v := range ticks {
		y := float64(top) + ph - float64(v)*ph/float64(ceil)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, left, y, w-right, y, map[bool]string{true: "#4a4a4a", false: "#dddddd"}[v == 0])
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="12" fill="#1a1a1a" text-anchor="end" dominant-baseline="middle">%d</text>`, left-6, y, v)
	}
	bw := pw / float64(max1(len(s.Counts)))
	for i, c := range s.Counts {
		y := float64(top) + ph
		for k, cl := range classes {
			if c[k] == 0 {
				continue
			}
			bh := float64(c[k]) * ph / float64(ceil)
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%d %s</title></rect>`,
				float64(left)+float64(i)*bw+1, y, max(bw-2, 1), bh, cl.Color, c[k], cl.Label)
		}
	}
	// The x axis: a tick and a label at every rg.Tick of UTC time.
	span := to.Sub(from)
	for t := from.UTC().Truncate(rg.Tick); !t.After(to); t = t.Add(rg.Tick) {
		if t.Before(from) {
			continue
		}
		x := float64(left) + pw*float64(t.Sub(from))/float64(span)
		anchor := "middle"
		switch {
		case x < float64(left)+20:
			anchor = "start"
		case x > float64(w-right)-20:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#4a4a4a"/>`, x, top+int(ph), x, top+int(ph)+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" fill="#1a1a1a" text-anchor="%s">%s</text>`, x, h-6, anchor, t.Format(rg.Format))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped text only
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
