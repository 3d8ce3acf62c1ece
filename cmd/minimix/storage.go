package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"minimix/internal/storage/dbcopy"
)

// storageCmd runs "minimix storage copy -from sqlite:PATH -to
// postgres:DSN": it copies every table, prints per table the rows in the
// source and the destination and how many sampled rows hash alike, and
// fails unless all of them do.
func storageCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("minimix storage copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	from := fs.String("from", "", "source: sqlite:PATH")
	to := fs.String("to", "", "destination: postgres:DSN (postgres://user@host:5432/database)")
	sample := fs.Int("sample", 1000, "rows of each table read back and compared by hash; 0 compares every row")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *sample < 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	path, ok := strings.CutPrefix(*from, "sqlite:")
	if !ok || path == "" {
		fmt.Fprintln(stderr, "minimix storage copy: -from must be sqlite:PATH (the server's data_dir/minimix.db)")
		return 2
	}
	dsn, ok := strings.CutPrefix(*to, "postgres:")
	if strings.HasPrefix(*to, "postgres://") || strings.HasPrefix(*to, "postgresql://") {
		dsn, ok = *to, true
	}
	if !ok || dsn == "" {
		fmt.Fprintln(stderr, "minimix storage copy: -to must be postgres:DSN, as postgres:postgres://user@host:5432/database")
		return 2
	}
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "minimix storage copy: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := dbcopy.SQLiteToPostgres(ctx, path, dsn, dbcopy.Options{Sample: *sample, Progress: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "minimix storage copy: %v\n", err)
		return 1
	}
	rep.Write(stdout)
	if !rep.OK() {
		return 1
	}
	return 0
}
