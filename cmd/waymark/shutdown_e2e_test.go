package main

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// slowSink is a delivery server that takes delay to answer each message's
// DATA, and counts the copies it got by their X-Waymark-Queue-Id.
type slowSink struct {
	addr  string
	delay atomic.Int64 // nanoseconds
	mu    sync.Mutex
	seen  map[string]int
}

func startSlowSink(t *testing.T, delay time.Duration) *slowSink {
	t.Helper()
	k := &slowSink{seen: map[string]int{}}
	k.delay.Store(int64(delay))
	srv := smtp.NewServer(k)
	srv.Domain = "sink.localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return k
}

func (k *slowSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &slowSession{k: k}, nil }

func (k *slowSink) copies() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]int{}
	for id, n := range k.seen {
		out[id] = n
	}
	return out
}

type slowSession struct{ k *slowSink }

func (s *slowSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *slowSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *slowSession) Reset()                               {}
func (s *slowSession) Logout() error                        { return nil }

var queueIDHeader = regexp.MustCompile(`(?m)^X-Waymark-Queue-Id: ([a-z2-7]{16})`)

func (s *slowSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(time.Duration(s.k.delay.Load()))
	if m := queueIDHeader.FindSubmatch(b); m != nil {
		s.k.mu.Lock()
		s.k.seen[string(m[1])]++
		s.k.mu.Unlock()
	}
	return nil
}

// TestSIGTERMDeliversOnce: SIGTERM while a slow delivery server takes the
// queue lets the deliveries in flight finish and records them, gives back
// what was claimed but not started, and exits 0; after a restart every
// accepted message has arrived exactly once. (Before, the outcomes were
// recorded with the cancelled context, and the same messages went again
// after their lease.)
func TestSIGTERMDeliversOnce(t *testing.T) {
	sink := startSlowSink(t, 400*time.Millisecond)
	const lease = 3 * time.Second
	r := startRelay(t, nil, "WAYMARK_DELIVERY=smtp://"+sink.addr, fmt.Sprintf("WAYMARK_RELAY_LEASE=%s", lease))
	// One message to 12 recipients: 12 copies queued at once.
	var rcpts []string
	for i := range 12 {
		rcpts = append(rcpts, fmt.Sprintf("rcpt%d@example.org", i))
	}
	out, code := r.swaks(t, strings.Join(rcpts, ","), fmt.Sprintf(relayMessage, "sigterm"))
	m := regexp.MustCompile(`queued as msg_[0-9a-f]+ \(([a-z2-7 ]+)\)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("swaks: exit %d\n%s", code, out)
	}
	accepted := strings.Fields(m[1])
	if len(accepted) != len(rcpts) {
		t.Fatalf("%d copies queued: %s", len(accepted), m[0])
	}
	// Mid-delivery: some arrived, most not yet.
	for deadline := time.Now().Add(30 * time.Second); len(sink.copies()) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing delivered in 30 s:\n%s", r.srv.stderr)
		}
	}
	if err := r.srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.srv.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, r.srv.stderr)
	}
	if log := r.srv.stderr.String(); strings.Contains(log, "context canceled") || strings.Contains(log, "level=ERROR") {
		t.Fatalf("shutdown lost an outcome:\n%s", log)
	}
	before := len(sink.copies())
	if before == len(accepted) {
		t.Fatalf("all %d delivered before the signal took effect: the test proves nothing", before)
	}
	sink.delay.Store(0)
	startServe(t, r.env) // same database: the queue survives
	for deadline := time.Now().Add(60 * time.Second); len(sink.copies()) < len(accepted); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages arrived after the restart", len(sink.copies()), len(accepted))
		}
	}
	// A copy whose outcome was lost would go again once its claim's lease
	// ran out: wait out two leases, then count.
	time.Sleep(2 * lease)
	got := sink.copies()
	for _, id := range accepted {
		if got[id] != 1 {
			t.Errorf("%s arrived %d times", id, got[id])
		}
	}
	t.Logf("%d accepted, %d delivered before SIGTERM, each arrived once", len(accepted), before)
}
