package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/testenv"
)

// wrk runs wrk against url with a Host header and returns requests per
// second and the 50th and 99th latency percentiles in milliseconds.
func wrk(b *testing.B, url, host string) (rps, p50, p99 float64) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		testenv.Missing(b, "wrk (apt wrk)", err)
	}
	secs := os.Getenv("WAYMARK_WRK_SECONDS")
	if secs == "" {
		secs = "10"
	}
	out, err := exec.Command(bin, "-t", "2", "-c", "64", "-d", secs+"s", "--latency", "-H", "Host: "+host, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	num := func(re string) float64 {
		m := regexp.MustCompile(re).FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk output has no %s:\n%s", re, out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		switch string(m[2]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		return v
	}
	if regexp.MustCompile(`Non-2xx or 3xx responses`).Match(out) {
		b.Fatalf("wrk saw errors:\n%s", out)
	}
	rps = num(`Requests/sec:\s+([0-9.]+)()`)
	return rps, num(`50%\s+([0-9.]+)(us|ms|s)`), num(`99%\s+([0-9.]+)(us|ms|s)`)
}

// BenchmarkClickVsNginx measures click redirects, each answered once its
// event is on disk in the node's journal (waymark serve, group commit with
// fdatasync), and then nginx answering a static 302 on the same machine,
// both with wrk. It also reports the events per journal flush and how long
// the loader took, after wrk stopped, to have all of them in the store
// (embedded SQLite, synchronous=FULL); and the same wrk against the
// machine's bound for answering after fdatasync (startCeiling), with and
// without the fdatasync.
func BenchmarkClickVsNginx(b *testing.B) {
	for b.Loop() {
		srv := startServe(b, []string{"WAYMARK_HTTP=127.0.0.1:0", "WAYMARK_DATA=" + b.TempDir(), "WAYMARK_ROLES=api,edge", "WAYMARK_LOG_LEVEL=warn"})
		out := mustRun(b, []string{"WAYMARK_API=" + srv.api, "WAYMARK_KEY=" + srv.adminKey(b)}, "cluster", "create", "bench")
		key := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
		_, _, msg := apiCall(b, "POST", srv.api+"/v1/messages?dry_run=1&sign=0", key, "message/rfc822",
			"To: ann@example.com\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.example/sale\">x</a>\r\n")
		path := regexp.MustCompile(`https://t\.waymark\.localhost(/c/[A-Za-z0-9_-]+)`).FindStringSubmatch(msg)
		if path == nil {
			b.Fatalf("no link in\n%s", msg)
		}
		rps, p50, p99 := wrk(b, srv.edge+path[1], "t.waymark.localhost")
		b.ReportMetric(rps, "waymark-rps")
		b.ReportMetric(p50, "waymark-p50-ms")
		b.ReportMetric(p99, "waymark-p99-ms")
		stopped := time.Now()
		for metric(b, srv, "waymark_journal_pending_bytes") > 0 && time.Since(stopped) < 5*time.Minute {
			time.Sleep(50 * time.Millisecond)
		}
		b.ReportMetric(time.Since(stopped).Seconds(), "loader-catch-up-s")
		if n := metric(b, srv, "waymark_journal_flush_records_count"); n > 0 {
			b.ReportMetric(metric(b, srv, "waymark_journal_flush_records_sum")/n, "events/flush")
		}
		srv.cmd.Process.Signal(syscall.SIGTERM)
		srv.cmd.Wait()

		addr, stop := startNginx(b)
		rps, p50, p99 = wrk(b, "http://"+addr+path[1], "t.waymark.localhost")
		b.ReportMetric(rps, "nginx-rps")
		b.ReportMetric(p50, "nginx-p50-ms")
		b.ReportMetric(p99, "nginx-p99-ms")
		stop()

		// The bound of the rule on this machine: a bare event loop that
		// answers after fdatasync, and the same loop without it.
		for _, sync := range []bool{true, false} {
			addr, counts, stop := startCeiling(b, sync)
			rps, _, p99 := wrk(b, "http://"+addr+path[1], "t.waymark.localhost")
			flushes, recs := counts()
			stop()
			name := "ceiling"
			if !sync {
				name = "ceiling-nosync"
			}
			b.ReportMetric(rps, name+"-rps")
			b.ReportMetric(p99, name+"-p99-ms")
			if sync && flushes > 0 {
				b.ReportMetric(float64(recs)/float64(flushes), "ceiling-events/flush")
			}
		}
	}
}

