package edge

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/track"
)

type nopRecorder struct{}

func (nopRecorder) Record(context.Context, store.Event) error { return nil }

// BenchmarkFastClick is the fast path's own work for one click (token,
// hosts, classification, the event, the answer's headers), in process,
// with a recorder that keeps nothing.
func BenchmarkFastClick(b *testing.B) {
	f := newFixture(&testing.T{})
	f.edge.Recorder = nopRecorder{}
	h := f.edge.Fast(f.edge, nil)
	path := "/c/" + f.token(clA, track.Click, "https://shop.example/sale", time.Now().Add(-time.Hour))
	var req fasthttp.Request
	req.SetRequestURI(path)
	req.SetHost("track.a.com")
	req.Header.SetUserAgent(chrome)
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, addr, nil)
		h(&ctx)
		if ctx.Response.StatusCode() != 302 {
			b.Fatal(ctx.Response.StatusCode())
		}
	}
}
