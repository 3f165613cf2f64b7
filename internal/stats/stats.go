package stats

import (
	"time"

	"github.com/waymark-mail/waymark/internal/event"
)

// Counts are the counters of one hour (or interval) of one dimension.
type Counts struct {
	OpensHuman, OpensProxy, OpensBot    int64
	ClicksHuman, ClicksProxy, ClicksBot int64
	// UniqueOpens and UniqueClicks count a recipient once per message
	// (and, grouped by link, once per link): in the hour of the first.
	UniqueOpens, UniqueClicks int64
	Unsubscribes              int64
	// BouncesHard counts the hard and the failed (refused for good);
	// BouncesSoft those that outlasted the retries.
	BouncesHard, BouncesSoft int64
	Complaints, Relayed      int64
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.OpensHuman += o.OpensHuman
	c.OpensProxy += o.OpensProxy
	c.OpensBot += o.OpensBot
	c.ClicksHuman += o.ClicksHuman
	c.ClicksProxy += o.ClicksProxy
	c.ClicksBot += o.ClicksBot
	c.UniqueOpens += o.UniqueOpens
	c.UniqueClicks += o.UniqueClicks
	c.Unsubscribes += o.Unsubscribes
	c.BouncesHard += o.BouncesHard
	c.BouncesSoft += o.BouncesSoft
	c.Complaints += o.Complaints
	c.Relayed += o.Relayed
}

// Opens is every open, whatever its class.
func (c Counts) Opens() int64 { return c.OpensHuman + c.OpensProxy + c.OpensBot }

// Clicks is every click, whatever its class.
func (c Counts) Clicks() int64 { return c.ClicksHuman + c.ClicksProxy + c.ClicksBot }

// Dim is a dimension of the rollups.
type Dim string

// The dimensions: the cluster as a whole and the group_by values.
const (
	Total   Dim = ""
	Host    Dim = "host"
	Link    Dim = "link"
	Message Dim = "message"
	// SendingDomain: the sending domain the message was queued under.
	SendingDomain Dim = "sending_domain"
)

// Dims are the group_by values GET /v1/stats takes.
var Dims = []Dim{Host, Link, Message, SendingDomain}

// Key names one row of the rollups.
type Key struct {
	Cluster string
	Dim     Dim
	// Value is the host, link, message or sending domain ("" for Total).
	Value string
	// Hour is the start of the hour, in Unix microseconds (UTC).
	Hour int64
}

// HourOf is the start of t's hour in Unix microseconds.
func HourOf(t time.Time) int64 {
	us := t.UnixMicro()
	return us - mod(us, int64(time.Hour/time.Microsecond))
}

func mod(a, b int64) int64 {
	if m := a % b; m < 0 {
		return m + b
	} else {
		return m
	}
}

// Hit is what the rollups need of an event.
type Hit struct {
	Cluster   string
	Type      event.Type
	Class     event.Class
	At        time.Time
	Host, URL string
	MessageID string
	// SendingDomain is the name of the sending domain of the event's
	// message, "" if unknown (unsigned, or queued before it was recorded).
	SendingDomain string
	// First: the recipient's first of this type (open or click) for the
	// message; FirstOfLink: their first click on this link of it.
	First, FirstOfLink bool
}

// Count adds h to rows under every dimension it has: Total, its host,
// its message, its sending domain, and for a click its link. Events that no counter counts
// (forwards, web-version views) change nothing.
func Count(rows map[Key]*Counts, h Hit) {
	var c Counts
	first := int64(0)
	if h.First {
		first = 1
	}
	switch h.Type {
	case event.Open:
		c.OpensHuman, c.OpensProxy, c.OpensBot = byClass(h.Class)
		c.UniqueOpens = first
	case event.Click:
		c.ClicksHuman, c.ClicksProxy, c.ClicksBot = byClass(h.Class)
		c.UniqueClicks = first
	case event.Unsubscribe:
		c.Unsubscribes = 1
	case event.Bounce:
		if h.Class == event.Soft {
			c.BouncesSoft = 1
		} else {
			c.BouncesHard = 1
		}
	case event.Complaint:
		c.Complaints = 1
	case event.Relayed:
		c.Relayed = 1
	default:
		return
	}
	hour := HourOf(h.At)
	add := func(d Dim, v string, c Counts) {
		k := Key{Cluster: h.Cluster, Dim: d, Value: v, Hour: hour}
		if rows[k] == nil {
			rows[k] = &Counts{}
		}
		rows[k].Add(c)
	}
	add(Total, "", c)
	if h.Host != "" {
		add(Host, h.Host, c)
	}
	if h.MessageID != "" {
		add(Message, h.MessageID, c)
	}
	if h.SendingDomain != "" {
		add(SendingDomain, h.SendingDomain, c)
	}
	if h.Type == event.Click && h.URL != "" {
		lc := c
		lc.UniqueClicks = 0
		if h.FirstOfLink {
			lc.UniqueClicks = 1
		}
		add(Link, h.URL, lc)
	}
}

// byClass is one open or click as its human, proxy and bot counts (an
// unclassified one counts as a person's).
func byClass(c event.Class) (human, proxy, bot int64) {
	switch c {
	case event.Proxy:
		return 0, 1, 0
	case event.Bot:
		return 0, 0, 1
	}
	return 1, 0, 0
}

// Bucket is the start of the interval (hour or UTC day) holding hour.
func Bucket(hour int64, day bool) int64 {
	if !day {
		return hour
	}
	return hour - mod(hour, int64(24*time.Hour/time.Microsecond))
}