// metric reads one unlabelled sample from a node's /metrics.
func metric(b *testing.B, srv *server, name string) float64 {
	v, ok := metricValue(b, srv, name+" ")
	if !ok {
		b.Fatalf("no %s in /metrics", name)
	}
	return v
}

// startNginx serves a static 302 from nginx on loopback, two workers.
func startNginx(b *testing.B) (string, func()) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			testenv.Missing(b, "nginx (apt nginx-light)", err)
		}
	}
	dir := b.TempDir()
	port, _ := testenv.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	conf := fmt.Sprintf(`daemon off;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
user root;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		location / { return 302 https://shop.example/sale; }
	}
}
`, dir, addr)
	confPath := filepath.Join(dir, "nginx.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	cmd := exec.Command(bin, "-c", confPath, "-p", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _, err := edgeGet("http://"+addr, "x", "/"); err == nil && code == 302 {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("nginx did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		cmd.Wait()
	}
}

// benchNewsletter is a 25 KB HTML newsletter with 40 links from the
// sending domain, numbered so that every copy has its own Message-ID.
func benchNewsletter(i int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: News <news@acme-mail.com>\r\nTo: reader%d@example.org\r\nSubject: Spring collection\r\n"+
		"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench%d@acme-mail.com>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>\r\n", i, i)
	for l := 0; b.Len() < 25_000; l++ {
		if l < 40 {
			fmt.Fprintf(&b, "<p>Our spring collection, item %d: light fabrics, bright colours. <a href=\"https://shop.example/item/%d?utm_source=news\">See item %d</a></p>\r\n", l, l, l)
		} else {
			b.WriteString("<p>Free returns within 30 days, delivery in two working days, and our promise of fair prices.</p>\r\n")
		}
	}
	b.WriteString("</body></html>\r\n")
	return []byte(b.String())
}

