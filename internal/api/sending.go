package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
)

// SendingRecord is a customer record with its state.
type SendingRecord struct {
	Name  string             `json:"name"`
	Type  string             `json:"type"`
	Value string             `json:"value"`
	Kind  sending.RecordKind `json:"kind"`
	// Purpose is the kind with a note for people: "dkim (rsa, selector 1)".
	Purpose   string `json:"purpose"`
	Status    string `json:"status"`
	Diagnosis string `json:"diagnosis,omitempty"`
}

// DKIMState says which selector signs and when it changes.
type DKIMState struct {
	Algorithm    string    `json:"algorithm"`
	Selector     string    `json:"selector"`
	NextRotation time.Time `json:"next_rotation"`
}

// SendingDomain is a sending domain as the API shows it.
type SendingDomain struct {
	ID            string          `json:"id"`
	ClusterID     string          `json:"cluster_id"`
	Name          string          `json:"name"`
	Status        string          `json:"status"`
	ClickHost     string          `json:"click_host"`
	BounceHost    string          `json:"bounce_host"`
	ClickDomainID string          `json:"click_domain_id"`
	Algorithms    []string        `json:"algorithms"`
	Records       []SendingRecord `json:"records"`
	DKIM          []DKIMState     `json:"dkim"`
	FailedChecks  int             `json:"failed_checks"`
	LastCheck     *store.Check    `json:"last_check"`
	// Tracking is the domain's tracking defaults; inherit: the cluster's.
	Tracking Tracking `json:"tracking"`
	// DMARC is the domain's DMARC policy; DMARCRecord the TXT value the
	// platform zone serves for it.
	DMARC       sending.DMARC `json:"dmarc"`
	DMARCRecord string        `json:"dmarc_record"`
	CreatedAt   time.Time     `json:"created_at"`
}

func (s *Server) sendingJSON(r *http.Request, d store.SendingDomain) (SendingDomain, error) {
	return SendingDomainOf(r.Context(), s.store, s.platform, d)
}

// SendingDomainOf is the API's view of a sending domain (also webhook
// data): its records need its click host's tracking domain, read from st.
func SendingDomainOf(ctx context.Context, st TrackingDomainReader, platform string, d store.SendingDomain) (SendingDomain, error) {
	click, err := st.TrackingDomain(ctx, d.ClusterID, d.ClickDomainID)
	lost := errors.Is(err, store.ErrNotFound) // deleted before deletes checked who uses a domain
	if err != nil && !lost {
		return SendingDomain{}, err
	}
	return sendingDomainView(platform, d, click, lost)
}

// sendingDomainView is the API's view of d, whose click host is the
// tracking domain click (lost: deleted).
func sendingDomainView(platform string, d store.SendingDomain, click store.TrackingDomain, lost bool) (SendingDomain, error) {
	out := SendingDomain{ID: d.ID, ClusterID: d.ClusterID, Name: d.Name, Status: string(d.Status), ClickHost: d.ClickHost,
		BounceHost: d.BounceHost, ClickDomainID: d.ClickDomainID, Algorithms: d.Algorithms, FailedChecks: d.FailedChecks,
		LastCheck: d.LastCheck, CreatedAt: d.CreatedAt, Records: []SendingRecord{},
		Tracking: trackingOf(d.Tracking, Tracking{Opens: inherit, Clicks: inherit})}
	if own, err := sending.ParseDMARC(d.DMARC); err == nil {
		out.DMARC, out.DMARCRecord = own, own.Record()
	}
	if out.DMARC.P == "" {
		out.DMARC.P = "none" // the default policy's
	}
	for _, rec := range sending.CustomerRecords(d, platform, click.Target) {
		st := d.Records[rec.Name]
		status := string(st.Status)
		if rec.Name == d.ClickHost {
			status = string(click.Status)
			if lost {
				status, st.Diagnosis = string(domain.StatusPending), "the click host's tracking domain was deleted: delete this sending domain and add it again"
			}
		}
		if status == "" {
			status = string(domain.StatusPending)
		}
		out.Records = append(out.Records, SendingRecord{Name: rec.Name, Type: rec.Type, Value: rec.Value, Kind: rec.Kind,
			Purpose: rec.Purpose(), Status: status, Diagnosis: st.Diagnosis})
	}
	rot, err := sending.Rotations(d)
	if err != nil {
		return SendingDomain{}, err
	}
	for _, alg := range d.Algorithms {
		ks := rot[alg]
		out.DKIM = append(out.DKIM, DKIMState{Algorithm: alg, Selector: dkim.Algorithm(alg).Selectors()[ks.Signing],
			NextRotation: ks.SwitchAt})
	}
	return out, nil
}

