//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/waymark-mail/waymark/internal/testenv"
)

// startCeiling serves the bound of "on disk before the answer" on this
// machine, for BenchmarkClickVsNginx: two event loops (as nginx's two
// workers), each with a journal file of its own, that read every request
// ready, append a 150-byte record per request, fdatasync (durable) and only
// then write the static 302s of that round, as Redis does with
// appendfsync always. No Go scheduler hand-off, no token, no event: the
// least a server can do per click and still keep each answered click on
// disk. What waymark's edge reaches is measured against it
// (docs/ARCHITECTURE.md#where-the-time-goes). It is a measuring tool, not
// a server: no timeouts, no limits, GET only.
func startCeiling(b *testing.B, durable bool) (addr string, records func() (flushes, recs int64), stop func()) {
	port, err := testenv.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var stopped atomic.Bool
	var nflush, nrec atomic.Int64
	var wg sync.WaitGroup
	for i := range 2 {
		lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
		if err := syscall.Bind(lfd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Listen(lfd, 1024); err != nil {
			b.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("journal.%d", i)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		// Zero-filled first, as the journal's segments: a flush then
		// carries no metadata.
		const size = 64 << 20
		if _, err := f.Write(make([]byte, size)); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			defer syscall.Close(lfd)
			ceilingLoop(lfd, int(f.Fd()), size, durable, &stopped, &nflush, &nrec)
		}()
	}
	return fmt.Sprintf("127.0.0.1:%d", port), func() (int64, int64) { return nflush.Load(), nrec.Load() }, func() {
		stopped.Store(true)
		wg.Wait()
	}
}

var ceilingAnswer = []byte("HTTP/1.1 302 Found\r\nLocation: https://shop.example/sale\r\nCache-Control: private, no-store\r\nContent-Length: 0\r\n\r\n")

func ceilingLoop(lfd, jfd int, size int64, durable bool, stopped *atomic.Bool, nflush, nrec *atomic.Int64) {
	runtime.LockOSThread()
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		panic(err)
	}
	defer syscall.Close(epfd)
	syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, lfd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(lfd)})
	type conn struct {
		in   []byte
		owed int
	}
	conns := map[int]*conn{}
	defer func() {
		for fd := range conns {
			syscall.Close(fd)
		}
	}()
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	record := make([]byte, 150)
	var journal, out []byte
	var owed []int
	var off int64
	for !stopped.Load() {
		n, err := syscall.EpollWait(epfd, events, 100)
		if err != nil && err != syscall.EINTR {
			panic(err)
		}
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == lfd {
				for {
					c, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					syscall.SetsockoptInt(c, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
					conns[c] = &conn{}
					syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, c, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c)})
				}
				continue
			}
			c := conns[fd]
			if c == nil {
				continue
			}
			m, err := syscall.Read(fd, buf)
			if err == syscall.EAGAIN {
				continue
			}
			if m <= 0 || err != nil {
				syscall.Close(fd)
				delete(conns, fd)
				continue
			}
			c.in = append(c.in, buf[:m]...)
			for {
				end := bytes.Index(c.in, []byte("\r\n\r\n"))
				if end < 0 {
					break
				}
				c.in = c.in[:copy(c.in, c.in[end+4:])]
				journal = append(journal, record...)
				if c.owed == 0 {
					owed = append(owed, fd)
				}
				c.owed++
			}
		}
		if len(owed) == 0 {
			continue
		}
		if off+int64(len(journal)) > size {
			off = 0
		}
		if _, err := syscall.Pwrite(jfd, journal, off); err != nil {
			panic(err)
		}
		off += int64(len(journal))
		journal = journal[:0]
		if durable {
			if err := syscall.Fdatasync(jfd); err != nil {
				panic(err)
			}
		}
		nflush.Add(1)
		for _, fd := range owed {
			c := conns[fd]
			if c == nil {
				continue
			}
			nrec.Add(int64(c.owed))
			out = out[:0]
			for ; c.owed > 0; c.owed-- {
				out = append(out, ceilingAnswer...)
			}
			syscall.Write(fd, out)
		}
		owed = owed[:0]
	}
}
