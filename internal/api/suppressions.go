package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/store"
)

// Suppression is an entry of a cluster's suppression list.
type Suppression struct {
	Address   string    `json:"address"`
	Reason    string    `json:"reason"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

// SuppressionPage is a page of the list.
type SuppressionPage struct {
	Items      []Suppression `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// ImportResult says what a CSV import did.
type ImportResult struct {
	Added   int             `json:"added"`
	Already int             `json:"already"`
	Invalid []InvalidImport `json:"invalid"`
}

// InvalidImport is a line of a CSV import that was not an address.
type InvalidImport struct {
	Line  int    `json:"line"`
	Value string `json:"value"`
}

// MaxImport bounds the addresses of one CSV import.
const MaxImport = 100_000

// importLimit is MaxImport; tests lower it.
var importLimit = MaxImport

func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	query := store.SuppressionQuery{Reason: event.Reason(q.Get("reason")), Prefix: q.Get("prefix"), After: q.Get("cursor"), Limit: 100}
	if query.Reason != "" && !slices.Contains(event.Reasons, query.Reason) {
		writeError(w, http.StatusBadRequest, "invalid_query", fmt.Sprintf("reason must be one of unsubscribe, hard_bounce, complaint, manual, not %q", query.Reason), "reason")
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_query", "limit must be from 1 to 1000", "limit")
			return
		}
		query.Limit = n
	}
	list, err := s.store.ListSuppressions(r.Context(), p.Cluster.ID, query)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := SuppressionPage{Items: make([]Suppression, 0, len(list))}
	for _, e := range list {
		out.Items = append(out.Items, Suppression{Address: e.Address, Reason: string(e.Reason), Source: e.Source, CreatedAt: e.CreatedAt})
	}
	if len(list) == query.Limit {
		out.NextCursor = list[len(list)-1].Address
	}
	writeJSON(w, http.StatusOK, out)
}

// addSuppression adds one address (JSON {"address"}) or imports a CSV
// file (Content-Type text/csv: the first column of each line is an
// address; a header line is skipped), with the reason manual.
func (s *Server) addSuppression(w http.ResponseWriter, r *http.Request, p principal) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "text/csv" {
		s.importSuppressions(w, r, p)
		return
	}
	var req struct {
		Address string `json:"address"`
	}
	if !decode(w, r, &req) {
		return
	}
	addr, ok := suppressionAddress(req.Address)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "address_invalid", fmt.Sprintf("%q is not a plain email address (name@example.com; an ASCII local part, as the relay takes recipients)", req.Address), "address")
		return
	}
	e := store.Suppression{Address: addr, Reason: event.ReasonManual, Source: "api", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	err := s.store.AddSuppression(r.Context(), p.Cluster.ID, e)
	if errors.Is(err, store.ErrDuplicate) {
		writeError(w, http.StatusConflict, "duplicate", fmt.Sprintf("%s is already on this cluster's suppression list", addr), "address")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("suppression added", "cluster", p.Cluster.ID, "address", addr, "source", "api")
	writeJSON(w, http.StatusCreated, Suppression{Address: addr, Reason: string(e.Reason), Source: e.Source, CreatedAt: e.CreatedAt})
}

// suppressionAddress reads an address as the relay reads a recipient
// (domain.Mailbox: an IDN domain in its ASCII form), lower-cased as the
// list keeps it, so that the entry matches the RCPT it must stop.
func suppressionAddress(raw string) (string, bool) {
	a, err := domain.Mailbox(raw)
	if err != nil {
		return "", false
	}
	return strings.ToLower(a), true
}

// importBatch is how many addresses of a CSV import one transaction adds.
const importBatch = 1000

func (s *Server) importSuppressions(w http.ResponseWriter, r *http.Request, p principal) {
	cr := csv.NewReader(http.MaxBytesReader(w, r.Body, 32<<20))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	out := ImportResult{Invalid: []InvalidImport{}}
	now := time.Now().UTC().Truncate(time.Microsecond)
	batch := make([]store.Suppression, 0, importBatch)
	seen := map[string]bool{} // an address twice in the file counts as already there
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		added, err := s.store.AddSuppressions(r.Context(), p.Cluster.ID, batch)
		if err != nil {
			s.internal(w, r, err)
			return false
		}
		out.Added += added
		out.Already += len(batch) - added
		batch = batch[:0]
		return true
	}
	values := 0 // the values read, valid or not: MaxImport of them
	for first := true; ; first = false {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !flush() {
				return
			}
			writeError(w, http.StatusBadRequest, "invalid_csv", fmt.Sprintf("%v (the %d addresses before it were imported, nothing after it)", err, out.Added+out.Already), "")
			return
		}
		line, _ := cr.FieldPos(0) // the line in the file, blank lines counted
		v := strings.TrimSpace(rec[0])
		if first {
			v = strings.TrimSpace(strings.TrimPrefix(v, "\uFEFF")) // a spreadsheet's byte order mark
			if strings.EqualFold(v, "address") || strings.EqualFold(v, "email") {
				continue // the header
			}
		}
		if v == "" {
			continue
		}
		if values++; values > importLimit {
			if !flush() {
				return
			}
			writeError(w, http.StatusBadRequest, "invalid_csv", fmt.Sprintf("more than %d addresses: split the file (those before line %d were imported)", importLimit, line), "")
			return
		}
		addr, ok := suppressionAddress(v)
		if !ok {
			if len(out.Invalid) < 100 {
				out.Invalid = append(out.Invalid, InvalidImport{Line: line, Value: store.Text(v, 320)})
			}
			continue
		}
		if seen[addr] {
			out.Already++
			continue
		}
		seen[addr] = true
		batch = append(batch, store.Suppression{Address: addr, Reason: event.ReasonManual, Source: "csv import", CreatedAt: now})
		if len(batch) == importBatch && !flush() {
			return
		}
	}
	if !flush() {
		return
	}
	s.log.Info("suppressions imported", "cluster", p.Cluster.ID, "added", out.Added, "already", out.Already, "invalid", len(out.Invalid))
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteSuppression(w http.ResponseWriter, r *http.Request, p principal) {
	addr, ok := suppressionAddress(r.PathValue("address"))
	if !ok {
		addr = strings.ToLower(strings.TrimSpace(r.PathValue("address"))) // stored before the rule, perhaps
	}
	err := s.store.Unsuppress(r.Context(), p.Cluster.ID, addr)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s is not on this cluster's suppression list", addr), "")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("suppression removed", "cluster", p.Cluster.ID, "address", addr)
	w.WriteHeader(http.StatusNoContent)
}
