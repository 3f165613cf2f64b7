package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

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

// BenchmarkClickVsNginx measures click redirects with their events
// committed (waymark serve, embedded SQLite, synchronous=FULL) and then
// nginx answering a static 302 on the same machine, both with wrk.
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
		srv.cmd.Process.Signal(syscall.SIGTERM)
		srv.cmd.Wait()

		addr, stop := startNginx(b)
		rps, p50, p99 = wrk(b, "http://"+addr+path[1], "t.waymark.localhost")
		b.ReportMetric(rps, "nginx-rps")
		b.ReportMetric(p50, "nginx-p50-ms")
		b.ReportMetric(p99, "nginx-p99-ms")
		stop()
	}
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
