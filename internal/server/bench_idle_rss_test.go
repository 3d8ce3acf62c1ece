package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/sasl"
	"minimix/internal/server"
)

var idleSessions = flag.Int("idle-sessions", 1000, "sessions BenchmarkIdleRSS logs in")

// BenchmarkIdleRSS measures what an idle session costs the server the way
// an operator would: minimix runs as its own process (built from
// cmd/minimix), this process logs in -idle-sessions sessions (PLAIN,
// bind, initial presence) and leaves them idle, and the server's VmRSS
// (/proc/PID/status) is read before and after. The figure is the growth
// divided by the sessions; it includes the kernel's socket buffers only
// as far as they are charged to the process (they are not), and the Go
// runtime's slack (heap not yet returned), as an operator's figure does.
//
//	go test ./internal/server -run '^$' -bench IdleRSS -benchtime 1x
func BenchmarkIdleRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc")
	}
	bin := filepath.Join(b.TempDir(), "minimix")
	build := exec.Command("go", "build", "-o", bin, "minimix/cmd/minimix")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, mode := range []string{"plain", "tls"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				perSession := idleRSS(b, bin, mode == "tls", *idleSessions)
				b.ReportMetric(perSession, "bytes/session")
			}
		})
	}
}

// idleRSS starts a server from bin, logs in n idle sessions and returns
// the server's RSS growth per session.
func idleRSS(b *testing.B, bin string, useTLS bool, n int) float64 {
	const warm = 50 // sessions that pay one-time costs before measuring
	dir := b.TempDir()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "minimix.toml")
	toml := fmt.Sprintf("data_dir = %q\nlog.format = \"json\"\n[c2s]\nlisten = [\"127.0.0.1:0\"]\ndirect_tls_listen = []\nrequire_tls = false\nlogin_failures_per_minute = 0\n[http]\nlisten = \"\"\n", cfg.DataDir)
	if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
		b.Fatal(err)
	}
	addUsers(b, cfg, n+warm)

	cmd := exec.Command(bin, "-config", cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	addr := listenAddr(b, bufio.NewScanner(stderr))

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	login := func(from, to int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		work := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range work {
					c, err := idleLogin(addr, fmt.Sprintf("u%d", i), useTLS)
					if err != nil {
						b.Error(err)
						continue
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			})
		}
		for i := from; i < to; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
	}
	login(0, warm)
	before := settledRSS(b, cmd.Process.Pid)
	login(warm, warm+n)
	after := settledRSS(b, cmd.Process.Pid)
	b.Logf("server VmRSS %d KiB before, %d KiB after %d sessions", before/1024, after/1024, n)
	return float64(after-before) / float64(n)
}

// addUsers creates u0..u(n-1) with one set of derived credentials, so
// that setting up thousands of accounts does not take minutes.
func addUsers(b *testing.B, cfg *config.Config, n int) {
	ctx := context.Background()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		b.Fatal(err)
	}
	store, err := server.OpenStore(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	creds, err := sasl.NewCredentials("secret-pw", 0)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := store.CreateAccount(ctx, fmt.Sprintf("u%d", i), creds); err != nil {
			b.Fatal(err)
		}
	}
}

// listenAddr reads the server's JSON log until the line that says where
// it listens, and keeps draining the log afterwards.
func listenAddr(b *testing.B, sc *bufio.Scanner) string {
	addr := make(chan string, 1)
	go func() {
		sent := false
		for sc.Scan() {
			if sent {
				continue
			}
			var line struct {
				Msg   string   `json:"msg"`
				Addrs []string `json:"c2s_starttls"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "minimix listening" && len(line.Addrs) > 0 {
				addr <- line.Addrs[0]
				sent = true
			}
		}
		if !sent {
			close(addr)
		}
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			b.Fatal("server exited before listening")
		}
		return a
	case <-time.After(30 * time.Second):
		b.Fatal("server did not start listening")
	}
	return ""
}

// settledRSS returns the process's VmRSS in bytes once it stopped
// changing for a second (or after ten seconds).
func settledRSS(b *testing.B, pid int) int64 {
	last := int64(-1)
	for i := 0; i < 20; i++ {
		v := vmRSS(b, pid)
		if v == last {
			return v
		}
		last = v
		time.Sleep(500 * time.Millisecond)
	}
	return last
}

func vmRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// idleLogin opens a stream to addr as user (STARTTLS first when useTLS),
// authenticates with PLAIN, binds, sends initial presence and waits for
// its echo. It reads with a minimal scanner: the server writes whole
// elements, so waiting for a marker is enough.
func idleLogin(addr, user string, useTLS bool) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := net.Conn(nc)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var buf []byte
	fail := func(step string, err error) (net.Conn, error) {
		_ = nc.Close()
		return nil, fmt.Errorf("%s: %s: %w (read %q)", user, step, err, buf)
	}
	until := func(marker string) error {
		tmp := make([]byte, 4096)
		for !bytes.Contains(buf, []byte(marker)) {
			k, err := c.Read(tmp)
			if err != nil {
				return err
			}
			buf = append(buf, tmp[:k]...)
		}
		buf = buf[:0]
		return nil
	}
	send := func(s string) error { _, err := c.Write([]byte(s)); return err }
	header := "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	if err := send(header); err != nil {
		return fail("header", err)
	}
	if err := until("</stream:features>"); err != nil {
		return fail("features", err)
	}
	if useTLS {
		if err := send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
			return fail("starttls", err)
		}
		if err := until("<proceed"); err != nil {
			return fail("proceed", err)
		}
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		if err := tc.Handshake(); err != nil {
			return fail("handshake", err)
		}
		c = tc
		if err := send(header); err != nil {
			return fail("header", err)
		}
		if err := until("</stream:features>"); err != nil {
			return fail("features", err)
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00secret-pw"))
	if err := send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>"); err != nil {
		return fail("auth", err)
	}
	if err := until("<success"); err != nil {
		return fail("success", err)
	}
	if err := send(header); err != nil {
		return fail("header", err)
	}
	if err := until("</stream:features>"); err != nil {
		return fail("features", err)
	}
	if err := send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>idle</resource></bind></iq>"); err != nil {
		return fail("bind", err)
	}
	if err := until("</iq>"); err != nil {
		return fail("bind result", err)
	}
	if err := send("<presence/>"); err != nil {
		return fail("presence", err)
	}
	if err := until("<presence"); err != nil {
		return fail("presence echo", err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
