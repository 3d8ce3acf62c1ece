// Package sqlite is the embedded storage backend: one SQLite file in WAL
// mode, driven by modernc.org/sqlite so that the server stays a single
// static binary with no C toolchain. It implements storage.Store and passes
// the storagetest conformance suite.
//
// SQLite admits one writer at a time. Rather than letting concurrent
// writers race for the file lock and sleep in SQLite's busy handler, every
// write (a transaction or a single statement) runs under an in-process
// semaphore, so
// writers queue in Go (in arrival order, honouring their contexts) while
// readers proceed in parallel on the other pooled connections, which WAL
// allows. busy_timeout and BEGIN IMMEDIATE remain as the safety net for a
// second process (an admin command) opening the same file.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeoutMillis bounds how long a connection waits for a lock held by
// another process before failing with SQLITE_BUSY. In-process writers never
// reach it because they are serialised before they touch the file.
const busyTimeoutMillis = 10000

// cacheKiB is each connection's page cache, and mmapBytes how much of the
// file is mapped into memory; pages mapped are shared between the
// connections and the operating system's cache.
const (
	cacheKiB  = 65536
	mmapBytes = 1 << 30
)

// DB is a storage.Store kept in one SQLite file. It is safe for concurrent
// use by multiple goroutines.
type DB struct {
	sql  *sql.DB
	path string

	// writeSem holds one token; a writer takes it for the duration of its
	// transaction. A channel rather than a sync.Mutex so that a writer
	// waiting behind a slow one gives up when its context ends.
	writeSem chan struct{}

	// archive is the write-behind queue of archive records and
	// memberships (archive_queue.go); Archive the archive's operations
	// over it (archive_query.go).
	archive sqlarchive.Queue
	*sqlarchive.Archive

	// stmts holds prepared read statements by their text (rtx).
	stmts  sync.Map
	nstmts atomic.Int64
	// preparing counts the goroutines preparing a statement (prepared),
	// which Close waits for; prepMu orders their start with Close's
	// prepClosed, after which none starts.
	prepMu     sync.Mutex
	prepClosed bool
	preparing  sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	// prepareHook, when set (by tests), is called by a preparing
	// goroutine before it prepares.
	prepareHook func()
}

var _ storage.Store = (*DB)(nil)

// Open opens the database at path, creating it and its parent directory if
// missing, and brings its schema up to date. The directory is created 0700
// and the file 0600 because the file holds credentials and message
// archives; SQLite gives its -wal and -shm files the same mode as the
// database file.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	// The driver treats everything after '?' as connection parameters.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: open %q: path must not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: create directory: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}

	// Connection pragmas go in the DSN because database/sql opens
	// connections lazily: each new pooled connection must get the same
	// settings, not only the first one. _txlock=immediate makes every
	// read-write transaction take the write lock at BEGIN, so a
	// transaction that reads before writing cannot fail half-way with
	// SQLITE_BUSY_SNAPSHOT; read-only transactions still use plain BEGIN.
	//
	// The page cache is made large (cacheKiB) and the file memory-mapped
	// (mmapBytes): with SQLite's 2 MB default, an archive's indexes no
	// longer fit once a few hundred accounts are active, and every insert
	// reads pages back with a system call.
	dsn := fmt.Sprintf("%s?_busy_timeout=%d&_foreign_keys=on&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"+
		"&_pragma=cache_size(-%d)&_pragma=mmap_size(%d)",
		path, busyTimeoutMillis, cacheKiB, mmapBytes)
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	// Readers run in parallel under WAL; a few more connections than cores
	// keeps a reader available while the writer holds one. Idle connections
	// are kept because opening one re-runs the pragmas.
	conns := max(4, runtime.GOMAXPROCS(0)+1)
	sqldb.SetMaxOpenConns(conns)
	sqldb.SetMaxIdleConns(conns)

	db := &DB{sql: sqldb, path: path, writeSem: make(chan struct{}, 1)}
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if err := db.initArchiveQueue(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	return db, nil
}