// submitAll sends n newsletters over conns connections at once (dial
// makes one authenticated client) and returns when all are accepted.
func submitAll(b *testing.B, n, conns int, dial func() (*smtp.Client, error)) {
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := dial()
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			for i := c; i < n; i += conns {
				err := cl.Mail("news@acme-mail.com", nil)
				if err == nil {
					err = cl.Rcpt(fmt.Sprintf("reader%d@example.org", i), nil)
				}
				var w *smtp.DataCommand
				if err == nil {
					w, err = cl.Data()
				}
				if err == nil {
					w.Write(benchNewsletter(i))
					err = w.Close()
				}
				if err != nil {
					errs <- fmt.Errorf("message %d: %w", i, err)
					return
				}
			}
			cl.Quit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkRelayVsPostfix sends the same 400 newsletters (25 KB, 40 links)
// down two paths on the same machine, 8 connections at once, and measures
// messages per second until the last is in the final Maildir:
// waymark (SMTP submission with STARTTLS and AUTH, tracking rewritten per
// recipient, DKIM RSA-2048, queued in SQLite with fsync, relayed) to a
// Postfix that delivers; and Postfix with OpenDKIM as its milter (DKIM
// RSA-2048, no rewriting) delivering itself.
func BenchmarkRelayVsPostfix(b *testing.B) {
	const n, conns = 400, 8
	for b.Loop() {
		r := startRelay(b, nil, "WAYMARK_LOG_LEVEL=warn", "WAYMARK_ROLES=api,dns,relay", "WAYMARK_SMTP_RATE=0")
		start := time.Now()
		submitAll(b, n, conns, func() (*smtp.Client, error) {
			c, err := smtp.DialStartTLS(r.smtp, &tls.Config{InsecureSkipVerify: true})
			if err == nil {
				err = c.Auth(sasl.NewPlainClient("", r.cluster, r.key))
			}
			return c, err
		})
		accepted := time.Since(start)
		r.postfix.WaitDelivered(n, 5*time.Minute)
		ours := time.Since(start)
		b.ReportMetric(float64(n)/ours.Seconds(), "waymark-msg/s")
		b.ReportMetric(float64(n)/accepted.Seconds(), "waymark-accept-msg/s")

		key, err := dkim.GenerateKey(dkim.RSA)
		if err != nil {
			b.Fatal(err)
		}
		sock := testenv.StartOpenDKIM(b, "acme-mail.com", "wm1", key,
			[]string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"},
			[]string{"From", "To", "Subject", "Date", "Message-ID"})
		pf := testenv.StartPostfix(b, testenv.PostfixOptions{MainCF: []string{"smtpd_milters = unix:" + sock, "milter_default_action = tempfail"}})
		start = time.Now()
		submitAll(b, n, conns, func() (*smtp.Client, error) { return smtp.Dial(pf.Addr) })
		got := pf.WaitDelivered(n, 5*time.Minute)
		peer := time.Since(start)
		if !strings.Contains(string(got[0]), "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=acme-mail.com") {
			b.Fatalf("OpenDKIM did not sign:\n%s", got[0])
		}
		b.ReportMetric(float64(n)/peer.Seconds(), "postfix-opendkim-msg/s")
	}
}

// postgresCPU is the CPU time (user and system) used so far by every
// process whose name is postgres, from /proc.
func postgresCPU(b *testing.B) time.Duration {
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(raw)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open || s[open+1:close] != "postgres" {
			continue
		}
		f := strings.Fields(s[close+2:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// BenchmarkClicksTwoNodesPostgres: two edge nodes on one PostgreSQL, each
// with its own journal and loader, take clicks at once (wrk, one thread
// and 32 connections on each); it reports the combined rate, how long the
// loaders took after wrk stopped to have every event in PostgreSQL, and
// PostgreSQL's CPU over the whole run.
func BenchmarkClicksTwoNodesPostgres(b *testing.B) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		testenv.Missing(b, "wrk (apt wrk)", err)
	}
	for b.Loop() {
		db := testenv.Postgres(b)
		key := "wma_abcdefghijklmnopqrstuvwxyz234567"
		keyFile := filepath.Join(b.TempDir(), "secret.key")
		var nodes [2]*server
		for i := range nodes {
			nodes[i] = startServe(b, []string{"WAYMARK_DB=" + db, "WAYMARK_ADMIN_KEY=" + key, "WAYMARK_HTTP=127.0.0.1:0", "WAYMARK_DATA=" + b.TempDir(),
				"WAYMARK_SECRET_KEY_FILE=" + keyFile, "WAYMARK_ROLES=api,edge", "WAYMARK_LOG_LEVEL=warn"})
		}
		out := mustRun(b, []string{"WAYMARK_API=" + nodes[0].api, "WAYMARK_KEY=" + key}, "cluster", "create", "bench")
		ckey := regexp.MustCompile(`wmk_[a-z2-7]+`).FindString(out)
		_, _, msg := apiCall(b, "POST", nodes[0].api+"/v1/messages?dry_run=1&sign=0", ckey, "message/rfc822",
			"To: ann@example.com\r\nContent-Type: text/html\r\n\r\n<a href=\"https://shop.example/sale\">x</a>\r\n")
		path := regexp.MustCompile(`https://t\.waymark\.localhost(/c/[A-Za-z0-9_-]+)`).FindStringSubmatch(msg)
		if path == nil {
			b.Fatalf("no link in\n%s", msg)
		}
		// The second node learns of the cluster within a second (the zone
		// serial): both answer the link before the load starts.
		for _, n := range nodes {
			deadline := time.Now().Add(10 * time.Second)
			for {
				if code, _, err := edgeGet(n.edge, "t.waymark.localhost", path[1]); err == nil && code == 302 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("node %s does not answer the link", n.edge)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		secs := os.Getenv("WAYMARK_WRK_SECONDS")
		if secs == "" {
			secs = "10"
		}
		cpu0 := postgresCPU(b)
		start := time.Now()
		var wg sync.WaitGroup
		rates := make([]float64, 2)
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := exec.Command(bin, "-t", "1", "-c", "32", "-d", secs+"s", "-H", "Host: t.waymark.localhost", n.edge+path[1]).CombinedOutput()
				if err != nil || regexp.MustCompile(`Non-2xx or 3xx responses`).Match(out) {
					b.Errorf("wrk: %v\n%s", err, out)
					return
				}
				m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out)
				if m != nil {
					rates[i], _ = strconv.ParseFloat(string(m[1]), 64)
				}
			}()
		}
		wg.Wait()
		stopped := time.Now()
		for _, n := range nodes {
			for metric(b, n, "waymark_journal_pending_bytes") > 0 && time.Since(stopped) < 5*time.Minute {
				time.Sleep(50 * time.Millisecond)
			}
		}
		caughtUp := time.Since(stopped)
		cpu := postgresCPU(b) - cpu0
		b.ReportMetric(rates[0]+rates[1], "combined-rps")
		b.ReportMetric(caughtUp.Seconds(), "loader-catch-up-s")
		b.ReportMetric(cpu.Seconds()/time.Since(start).Seconds(), "postgres-cores")
		for _, n := range nodes {
			n.cmd.Process.Signal(syscall.SIGTERM)
			n.cmd.Wait()
		}
	}
}
