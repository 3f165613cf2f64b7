package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/waymark-mail/waymark/internal/backup"
	"github.com/waymark-mail/waymark/internal/cli"
)

// backupCmd runs `waymark backup [--data DIR] [--secret-key-file F] --to FILE`.
func backupCmd(args []string, env cli.Env) int {
	fs := flag.NewFlagSet("waymark backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var data, keyFile, to, db string
	fs.StringVar(&data, "data", "./waymark-data", "the data `DIR` of the embedded SQLite database")
	fs.StringVar(&keyFile, "secret-key-file", "", "the secret key `FILE` (default DIR/secret.key)")
	fs.StringVar(&to, "to", "", "the backup `FILE` to write (a gzip'd tar)")
	fs.StringVar(&db, "db", "", "set when the service runs on PostgreSQL: then back up with pg_dump")
	pos, err := cli.Parse(fs, args, env.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(env.Stdout, `usage: waymark backup [--data DIR] [--secret-key-file FILE] --to FILE

Writes a consistent copy of the embedded SQLite database, taken while the
service runs, and the secret key file into one gzip'd tar. Restore it by
extracting it into an empty data directory and starting serve on it:
  tar -xzf FILE -C DIR && waymark serve --data DIR
Run it as the service's user (the files are 0600). On PostgreSQL, use pg_dump
and copy the secret key file (docs/OPERATIONS.md#backup-and-restore).

flags (each also WAYMARK_<NAME>):
  --data DIR              the data directory (default ./waymark-data)
  --secret-key-file FILE  the secret key file (default DIR/secret.key)
  --to FILE               the backup to write; an older one there is replaced whole

examples:
  waymark backup --data /var/lib/waymark --to /srv/backup/waymark-$(date +%%F).tar.gz
`)
		return 0
	}
	if err == nil && len(pos) > 0 {
		err = fmt.Errorf("unexpected argument %q", pos[0])
	}
	if err == nil && to == "" {
		err = errors.New("--to FILE is required")
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "waymark backup: %s; see waymark backup --help\n", cli.FlagError(err))
		return 2
	}
	if db != "" {
		fmt.Fprintln(env.Stderr, "waymark backup: the service runs on PostgreSQL (--db): back up the database with pg_dump "+
			"(pg_dump --format=custom) and copy the secret key file; see docs/OPERATIONS.md#backup-and-restore")
		return 2
	}
	if keyFile == "" {
		keyFile = filepath.Join(data, "secret.key")
	}
	// Root opening the database of a stopped service would leave root's
	// -wal and -shm files beside it, which the service's user cannot open.
	if st, err := os.Stat(filepath.Join(data, backup.DatabaseName)); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && sys.Uid != 0 {
			fmt.Fprintf(env.Stderr, "waymark backup: run it as the owner of %s (uid %d), e.g. sudo -u waymark waymark backup …\n", data, sys.Uid)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sum, err := backup.Write(ctx, data, keyFile, to)
	if err != nil {
		fmt.Fprintf(env.Stderr, "waymark backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "backed up %s (schema %d, %d bytes) and %s to %s\nrestore: tar -xzf %s -C NEW_DATA_DIR && waymark serve --data NEW_DATA_DIR\n",
		filepath.Join(data, backup.DatabaseName), sum.Schema, sum.Database, keyFile, to, to)
	return 0
}
