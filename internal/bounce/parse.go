package bounce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Kind is what a report is.
type Kind string

const (
	// DSN is a delivery status notification (RFC 3464).
	DSN Kind = "dsn"
	// ARF is a feedback report, a complaint (RFC 5965).
	ARF Kind = "arf"
)

// Report is a parsed DSN or ARF report.
type Report struct {
	Kind Kind
	// Recipients are the DSN's per-recipient fields (DSN only).
	Recipients []Recipient
	// FeedbackType is the ARF Feedback-Type, such as abuse (ARF only).
	FeedbackType string
	// OriginalMailFrom is the ARF Original-Mail-From (a VERP address, if
	// the message was ours).
	OriginalMailFrom string
	// QueueIDs are the X-Waymark-Queue-Id values of the returned message
	// or its headers, when the report includes them.
	QueueIDs []string
	// Reporter names who made the report: the Reporting-MTA (RFC 3464
	// section 2.2.2, RFC 5965 section 3.2), else an ARF's User-Agent.
	Reporter string
}

// Recipient is one recipient's status in a DSN.
type Recipient struct {
	// Address is the Final-Recipient (or Original-Recipient) address.
	Address string
	// Action is failed, delayed, delivered, relayed or expanded.
	Action string
	// Status is the RFC 3463 code, such as 5.1.1.
	Status string
	// Diagnostic is the Diagnostic-Code text, such as
	// "smtp; 550 5.1.1 no such user".
	Diagnostic string
}

// Hard reports a permanent failure: the address should not be mailed
// again.
func (r Recipient) Hard() bool { return r.Action == "failed" && strings.HasPrefix(r.Status, "5.") }

// Failed reports a failure of any kind (a failed or delayed action).
func (r Recipient) Failed() bool { return r.Action == "failed" || r.Action == "delayed" }

// ErrNotReport is returned for a message that is neither a DSN nor an ARF
// report (an auto-reply, or a non-standard bounce).
var ErrNotReport = errors.New("bounce: not a multipart/report DSN or ARF report")

// maxFieldBlocks bounds the per-recipient blocks read from one report.
const maxFieldBlocks = 1000

var statusCode = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)

// Parse reads a DSN or an ARF report from a whole message.
func Parse(msg []byte) (Report, error) {
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return Report{}, fmt.Errorf("bounce: %w", err)
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/report" {
		return Report{}, ErrNotReport
	}
	mr := e.MultipartReader()
	if mr == nil {
		return Report{}, ErrNotReport
	}
	var rep Report
	switch strings.ToLower(params["report-type"]) {
	case "delivery-status":
		rep.Kind = DSN
	case "feedback-report":
		rep.Kind = ARF
	default:
		return Report{}, ErrNotReport
	}
	seen := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if seen {
				break // a damaged trailing part: keep what was read
			}
			return Report{}, fmt.Errorf("bounce: %w", err)
		}
		pt, _, _ := p.Header.ContentType()
		switch pt {
		case "message/delivery-status", "message/global-delivery-status":
			if rep.Kind == DSN {
				if rep.Recipients, err = parseDeliveryStatus(p.Body, &rep.Reporter); err != nil {
					return Report{}, err
				}
				seen = true
			}
		case "message/feedback-report":
			if rep.Kind == ARF {
				if err := parseFeedback(p.Body, &rep); err != nil {
					return Report{}, err
				}
				seen = true
			}
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			h, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(p.Body, 1<<20)))
			if err == nil || h.Len() > 0 {
				for _, v := range h.Values("X-Waymark-Queue-Id") {
					if v = strings.TrimSpace(v); v != "" {
						rep.QueueIDs = append(rep.QueueIDs, v)
					}
				}
			}
		}
	}
	if !seen {
		return Report{}, fmt.Errorf("bounce: a %s report without its %s part", rep.Kind, map[Kind]string{DSN: "message/delivery-status", ARF: "message/feedback-report"}[rep.Kind])
	}
	return rep, nil
}

// parseDeliveryStatus reads the per-message block and then one block per
// recipient (RFC 3464 section 2.1).
func parseDeliveryStatus(r io.Reader, reporter *string) ([]Recipient, error) {
	br := bufio.NewReader(io.LimitReader(r, 4<<20))
	var out []Recipient
	for i := 0; i < maxFieldBlocks; i++ {
		skipBlankLines(br)
		if _, err := br.Peek(1); err != nil {
			break
		}
		h, err := textproto.ReadHeader(br)
		if err != nil && h.Len() == 0 {
			return out, fmt.Errorf("bounce: delivery-status fields: %w", err)
		}
		if i == 0 && !h.Has("Final-Recipient") && !h.Has("Original-Recipient") {
			if reporter != nil {
				*reporter = typedAddress(h.Get("Reporting-MTA"))
			}
			continue // the per-message fields
		}
		rc := Recipient{
			Address:    typedAddress(h.Get("Final-Recipient")),
			Action:     strings.ToLower(firstWord(h.Get("Action"))),
			Status:     firstWord(h.Get("Status")),
			Diagnostic: strings.Join(strings.Fields(h.Get("Diagnostic-Code")), " "),
		}
		if rc.Address == "" {
			rc.Address = typedAddress(h.Get("Original-Recipient"))
		}
		if !statusCode.MatchString(rc.Status) {
			rc.Status = ""
		}
		if rc.Address != "" || rc.Action != "" {
			out = append(out, rc)
		}
		if err != nil {
			break
		}
	}
	return out, nil
}

func parseFeedback(r io.Reader, rep *Report) error {
	h, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(r, 1<<20)))
	if err != nil && h.Len() == 0 {
		return fmt.Errorf("bounce: feedback-report fields: %w", err)
	}
	rep.FeedbackType = strings.ToLower(firstWord(h.Get("Feedback-Type")))
	rep.OriginalMailFrom = strings.Trim(strings.TrimSpace(h.Get("Original-Mail-From")), "<>")
	rep.Reporter = typedAddress(h.Get("Reporting-MTA"))
	if rep.Reporter == "" {
		rep.Reporter = strings.TrimSpace(h.Get("User-Agent"))
	}
	if rep.FeedbackType == "" {
		return fmt.Errorf("bounce: feedback-report without Feedback-Type")
	}
	return nil
}

func skipBlankLines(br *bufio.Reader) {
	for {
		b, err := br.Peek(1)
		if err != nil || (b[0] != '\r' && b[0] != '\n') {
			return
		}
		br.ReadByte()
	}
}

// typedAddress returns the address of an "rfc822; user@example.org" field.
func typedAddress(v string) string {
	if _, addr, ok := strings.Cut(v, ";"); ok {
		v = addr
	}
	return strings.ToLower(strings.Trim(strings.TrimSpace(v), "<>"))
}

func firstWord(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
