package testenv

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for readiness checks
)

var (
	pgOnce sync.Once
	pgURL  string // server URL without a database name
	pgErr  error
	pgDBs  atomic.Int64
)

// Postgres returns the URL of a new, empty database on a throwaway
// PostgreSQL server that listens on 127.0.0.1. The server is shared by the
// tests of one binary; every call gets its own database.
func Postgres(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pgURL, pgErr = startPostgres() })
	if pgErr != nil {
		Missing(t, "PostgreSQL", pgErr)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pgDBs.Add(1))
	db, err := sql.Open("pgx", pgURL+"/postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return pgURL + "/" + name + "?sslmode=disable"
}

// PGBin finds a PostgreSQL program (initdb, postgres, pgbench), in PATH or
// under /usr/lib/postgresql, newest major version first.
func PGBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		return "", fmt.Errorf("%s not found in PATH or /usr/lib/postgresql/*/bin (apt-get install postgresql)", name)
	}
	sort.Slice(matches, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(matches[j]))))
		return vi > vj
	})
	return matches[0], nil
}

// FreePort returns a loopback port that is free for TCP and UDP now, for a
// peer whose port must be known before it starts. It is taken from below
// the kernel's ephemeral range (ip_local_port_range, 32768 and up by
// default), from which every :0 listener and outgoing connection of the
// tests running beside it draws: a port from there could be handed to one
// of them between this check and the peer's own bind.
func FreePort() (int, error) {
	const low, span = 20000, 12000
	start := rand.IntN(span)
	for i := range 500 {
		p := low + (start+int(portSeq.Add(1))*7919+i)%span
		tcp, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		udp, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		tcp.Close()
		if err != nil {
			continue
		}
		udp.Close()
		return p, nil
	}
	return 0, errors.New("testenv: no free loopback port below 32000")
}

// portSeq spreads the ports one process picks.
var portSeq atomic.Uint32

// startPostgres runs initdb and postgres in a temporary directory. PostgreSQL
// refuses to run as root, so as root the server runs as the postgres user.
func startPostgres() (string, error) {
	initdb, err := PGBin("initdb")
	if err != nil {
		return "", err
	}
	postgres, err := PGBin("postgres")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "waymark-pg-")
	if err != nil {
		return "", err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return "", err
	}
	srv := exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
	srv.Stdout, srv.Stderr = logf, logf
	// The server dies with the test binary even if the binary crashes.
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := srv.Start(); err != nil {
		return "", fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stoppers = append(stoppers, func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = srv.Process.Kill()
		}
		os.RemoveAll(dir)
	})
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d", port)
	db, err := sql.Open("pgx", url+"/postgres")
	if err != nil {
		return "", err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if err = db.PingContext(ctx); err == nil {
			return url, nil
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logf.Name())
			return "", fmt.Errorf("postgres exited (%v): %s", err, log)
		case <-ctx.Done():
			return "", errors.Join(errors.New("postgres did not become ready in 30s"), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
