package edge

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/realip"
	"github.com/waymark-mail/waymark/internal/track"
)

// The edge serves HTTP with fasthttp: in one run on two cores with wrk
// beside it, net/http answering a bare 302 made about half of nginx's
// rate, fasthttp more than nginx's (docs/BENCHMARKS.md). net/http's
// per-request goroutine hand-offs and background read cost more than the
// whole of a click's own work. So the hot path, a click or an open that
// will be answered with its 302 or pixel, is served here natively; every
// other request (front doors, unsubscribe and forward pages, web
// versions, 404s, ACME HTTP-01 challenges, anything odd) goes to the same
// net/http handler as before through fasthttpadaptor, so its behaviour is
// defined once, in ServeHTTP. Both paths share token(), event() and the
// recorder.
//
// fasthttpadaptor hands ServeHTTP a request whose strings (path, Host,
// headers) alias fasthttp's buffers, which the next request on the
// connection overwrites: nothing in ServeHTTP may keep one past the
// request (metric labels are the code's constants; events and logs copy).

// Fast returns the fasthttp handler of the edge: clicks and opens here,
// everything else to slow (the Edge's ServeHTTP behind the ACME and
// trusted-proxy handlers).
func (e *Edge) Fast(slow http.Handler, proxies realip.Proxies) fasthttp.RequestHandler {
	fallback := fasthttpadaptor.NewFastHTTPHandler(slow)
	counts := fastCounts{click: e.requests.WithLabelValues("c", "ok"), open: e.requests.WithLabelValues("o", "ok"),
		honeypot: e.requests.WithLabelValues("c", "honeypot")}
	return func(ctx *fasthttp.RequestCtx) {
		if e.fast(ctx, proxies, counts) {
			return
		}
		// A target net/http cannot read (a bad %-escape) is the client's
		// error: 400, as net/http's own server answers it, not the
		// adaptor's 500.
		if _, err := url.ParseRequestURI(string(ctx.RequestURI())); err != nil {
			e.requests.WithLabelValues("", "bad_request").Inc()
			ctx.Error("400 bad request: the request target is not a valid URI", http.StatusBadRequest)
			return
		}
		fallback(ctx)
	}
}

// counter is the part of a prometheus counter the hot path uses.
type counter interface{ Inc() }

// fastCounts are the fast path's outcomes in waymark_edge_requests_total.
type fastCounts struct{ click, open, honeypot counter }

// fast answers a GET or HEAD of a click or open link that is valid here
// and reports true, or leaves the request alone and reports false.
func (e *Edge) fast(ctx *fasthttp.RequestCtx, proxies realip.Proxies, counts fastCounts) bool {
	head := ctx.IsHead()
	if !head && !ctx.IsGet() {
		return false
	}
	// Only a plain /c/<token> or /o/<token> as it came on the wire: what
	// fasthttp would normalise (dots, double slashes, escapes) goes the
	// slow way, whose reading of the path is the reference.
	uri := ctx.RequestURI()
	if q := bytes.IndexByte(uri, '?'); q >= 0 {
		uri = uri[:q]
	}
	if len(uri) < 4 || uri[0] != '/' || uri[1] != 'c' && uri[1] != 'o' || uri[2] != '/' || !tokenBytes(uri[3:]) {
		return false
	}
	host := fastHost(ctx.Host())
	if ctx.IsTLS() {
		// Host and SNI must agree; the slow path answers 421.
		if sni := ctx.TLSConnectionState().ServerName; sni != "" && !strings.EqualFold(sni, host) {
			return false
		}
	}
	_, tok, why := e.token(host, string(uri))
	if why != "" {
		return false
	}
	if tok.Kind == track.Click && e.Links != nil && e.Links.Cached(tok.URL) != nil {
		return false // the slow path counts the click and shows why it is blocked
	}
	if !head {
		peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
		ip, bad := proxies.ClientOf(peer, func() []string {
			var v []string
			for k, val := range ctx.Request.Header.All() {
				if strings.EqualFold(string(k), "X-Forwarded-For") {
					v = append(v, string(val))
				}
			}
			return v
		})
		if bad != "" {
			return false // the slow path logs the proxy's bad entry
		}
		typ := event.Click
		if tok.Kind == track.Open {
			typ = event.Open
		}
		if err := e.Recorder.Record(ctx, e.event(tok, host, typ, ip.String(), string(ctx.UserAgent()))); err != nil {
			e.storeError(typ, tok.Kind, err)
			ctx.Response.Header.Set("Retry-After", "1")
			ctx.Error("503 service unavailable", http.StatusServiceUnavailable)
			return true
		}
	}
	h := &ctx.Response.Header
	switch tok.Kind {
	case track.Click, track.Honeypot:
		for _, kv := range clickHeaders {
			h.Set(kv[0], kv[1])
		}
		if tok.Kind == track.Honeypot {
			ctx.SetStatusCode(http.StatusNoContent)
			counts.honeypot.Inc()
			return true
		}
		h.Set("Location", hexEscapeNonASCII(tok.URL))
		ctx.SetStatusCode(http.StatusFound)
		counts.click.Inc()
	case track.Open:
		for _, kv := range pixelHeaders {
			h.Set(kv[0], kv[1])
		}
		if head {
			h.SetContentLength(len(gif))
		} else {
			ctx.SetBody(gif)
		}
		counts.open.Inc()
	}
	return true
}

// tokenBytes reports whether b is all base64url, the alphabet of tokens.
func tokenBytes(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return len(b) > 0
}

// fastHost is hostOf for a Host header's bytes, without its allocations
// for the usual name[:port] (anything else is no tracking host, and falls
// back to the slow path as a 404).
func fastHost(b []byte) string {
	if i := bytes.LastIndexByte(b, ':'); i >= 0 && bytes.IndexByte(b, ':') == i {
		b = b[:i]
	}
	b = bytes.TrimSuffix(b, []byte("."))
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return strings.ToLower(string(b))
		}
	}
	return string(b)
}

// hexEscapeNonASCII percent-encodes the bytes of s above 0x7f, as
// net/http's Redirect does with a Location.
func hexEscapeNonASCII(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// Server returns a fasthttp server for the edge's handler h, with the
// timeouts of the net/http servers it replaces. Headers may take 64 KiB
// (net/http allowed 1 MiB; nginx's default is 8 KiB a line): a tracking
// subdomain receives the cookies of its parent domain's site.
func Server(h fasthttp.RequestHandler, log *slog.Logger) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               h,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		ReadBufferSize:        64 << 10,
		MaxRequestBodySize:    64 << 10, // the unsubscribe and forward forms
		CloseOnShutdown:       true,
		Logger:                fastLogger{log},
	}
}

type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Debug("edge http", "msg", strings.TrimSpace(fmt.Sprintf(format, args...)))
}
