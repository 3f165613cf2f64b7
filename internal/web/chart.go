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

// chartSVG draws one series as stacked bars: an accessible image with a
// title and a text alternative listing the totals.
func chartSVG(s series, from, to time.Time) template.HTML {
	const w, h, pad = 600, 160, 24
	max := 1
	total := [3]int{}
	for _, c := range s.Counts {
		if sum := c[0] + c[1] + c[2]; sum > max {
			max = sum
		}
		for k := range total {
			total[k] += c[k]
		}
	}
	var b strings.Builder
	desc := fmt.Sprintf("%d %s events: %d human, %d from image proxies, %d from bots, %s to %s", total[0]+total[1]+total[2], s.Type,
		total[0], total[1], total[2], from.UTC().Format("Jan 2 15:04"), to.UTC().Format("Jan 2 15:04 UTC"))
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-labelledby="t-%s d-%s" class="chart">`, w, h+pad, s.Type, s.Type)
	fmt.Fprintf(&b, `<title id="t-%s">%ss over time</title><desc id="d-%s">%s</desc>`, s.Type, s.Type, s.Type, template.HTMLEscapeString(desc))
	bw := float64(w) / float64(max1(len(s.Counts)))
	for i, c := range s.Counts {
		y := float64(h)
		for k, cl := range classes {
			if c[k] == 0 {
				continue
			}
			bh := float64(c[k]) * float64(h-4) / float64(max)
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%d %s</title></rect>`,
				float64(i)*bw+1, y, bw-2, bh, cl.Color, c[k], cl.Label)
		}
	}
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" stroke="#4a4a4a"/>`, h, w, h)
	fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12" fill="#1a1a1a">%s</text>`, h+16, from.UTC().Format("Jan 2 15:04"))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#1a1a1a" text-anchor="end">%s</text>`, w, h+16, to.UTC().Format("Jan 2 15:04"))
	fmt.Fprintf(&b, `<text x="%d" y="12" font-size="12" fill="#1a1a1a" text-anchor="end">max %d</text>`, w, max)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from numbers and escaped text only
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
