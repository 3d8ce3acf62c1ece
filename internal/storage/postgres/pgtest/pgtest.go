// Package pgtest gives tests a real PostgreSQL: a private cluster that it
// starts once per test binary (initdb in a temporary directory, a
// postgres process on a loopback port, as an unprivileged user when the
// tests run as root), or an existing server named by
// $MINIMIX_TEST_POSTGRES. Each DSN call makes a new, empty schema, so
// tests are independent and may run in parallel.
//
// A package that uses it wraps its tests in TestMain, so that the cluster
// is stopped and removed when they end:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }
//
// Where no PostgreSQL can be found (no initdb, no $MINIMIX_TEST_POSTGRES)
// the tests that need it skip with a message saying so, unless
// $MINIMIX_POSTGRES is "require" (as in CI), where they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Environment variables.
const (
	// EnvDSN names a server to use instead of a private cluster; the
	// user needs the right to create schemas in its database.
	EnvDSN = "MINIMIX_TEST_POSTGRES"
	// EnvRequire set to "require" turns a missing PostgreSQL into a
	// failure.
	EnvRequire = "MINIMIX_POSTGRES"
	// EnvDurable set to 1 starts the private cluster with PostgreSQL's
	// durable defaults (fsync, synchronous_commit) instead of the fast,
	// crash-unsafe settings tests use: for benchmarks.
	EnvDurable = "MINIMIX_PGTEST_DURABLE"
)

var (
	mu      sync.Mutex
	wrapped bool
	started bool
	cl      *cluster // nil if none was started
	baseDSN string
	admin   *pgxpool.Pool
	why     error // why there is no PostgreSQL
	schemas atomic.Int64
)

// M is what TestMain runs.
type M interface{ Run() int }

type wrappedM struct{ m M }

// Wrap returns m with the private cluster, if one is started, stopped
// and removed after m's tests. It can be passed to goleak.VerifyTestMain.
func Wrap(m M) M {
	mu.Lock()
	wrapped = true
	mu.Unlock()
	return wrappedM{m}
}

func (w wrappedM) Run() int {
	code := w.m.Run()
	mu.Lock()
	defer mu.Unlock()
	if admin != nil {
		admin.Close()
		admin = nil
	}
	if cl != nil {
		if err := cl.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		cl = nil
	}
	return code
}

// Available reports whether a PostgreSQL can be had, starting the
// private cluster if need be, and if not why.
func Available() error {
	mu.Lock()
	defer mu.Unlock()
	if !wrapped {
		return errors.New("pgtest: the package's TestMain must run its tests through pgtest.Wrap")
	}
	if !started {
		started = true
		why = start()
	}
	return why
}

// DSN returns the DSN of a new, empty schema, dropped when t ends. It
// skips t (or fails it under MINIMIX_POSTGRES=require) when no
// PostgreSQL is available.
func DSN(t testing.TB) string {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv(EnvRequire) == "require" {
			t.Fatalf("PostgreSQL is required (%s=require) but not available: %v", EnvRequire, err)
		}
		t.Skipf("PostgreSQL not available (install Debian's postgresql package, or set %s to a server's DSN): %v", EnvDSN, err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), schemas.Add(1))
	ctx := context.Background()
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	return withSearchPath(baseDSN, name)
}

// withSearchPath adds search_path=schema to a URL DSN.
func withSearchPath(dsn, schema string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

// start finds or starts a server and connects the admin pool. mu is held.
func start() error {
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		c, err := startCluster()
		if err != nil {
			return err
		}
		cl, dsn = c, c.dsn
	}
	if !strings.Contains(dsn, "://") {
		return fmt.Errorf("%s must be a postgres:// URL", EnvDSN)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return fmt.Errorf("connect: %w", err)
	}
	admin, baseDSN = pool, dsn
	return nil
}

// cluster is a private PostgreSQL server.
type cluster struct {
	dir  string
	cmd  *exec.Cmd
	done chan error
	dsn  string
}

// binDir returns the directory of the newest PostgreSQL server binaries.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or $PATH")
}

// credential returns who runs the server: the current user, or an
// unprivileged one when that is root (PostgreSQL refuses to run as root).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("running as root and found no postgres or nobody user to run PostgreSQL as")
}

func startCluster() (*cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "minimix-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir}
	fail := func(err error) (*cluster, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	pw := make([]byte, 16)
	rand.Read(pw)
	password := hex.EncodeToString(pw)
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "minimix", "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	os.Remove(pwfile)

	settings := []string{"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}
	if os.Getenv(EnvDurable) == "1" {
		settings = nil
	}
	// A port chosen by the kernel and given back: another process may
	// take it in between, so a failed start is tried again on another.
	for try := 0; ; try++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		args := append([]string{"-D", data, "-p", strconv.Itoa(port),
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir,
			"-c", "shared_buffers=32MB", "-c", "max_connections=200"}, settings...)
		cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
		// The server dies with the test binary, even one killed by go
		// test's timeout: SIGQUIT is PostgreSQL's immediate shutdown.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
		cmd.Dir = dir
		logf, err := os.Create(filepath.Join(dir, "postgres.log"))
		if err != nil {
			return fail(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fail(fmt.Errorf("start postgres: %w", err))
		}
		logf.Close()
		c.cmd = cmd
		c.done = make(chan error, 1)
		go func() { c.done <- cmd.Wait() }()
		c.dsn = fmt.Sprintf("postgres://minimix:%s@127.0.0.1:%d/postgres?sslmode=disable", password, port)
		err = c.waitReady()
		if err == nil {
			return c, nil
		}
		c.kill()
		if try == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return fail(fmt.Errorf("postgres did not start: %w\n%s", err, log))
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady waits until the server accepts a connection.
func (c *cluster) waitReady() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, c.dsn)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case werr := <-c.done:
			c.done <- werr
			return fmt.Errorf("postgres exited: %v", werr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// kill stops the server at once.
func (c *cluster) kill() {
	c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// stop shuts the server down (fast shutdown: sessions are ended) and
// removes its directory.
func (c *cluster) stop() error {
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.kill()
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove the test cluster: %w", err)
	}
	return nil
}