// Close checkpoints the write-ahead log into the database file, truncating
// the log, and closes every connection. After Close the database file alone
// holds all committed data, which is what the server's shutdown promises.
// Close waits for the statements being prepared and the queued archive
// writes, and is safe to call more than once. Its caller stops its own
// readers first; a read still in progress (a caller not stopped in time)
// is waited for, up to closeWait: database/sql closes a connection in use
// only when it is given back, and the database file and its -wal would
// stay open after Close returned.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		// Statements being prepared hold connections of their own, which
		// database/sql's Close would not wait for: the database file and
		// its -wal would stay open, and SQLite would still write and
		// remove files in its directory after Close returned.
		db.prepMu.Lock()
		db.prepClosed = true
		db.prepMu.Unlock()
		db.preparing.Wait()
		// Archive records still queued are written first.
		db.archive.Close()
		// Take the writer token so that the checkpoint does not race a
		// write still in flight; a bounded wait would only trade a clean
		// checkpoint for a faster exit, and SQLite checkpoints again when
		// the last connection closes anyway.
		db.writeSem <- struct{}{}
		// Released after the close so that a later write fails at once
		// with the driver's "database is closed" instead of waiting.
		defer func() { <-db.writeSem }()
		var errs []error
		// A read in progress would also make the checkpoint wait out
		// busy_timeout.
		if err := db.waitConns("in use", func(st sql.DBStats) int { return st.InUse }); err != nil {
			errs = append(errs, err)
		}
		if _, err := db.sql.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint: %w", err))
		}
		if err := db.sql.Close(); err != nil {
			errs = append(errs, err)
		}
		// What began before the close ends on connections that close as
		// it does.
		if err := db.waitConns("open", func(st sql.DBStats) int { return st.OpenConnections }); err != nil {
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			db.closeErr = fmt.Errorf("sqlite: close %q: %w", db.path, err)
		}
	})
	return db.closeErr
}

// closeWait bounds how long Close waits for reads in progress, and
// closePoll is how often it looks: database/sql tells of connections
// given back only through its statistics.
const (
	closeWait = 5 * time.Second
	closePoll = time.Millisecond
)

// waitConns waits up to closeWait until count of the pool's statistics
// is 0; what says which connections it counts, for the error.
func (db *DB) waitConns(what string, count func(sql.DBStats) int) error {
	deadline := time.Now().Add(closeWait)
	for {
		n := count(db.sql.Stats())
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d connections still %s after %v", n, what, closeWait)
		}
		time.Sleep(closePoll)
	}
}

// write runs fn in a read-write transaction, serialised with every other
// write of db, and commits it if fn returns nil. what names the operation in
// errors from the transaction itself; fn wraps its own errors.
func (db *DB) write(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	select {
	case db.writeSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("sqlite: %s: %w", what, ctx.Err())
	}
	defer func() { <-db.writeSem }()

	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", what, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: commit: %w", what, err)
	}
	return nil
}

// exec runs one statement as a transaction of its own (SQLite's
// autocommit), serialised with every other write. It spares the hot
// single-statement writes the BEGIN and COMMIT round trips of write, about
// a quarter of an archive append.
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case db.writeSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-db.writeSem }()
	return db.sql.ExecContext(ctx, query, args...)
}

// read runs fn in a read-only transaction, so that the several queries of
// one operation see a single snapshot. It does not wait for writers.
func (db *DB) read(ctx context.Context, what string, fn func(tx rtx) error) error {
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", what, err)
	}
	defer tx.Rollback()
	return fn(rtx{tx, db})
}

// querier is what reads need of a transaction, read-only (rtx) or not.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// rtx is a read transaction whose queries are prepared once per database
// and then reused: SQLite's parser and planner would otherwise run for
// every query, which costs more than a small query itself.
type rtx struct {
	*sql.Tx
	db *DB
}

// QueryContext runs q, prepared once.
func (t rtx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.db.prepared(ctx, q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs q, prepared once.
func (t rtx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.db.prepared(ctx, q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

// maxPrepared bounds the statements kept prepared. The queries built at
// run time (the archive's) come in a bounded number of shapes, all of
// which fit.
const maxPrepared = 2000

// prepared returns q prepared on db, or nil the first time q is seen:
// preparing on db needs a connection of its own, and a caller inside a
// transaction waiting for one could wait forever when every connection
// is another such caller's. So the first use runs unprepared while a
// goroutine prepares q for the next.
func (db *DB) prepared(ctx context.Context, q string) *sql.Stmt {
	if st, ok := db.stmts.Load(q); ok {
		if st == nil {
			return nil // being prepared
		}
		return st.(*sql.Stmt)
	}
	if db.nstmts.Load() >= maxPrepared {
		return nil
	}
	if _, loaded := db.stmts.LoadOrStore(q, nil); loaded {
		return nil
	}
	db.nstmts.Add(1)
	db.prepMu.Lock()
	defer db.prepMu.Unlock()
	if db.prepClosed {
		return nil
	}
	db.preparing.Go(func() {
		if db.prepareHook != nil {
			db.prepareHook()
		}
		st, err := db.sql.Prepare(q)
		if err != nil {
			return // stays unprepared; running it reports the error
		}
		db.stmts.Store(q, st)
	})
	return nil
}

// nonNil turns a nil slice into an empty one, so that a NOT NULL BLOB
// column accepts it: the driver binds nil as SQL NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// boolInt is how booleans are stored: INTEGER 0 or 1, which PostgreSQL
// can mirror without a dialect-specific type.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// placeholders returns "?, ?, ..." with n markers, for IN lists.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// Ping reports whether the database answers a query (/readyz).
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.sql.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite %s: %w", db.path, err)
	}
	return nil
}