// hostLabel checks a click_host or bounce_host label.
func hostLabel(v, dflt, field string) (string, *ErrorDetail) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return dflt, nil
	}
	if len(v) > 63 || strings.ContainsAny(v, "._ ") || strings.HasPrefix(v, "-") || strings.HasSuffix(v, "-") ||
		strings.IndexFunc(v, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' }) >= 0 {
		return "", &ErrorDetail{Code: field + "_invalid", Field: field,
			Message: fmt.Sprintf("%s %q must be one DNS label (letters, digits, hyphens), such as %q", field, v, dflt)}
	}
	return v, nil
}

// clickHostCounts says why adding a sending domain counts against the
// tracking-domain quota.
const clickHostCounts = " (each sending domain's click host is one)"

func (s *Server) createSendingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	var req struct {
		Name       string   `json:"name"`
		ClickHost  string   `json:"click_host"`
		BounceHost string   `json:"bounce_host"`
		Algorithms []string `json:"algorithms"`
	}
	if !decode(w, r, &req) {
		return
	}
	if s.overQuota(w, r, "sending domains", s.maxSending, func() (int, error) {
		all, err := s.store.SendingDomains(r.Context(), p.Cluster.ID)
		return len(all), err
	}) || s.overQuota(w, r, "tracking domains"+clickHostCounts, s.maxTracking, s.trackingCount(r, p.Cluster.ID)) {
		return
	}
	name, err := domain.SendingName(req.Name, s.platform)
	var nameErr *domain.NameError
	if errors.As(err, &nameErr) {
		writeError(w, http.StatusUnprocessableEntity, nameErr.Code, nameErr.Message, "name")
		return
	}
	clickLabel, e := hostLabel(req.ClickHost, "clicks", "click_host")
	if e == nil {
		var bounceLabel string
		if bounceLabel, e = hostLabel(req.BounceHost, "bounce", "bounce_host"); e == nil && bounceLabel == clickLabel {
			e = &ErrorDetail{Code: "bounce_host_invalid", Field: "bounce_host", Message: "bounce_host and click_host must differ"}
		}
		req.BounceHost = bounceLabel
	}
	if e != nil {
		writeError(w, http.StatusUnprocessableEntity, e.Code, e.Message, e.Field)
		return
	}
	algs := []string{string(dkim.RSA)}
	for _, a := range req.Algorithms {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != string(dkim.RSA) && a != string(dkim.Ed25519) {
			writeError(w, http.StatusUnprocessableEntity, "algorithm_unknown",
				fmt.Sprintf("algorithm %q is not rsa or ed25519 (RSA-2048 always signs; ed25519 adds a second signature)", a), "algorithms")
			return
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	clickHost := clickLabel + "." + name
	if _, err := domain.TrackingName(clickHost, s.platform); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "click_host_invalid", err.Error(), "click_host")
		return
	}
	if _, err := s.store.TrackingDomainByName(r.Context(), p.Cluster.ID, clickHost); err == nil {
		writeError(w, http.StatusConflict, "duplicate", fmt.Sprintf("%s is already a tracking domain of this cluster; choose another click_host", clickHost), "click_host")
		return
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	label := apikey.RandomHex(8)
	d := store.SendingDomain{ID: "sd_" + label, ClusterID: p.Cluster.ID, Name: name, Label: label, ClickHost: clickHost,
		BounceHost: req.BounceHost + "." + name, Algorithms: algs, Status: domain.StatusPending,
		Records: map[string]store.RecordState{}, CreatedAt: now, UpdatedAt: now, NextCheck: s.monitor.FirstCheck(now)}
	click := store.TrackingDomain{ID: apikey.NewID("td"), ClusterID: p.Cluster.ID, Name: clickHost, Target: s.target(),
		Status: domain.StatusPending, TLS: "none", CreatedAt: now, UpdatedAt: now, NextCheck: s.monitor.FirstCheck(now)}
	d.ClickDomainID = click.ID
	if long := sending.TooLong(d, s.platform, click.Target); long != "" {
		writeError(w, http.StatusUnprocessableEntity, domain.CodeTooLong, fmt.Sprintf(
			"%s would have to be published, and at %d characters it is over the %d a DNS name can have: add a shorter domain, or shorter click_host and bounce_host labels",
			long, len(long), sending.MaxName), "name")
		return
	}
	rot := map[string]dkim.KeyState{}
	var keys []store.DKIMKey
	for _, alg := range algs {
		rot[alg] = s.rotation.NewKeyState(now)
		for slot := range 2 {
			k, err := sending.NewKey(s.box, d.ID, alg, slot, now)
			if err != nil {
				s.internal(w, r, err)
				return
			}
			keys = append(keys, k)
		}
	}
	if err := sending.SetRotations(&d, rot, s.rotation); err != nil {
		s.internal(w, r, err)
		return
	}
	err = s.store.CreateSendingDomain(r.Context(), d, keys, click, s.limits())
	if writeQuota(w, err, clickHostCounts) {
		return
	}
	if errors.Is(err, store.ErrDuplicate) {
		writeError(w, http.StatusConflict, "duplicate", fmt.Sprintf("%s is already a sending domain of this cluster", name), "name")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("sending domain added", "cluster", d.ClusterID, "id", d.ID, "name", d.Name, "algorithms", strings.Join(algs, ","))
	s.writeSending(w, r, http.StatusCreated, d)
}

func (s *Server) writeSending(w http.ResponseWriter, r *http.Request, code int, d store.SendingDomain) {
	out, err := s.sendingJSON(r, d)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if code == http.StatusCreated {
		w.Header().Set("Location", "/v1/sending-domains/"+d.ID)
	}
	writeJSON(w, code, out)
}

// lookupSending finds the sending domain of the {id} segment (id or name).
func (s *Server) lookupSending(w http.ResponseWriter, r *http.Request, p principal) (store.SendingDomain, bool) {
	ref := r.PathValue("id")
	var d store.SendingDomain
	err := store.ErrNotFound
	if strings.HasPrefix(ref, "sd_") {
		d, err = s.store.SendingDomain(r.Context(), p.Cluster.ID, ref)
	} else if name, nerr := domain.Normalize(ref); nerr == nil {
		d, err = s.store.SendingDomainByName(r.Context(), p.Cluster.ID, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("sending domain %q not found in this cluster", ref), "")
		return d, false
	}
	if err != nil {
		s.internal(w, r, err)
		return d, false
	}
	return d, true
}

func (s *Server) listSendingDomains(w http.ResponseWriter, r *http.Request, p principal) {
	all, err := s.store.SendingDomains(r.Context(), p.Cluster.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	out := list[SendingDomain]{Items: make([]SendingDomain, 0, len(all))}
	for _, d := range all {
		j, err := s.sendingJSON(r, d)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		out.Items = append(out.Items, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// patchSendingDomain changes a sending domain's settings: its tracking
// defaults and its DMARC policy (null: the default), which the zone
// serves from the next query on.
func (s *Server) patchSendingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	d, ok := s.lookupSending(w, r, p)
	if !ok {
		return
	}
	var req struct {
		Tracking *Tracking       `json:"tracking"`
		DMARC    json.RawMessage `json:"dmarc"`
	}
	if !decode(w, r, &req) {
		return
	}
	var bad *ErrorDetail
	dmarcStored, dmarcSet := "", len(req.DMARC) > 0
	if dmarcSet && string(req.DMARC) != "null" {
		var policy sending.DMARC
		dec := json.NewDecoder(bytes.NewReader(req.DMARC))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&policy); err != nil {
			why := "it is not one"
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				why = fmt.Sprintf("dmarc.%s must be a %s", te.Field, map[bool]string{true: "number", false: "string or a list of strings"}[te.Field == "pct"])
			} else if strings.Contains(err.Error(), "unknown field") {
				why = strings.TrimPrefix(err.Error(), "json: ")
			}
			writeError(w, http.StatusUnprocessableEntity, "dmarc_invalid",
				"dmarc must be an object of p, sp, pct, adkim, aspf, fo, rua and ruf (RFC 7489 section 6.3): "+why, "dmarc")
			return
		}
		checked, err := policy.Check()
		var de *sending.DMARCError
		if errors.As(err, &de) {
			writeError(w, http.StatusUnprocessableEntity, "dmarc_invalid", de.Message, "dmarc."+de.Tag)
			return
		}
		dmarcStored = checked.Stored()
	}
	d, err := s.store.UpdateSendingDomain(r.Context(), p.Cluster.ID, d.ID, func(cur store.SendingDomain) (store.SendingDomain, []store.DKIMKey, error) {
		if cur.Tracking, bad = trackingChange(req.Tracking, cur.Tracking, true); bad != nil {
			return cur, nil, errBadRequestDetail
		}
		if dmarcSet {
			cur.DMARC = dmarcStored
		}
		return cur, nil, nil
	}, nil)
	switch {
	case bad != nil:
		writeError(w, http.StatusUnprocessableEntity, bad.Code, bad.Message, bad.Field)
		return
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("sending domain %q not found in this cluster", r.PathValue("id")), "")
		return
	case err != nil:
		s.internal(w, r, err)
		return
	}
	if dmarcSet {
		s.changedZone()
	}
	s.log.Info("sending domain changed", "cluster", d.ClusterID, "id", d.ID, "name", d.Name,
		"track_opens", d.Tracking.Opens, "track_clicks", d.Tracking.Clicks, "dmarc", d.DMARC)
	s.writeSending(w, r, http.StatusOK, d)
}

func (s *Server) getSendingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	if d, ok := s.lookupSending(w, r, p); ok {
		s.writeSending(w, r, http.StatusOK, d)
	}
}

