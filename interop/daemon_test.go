package interop

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Other servers under test (Prosody, ejabberd) run as separate programs,
// as their own system users when the tests run as root.

// systemUser returns the credential to run a server as the named system
// user when the test runs as root, and nil otherwise (the server runs as
// whoever runs the test).
func systemUser(t *testing.T, name string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("running as root, and no %s user to run %s as: %v", name, name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// serverDir makes a directory a server's own user can reach (t.TempDir's
// parent is private to us), removed when t ends.
func serverDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// runDaemon starts cmd (in a process group of its own, so that every
// process it starts is stopped with it), waits until ready reports true,
// and stops it with SIGTERM (SIGKILL after 10 seconds) when t ends. logs
// returns what it logged, for failures.
func runDaemon(t *testing.T, name string, cmd *exec.Cmd, cred *syscall.Credential, logs func() string, ready func() bool) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	all := func() string { return out.String() + logs() }
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var stop sync.Once
	t.Cleanup(func() {
		stop.Do(func() {
			pgid := cmd.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-done
			}
			// What it started in its group and left behind.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if t.Failed() {
				t.Logf("%s's log:\n%s", name, all())
			}
		})
	})
	// A bound for a failure only: on a loaded machine an Erlang node
	// (ejabberd) takes tens of seconds to start.
	for deadline := time.Now().Add(90 * time.Second); !ready(); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("%s exited at start (%v):\n%s", name, err, all())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", name, all())
		}
	}
}

// listening reports whether something accepts connections at addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// writeProsodyAccounts stores accounts of domain for Prosody's
// internal_plain authentication (from which it derives SCRAM), with
// passwords from password.
func writeProsodyAccounts(t *testing.T, dataDir, domain string, accounts []string) {
	t.Helper()
	// Prosody's file storage escapes the host's name as URLs do, and dots
	// too.
	dir := filepath.Join(dataDir, prosodyEscape(domain), "accounts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	slices.Sort(accounts)
	for _, name := range slices.Compact(accounts) {
		rec := fmt.Sprintf("return {\n\t[\"password\"] = %s;\n};\n", luaString(password(name)))
		if err := os.WriteFile(filepath.Join(dir, name+".dat"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// prosodyEscape is Prosody's file name of a host: %XX for every
// character but letters and digits.
func prosodyEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b = append(b, c)
			continue
		}
		b = fmt.Appendf(b, "%%%02x", c)
	}
	return string(b)
}
