package autotls

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/waymark-mail/waymark/internal/store"
)

type tlsStatuses map[string]string

func (t tlsStatuses) SetTLSStatus(_ context.Context, name, status string) error {
	t[name] = status
	return nil
}

// TestCertFailedReported: each certificate the CA refuses is recorded as
// failed and reported to Failed with its error; one obtained is active.
func TestCertFailedReported(t *testing.T) {
	var got []string
	m := &Manager{log: slog.New(slog.NewTextHandler(io.Discard, nil)), failed: func(_ context.Context, name string, err error) {
		got = append(got, name+": "+err.Error())
	}}
	st := tlsStatuses{}
	on := m.onEvent(&statusOnly{tlsStatuses: st})
	if err := on(context.Background(), "cert_failed", map[string]any{"identifier": "track.acme.example", "error": errors.New("caa forbids")}); err != nil {
		t.Fatal(err)
	}
	if err := on(context.Background(), "cert_obtained", map[string]any{"identifier": "links.acme.example"}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "track.acme.example: caa forbids" || st["track.acme.example"] != "failed" || st["links.acme.example"] != "active" {
		t.Fatalf("reported %q, statuses %v", got, st)
	}
}

// statusOnly is a Store that records TLS statuses; its blobs are not
// used here.
type statusOnly struct {
	store.Blobs
	tlsStatuses
}