func (s *Server) deleteSendingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	d, ok := s.lookupSending(w, r, p)
	if !ok {
		return
	}
	err := s.store.DeleteSendingDomain(r.Context(), p.Cluster.ID, d.ID)
	if inUse(w, err) {
		return
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("sending domain deleted", "cluster", d.ClusterID, "id", d.ID, "name", d.Name)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) verifySendingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	d, ok := s.lookupSending(w, r, p)
	if !ok {
		return
	}
	d, err := s.monitor.CheckSendingDomain(r.Context(), p.Cluster.ID, d.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.writeSending(w, r, http.StatusOK, d)
}

// rotateSendingDomain forces a key rotation of every algorithm, safely:
// the new keys are published now (or as soon as the keys they replace have
// been retired for the pre-publication time) and sign 72 hours later.
func (s *Server) rotateSendingDomain(w http.ResponseWriter, r *http.Request, p principal) {
	d, ok := s.lookupSending(w, r, p)
	if !ok {
		return
	}
	d, err := s.monitor.RotateKeys(r.Context(), p.Cluster.ID, d.ID, true)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.changedZone()
	s.log.Info("sending domain rotation forced", "cluster", d.ClusterID, "id", d.ID, "name", d.Name)
	s.writeSending(w, r, http.StatusOK, d)
}
