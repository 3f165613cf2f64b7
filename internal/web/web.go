package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/api"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/verify"
)

//go:embed templates/*.html templates/*.css templates/*.js
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"since": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"name":  displayName,
	"check": checkResult,
}).ParseFS(files, "templates/*.html"))

// displayName shows a domain name as people read it: an IDN in Unicode,
// with its ASCII (punycode) form beside it, so a look-alike name is seen.
func displayName(name string) template.HTML {
	u := domain.Display(name)
	if u == name {
		return template.HTML(template.HTMLEscapeString(name))
	}
	return template.HTML(template.HTMLEscapeString(u) + ` <span class="help punycode">(` + template.HTMLEscapeString(name) + `)</span>`)
}

// checkResult words a check's outcome: a transient one (the resolver,
// not the record) is not counted as a failure.
func checkResult(c *store.Check) string {
	switch {
	case c == nil:
		return "never checked"
	case c.OK:
		return "ok"
	case c.Code == string(verify.Transient):
		return "not counted"
	}
	return "failed"
}

// Server serves the dashboard.
type Server struct {
	// API is the REST API handler every page calls.
	API http.Handler
	// Box seals the session cookie (the signed-in key).
	Box *secret.Box
	Log *slog.Logger
	mux *http.ServeMux
}

// sessionCookie holds the sealed API key of the signed-in user.
const sessionCookie = "waymark_session"

// clusterCookie is the cluster an admin has switched to.
const clusterCookie = "waymark_cluster"

// sessionLife is how long a sign-in lasts.
const sessionLife = api.SessionLife

