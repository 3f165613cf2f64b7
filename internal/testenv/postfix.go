package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Postfix is a private Postfix instance (apt postfix) on a loopback port,
// with its own configuration, queue and logs in a temporary directory. It
// accepts mail for every domain from loopback and delivers it into one
// Maildir, so a test reads what a mail server would have delivered.
type Postfix struct {
	// Addr is its SMTP listener, 127.0.0.1:port.
	Addr string
	bin  string // the postfix command
	dir  string
	t    testing.TB
	cmd  *exec.Cmd
}

// PostfixOptions adds to the instance's main.cf (such as smtpd_milters).
type PostfixOptions struct {
	MainCF []string
}

// StartPostfix starts an instance; it is stopped when the test ends.
func StartPostfix(t testing.TB, opts PostfixOptions) *Postfix {
	t.Helper()
	bin := lookBin(t, "postfix", "Postfix (apt postfix)")
	if os.Geteuid() != 0 {
		Missing(t, "root, to run a Postfix instance", fmt.Errorf("euid %d", os.Geteuid()))
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		Missing(t, "the postfix user (apt postfix)", err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "waymark-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, sub := range []string{"conf", "queue", "data", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid, gid := atoi(pf.Uid), atoi(pf.Gid)
	os.Chown(filepath.Join(dir, "data"), uid, gid)
	os.Chown(filepath.Join(dir, "mail"), 65534, 65534) // virtual(8) delivers as nobody
	main := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(dir, "queue"),
		"data_directory = " + filepath.Join(dir, "data"),
		"myhostname = mta.localhost",
		"mydomain = localhost",
		"inet_interfaces = 127.0.0.1",
		"inet_protocols = ipv4",
		"mydestination =",
		"mynetworks = 127.0.0.0/8",
		"local_recipient_maps =",
		"alias_maps =",
		"alias_database =",
		"virtual_mailbox_domains = static:all",
		"virtual_mailbox_base = " + filepath.Join(dir, "mail"),
		"virtual_mailbox_maps = static:box/",
		"virtual_uid_maps = static:65534",
		"virtual_gid_maps = static:65534",
		"smtpd_relay_restrictions = permit_mynetworks, reject",
		"smtputf8_enable = no",
		"maillog_file = /dev/stdout",
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 2s",
	}
	main = append(main, opts.MainCF...)
	if err := os.WriteFile(filepath.Join(dir, "conf", "main.cf"), []byte(strings.Join(main, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil { // the package's copy, when postfix was installed unconfigured
		if master, err = os.ReadFile("/usr/share/postfix/master.cf.dist"); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for _, l := range strings.Split(string(master), "\n") {
		if strings.HasPrefix(l, "smtp ") && strings.Contains(l, " inet ") {
			l = fmt.Sprintf("127.0.0.1:%d inet n - n - - smtpd", port)
		}
		lines = append(lines, l)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "master.cf"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Postfix{Addr: fmt.Sprintf("127.0.0.1:%d", port), bin: bin, dir: dir, t: t}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// Start runs the instance (again) and waits until it accepts connections.
func (p *Postfix) Start() {
	p.t.Helper()
	log, _ := os.OpenFile(filepath.Join(p.dir, "maillog"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	p.cmd = exec.Command(p.bin, "-c", filepath.Join(p.dir, "conf"), "start-fg")
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start postfix: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("tcp", p.Addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("postfix did not start:\n%s", p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the instance; its queue stays for the next Start.
func (p *Postfix) Stop() {
	if p.cmd == nil {
		return
	}
	exec.Command(p.bin, "-c", filepath.Join(p.dir, "conf"), "stop").Run()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", p.Addr); err != nil {
			return
		} else {
			c.Close()
		}
	}
}

// Log is the instance's mail log.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

// Delivered returns the messages delivered so far, oldest first.
func (p *Postfix) Delivered() [][]byte {
	dir := filepath.Join(p.dir, "mail", "box", "new")
	entries, _ := os.ReadDir(dir)
	type file struct {
		at   time.Time
		data []byte
	}
	var files []file
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
			files = append(files, file{fi.ModTime(), b})
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].at.Before(files[j].at) })
	out := make([][]byte, len(files))
	for i, f := range files {
		out[i] = f.data
	}
	return out
}

// WaitDelivered waits until n messages are delivered and returns them.
func (p *Postfix) WaitDelivered(n int, timeout time.Duration) [][]byte {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := p.Delivered()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("postfix delivered %d of %d messages in %s; its log:\n%s", len(got), n, timeout, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