// New returns the dashboard handler.
func New(api http.Handler, box *secret.Box, log *slog.Logger) *Server {
	s := &Server{API: api, Box: box, Log: log, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /style.css", s.style)
	s.mux.HandleFunc("GET /app.js", s.script)
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("/", s.notFound)
	s.mux.HandleFunc("GET /login", s.loginForm)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /logout", s.signedIn(s.logout))
	s.mux.HandleFunc("GET /clusters", s.signedIn(s.clusters))
	s.mux.HandleFunc("POST /clusters/use", s.signedIn(s.useCluster))
	s.mux.HandleFunc("POST /clusters/{id}/delete", s.signedIn(s.clusterDelete))
	s.mux.HandleFunc("GET /delivery-servers", s.signedIn(s.listed(s.deliveryPage)))
	s.mux.HandleFunc("POST /delivery-servers", s.signedIn(s.deliveryAdd))
	s.mux.HandleFunc("POST /delivery-servers/{id}/delete", s.signedIn(s.deliveryDelete))
	s.mux.HandleFunc("GET /keys", s.signedIn(s.listed(s.keyPage)))
	s.mux.HandleFunc("POST /keys", s.signedIn(s.keyCreate))
	s.mux.HandleFunc("POST /keys/{id}/revoke", s.signedIn(s.keyRevoke))
	s.mux.HandleFunc("GET /sending-domains", s.signedIn(s.listed(s.sendingPage)))
	s.mux.HandleFunc("POST /sending-domains", s.signedIn(s.sendingAdd))
	s.mux.HandleFunc("GET /sending-domains/{id}", s.signedIn(s.sendingShow))
	s.mux.HandleFunc("POST /sending-domains/{id}/verify", s.signedIn(s.sendingAction("verify")))
	s.mux.HandleFunc("POST /sending-domains/{id}/rotate", s.signedIn(s.sendingAction("rotate")))
	s.mux.HandleFunc("POST /sending-domains/{id}/tracking", s.signedIn(s.sendingTracking))
	s.mux.HandleFunc("POST /sending-domains/{id}/dmarc", s.signedIn(s.sendingDMARC))
	s.mux.HandleFunc("GET /events", s.signedIn(s.events))
	s.mux.HandleFunc("GET /webhooks", s.signedIn(s.listed(s.webhookPage)))
	s.mux.HandleFunc("POST /webhooks", s.signedIn(s.webhookAdd))
	s.mux.HandleFunc("POST /webhooks/{id}/delete", s.signedIn(s.webhookDelete))
	s.mux.HandleFunc("GET /blocked-domains", s.signedIn(s.blockedShow))
	s.mux.HandleFunc("POST /blocked-domains", s.signedIn(s.blockedAdd))
	s.mux.HandleFunc("POST /blocked-domains/{domain}/delete", s.signedIn(s.blockedDelete))
	s.mux.HandleFunc("GET /suppressions", s.signedIn(s.listed(s.suppressionPage)))
	s.mux.HandleFunc("POST /suppressions", s.signedIn(s.suppressionAdd))
	s.mux.HandleFunc("POST /suppressions/import", s.signedIn(s.suppressionImport))
	s.mux.HandleFunc("POST /suppressions/delete", s.signedIn(s.suppressionDelete))
	s.mux.HandleFunc("GET /settings", s.signedIn(s.listed(s.settingsPage)))
	s.mux.HandleFunc("POST /settings", s.signedIn(s.settingsSave))
	s.mux.HandleFunc("GET /sessions", s.signedIn(s.sessionsShow))
	s.mux.HandleFunc("POST /sessions/{id}/end", s.signedIn(s.sessionEnd))
	s.mux.HandleFunc("GET /tracking-domains", s.signedIn(s.listed(s.trackingPage)))
	s.mux.HandleFunc("POST /tracking-domains", s.signedIn(s.trackingAdd))
	s.mux.HandleFunc("GET /tracking-domains/{id}", s.signedIn(s.trackingShow))
	s.mux.HandleFunc("POST /tracking-domains/{id}/verify", s.signedIn(s.trackingVerify))
	s.mux.HandleFunc("POST /tracking-domains/{id}/default", s.signedIn(s.trackingDefault))
	s.mux.HandleFunc("POST /tracking-domains/{id}/delete", s.signedIn(s.trackingDelete))
	s.mux.HandleFunc("POST /tracking-domains/{id}/home", s.signedIn(s.trackingHome))
	return s
}

// ServeHTTP implements http.Handler, with headers every page carries.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	if r.Method == http.MethodPost {
		// Forms are small; only the CSV import uploads a file, up to what
		// the API takes (32 MiB) and its multipart envelope. Nothing past
		// that is read, or spooled to disk, signed in or not.
		limit := int64(64 << 10)
		if r.URL.Path == "/suppressions/import" {
			limit = 33 << 20
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	if r.Method == http.MethodPost && crossSite(r) {
		// Login CSRF too: no form of another site may post here, signed in
		// or not (SameSite keeps the cookie off, not the post itself).
		http.Error(w, "This form did not come from this dashboard.", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// crossSite reports a request another site's page made: by the browser's
// Sec-Fetch-Site, or an Origin that is not this host.
func crossSite(r *http.Request) bool {
	if v := r.Header.Get("Sec-Fetch-Site"); v == "cross-site" || v == "same-site" {
		return true
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err != nil || u.Host != r.Host
	}
	return r.Header.Get("Origin") == "null"
}

// secure reports whether cookies must be Secure: always, except when the
// dashboard is reached directly on loopback over plain HTTP (a developer's
// machine); behind a TLS proxy the browser sees https and keeps them.
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err != nil || !ip.IsLoopback()
}

// apiFailed answers an API error on a page: a revoked or expired key signs
// the user out; anything else is an error page saying what happened.
func (s *Server) apiFailed(w http.ResponseWriter, r *http.Request, code int, e apiError) {
	if code == http.StatusUnauthorized {
		clearCookies(w, r)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	title := map[int]string{http.StatusNotFound: "Not found", http.StatusForbidden: "Not allowed"}[code]
	if title == "" {
		title = "Something went wrong"
	}
	sess, _ := s.openSession(r)
	s.render(w, code, "error.html", sess, map[string]any{"Title": title, "Message": e.Message})
}

func clearCookies(w http.ResponseWriter, r *http.Request) {
	for _, name := range []string{sessionCookie, clusterCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	}
}

func (s *Server) script(w http.ResponseWriter, r *http.Request) {
	b, _ := files.ReadFile("templates/app.js")
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(b)
}

func (s *Server) style(w http.ResponseWriter, r *http.Request) {
	b, _ := files.ReadFile("templates/style.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(b)
}

// session is a signed-in user.
type session struct {
	id      string // the API's session id: signing out ends it everywhere
	key     string // the API key
	token   string // the CSRF token of forms
	admin   bool
	cluster string // the cluster an admin acts on
}

// sealSession makes the cookie value: the session's expiry, id and key,
// sealed, so any node sharing the secret key file reads it and nobody else
// can.
func (s *Server) sealSession(id, key string, until time.Time) string {
	return url.QueryEscape(s.Box.Seal([]byte(until.UTC().Format(time.RFC3339)+" "+id+" "+key), "web session"))
}

func (s *Server) openSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	v, err := url.QueryUnescape(c.Value)
	if err != nil {
		return session{}, false
	}
	plain, err := s.Box.Open(v, "web session")
	if err != nil {
		return session{}, false
	}
	fields := strings.SplitN(string(plain), " ", 3)
	if len(fields) != 3 {
		return session{}, false
	}
	until, id, key := fields[0], fields[1], fields[2]
	t, err := time.Parse(time.RFC3339, until)
	if err != nil || time.Now().After(t) {
		return session{}, false
	}
	// The session must still be on: signing out ended it for every node.
	if code, _ := s.call(r, session{id: id, key: key}, "GET", "/v1/sessions/"+url.PathEscape(id), nil, nil); code != http.StatusOK {
		return session{}, false
	}
	// The CSRF token is bound to this cookie: a form from another site
	// cannot know it (and SameSite=Strict keeps the cookie off its posts).
	mac := hmac.New(sha256.New, []byte(c.Value))
	mac.Write([]byte("csrf"))
	sess := session{id: id, key: key, token: hex.EncodeToString(mac.Sum(nil))[:32], admin: strings.HasPrefix(key, "wma_")}
	if c, err := r.Cookie(clusterCookie); err == nil && sess.admin {
		sess.cluster = c.Value
	}
	return sess, true
}

// signedIn runs h for a signed-in user, checking the CSRF token of every
// POST; others go to the sign-in page.
func (s *Server) signedIn(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.openSession(r)
		if !ok {
			if _, err := r.Cookie(sessionCookie); err == nil {
				clearCookies(w, r) // an ended or stale session is forgotten
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(sess.token)) {
			http.Error(w, "This form has expired or did not come from this dashboard. Go back, reload the page and try again.", http.StatusForbidden)
			return
		}
		h(w, r, sess)
	}
}

// call runs one API request in process with the session's key and
// decodes the JSON answer into out (if not nil). It returns the status
// and, for an error answer, the API's message and field.
func (s *Server) call(r *http.Request, sess session, method, path string, body any, out any) (int, apiError) {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case rawBody:
		rd, contentType = b.body, b.contentType
	default:
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	ctx := r.Context()
	if sess.id != "" {
		ctx = api.FromSession(ctx) // a signed-in session's key, not a guess
	}
	req := httptest.NewRequestWithContext(ctx, method, path, rd)
	req.RemoteAddr = r.RemoteAddr               // the API throttles failed keys by client
	req.Header.Set("User-Agent", r.UserAgent()) // a session records its browser
	req.Header.Set("Authorization", "Bearer "+sess.key)
	if sess.cluster != "" {
		req.Header.Set("X-Waymark-Cluster", sess.cluster)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	s.API.ServeHTTP(rec, req)
	if rec.Code >= 400 {
		var e struct {
			Error apiError `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &e)
		e.Error.retryAfter = rec.Header().Get("Retry-After")
		return rec.Code, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil && rec.Code != http.StatusNoContent {
			s.Log.Error("dashboard: API answer", "path", path, "err", err)
		}
	}
	return rec.Code, apiError{}
}

// rawBody is a request body for call that is not JSON.
type rawBody struct {
	contentType string
	body        io.Reader
}

// apiError is the API's error shape.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
	// retryAfter is the answer's Retry-After header, passed on to the
	// browser with a 429.
	retryAfter string
}

// render writes a page; data gets the session's CSRF token.
func (s *Server) render(w http.ResponseWriter, status int, name string, sess session, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["CSRF"], data["SignedIn"], data["Admin"], data["Cluster"] = sess.token, sess.key != "", sess.admin, sess.cluster
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		s.Log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// notFound is the dashboard's 404, in its own style, with the way back.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.openSession(r)
	s.render(w, http.StatusNotFound, "error.html", sess, map[string]any{"Title": "Not found",
		"Message": "There is no page at " + r.URL.Path + " in the dashboard."})
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.openSession(r); !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/tracking-domains", http.StatusSeeOther)
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login.html", session{}, map[string]any{"Title": "Sign in", "Next": r.URL.Query().Get("next")})
}

// login checks the key against the API and sets the session cookie:
// HttpOnly, SameSite=Strict, Secure when served over TLS.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimSpace(r.PostFormValue("key"))
	var started api.Session
	code, e := s.call(r, session{key: key}, "POST", "/v1/sessions", nil, &started)
	if code == http.StatusTooManyRequests { // the API throttles wrong keys by client
		w.Header().Set("Retry-After", e.retryAfter)
		s.render(w, http.StatusTooManyRequests, "login.html", session{}, map[string]any{"Title": "Sign in", "Next": r.PostFormValue("next"),
			"Error": e.Message})
		return
	}
	if code >= 500 {
		s.render(w, http.StatusServiceUnavailable, "login.html", session{}, map[string]any{"Title": "Sign in", "Next": r.PostFormValue("next"),
			"Error": "The server could not sign you in just now (the key was not the problem): try again in a moment; the server's log has the cause."})
		return
	}
	if code != http.StatusCreated {
		s.render(w, http.StatusUnauthorized, "login.html", session{}, map[string]any{"Title": "Sign in", "Next": r.PostFormValue("next"),
			"Error": "That key was not accepted: paste a cluster key (wmk_…) or the admin key (wma_…)."})
		return
	}
	clearCookies(w, r) // a new sign-in starts with no cluster picked
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.sealSession(started.ID, key, started.ExpiresAt), Path: "/",
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode, MaxAge: int(sessionLife.Seconds())})
	next := r.PostFormValue("next")
	if !localPath.MatchString(next) {
		next = "/tracking-domains" // never off this site
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// localPath is a dashboard path a sign-in may return to: letters,
// digits, dashes and underscores only, so never another site.
var localPath = regexp.MustCompile(`^(/[A-Za-z0-9_-]+)+$`)

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess session) {
	// Ended on the server: the cookie, copied or not, opens nothing now.
	if code, e := s.call(r, sess, "DELETE", "/v1/sessions/"+url.PathEscape(sess.id), nil, nil); code != http.StatusNoContent {
		s.Log.Warn("dashboard: ending a session", "code", code, "err", e.Message)
	}
	clearCookies(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
