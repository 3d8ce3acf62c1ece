package xmpptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is minimix running as a separate program, built from this
// tree, for tests that must do to the server what an operator's machine
// can: kill it with SIGKILL, measure its memory from /proc.
type Process struct {
	// Bin is the built binary; Config the configuration file it runs
	// with; Domain the domain it serves; C2S, S2S (STARTTLS, on loopback)
	// and HTTP its listeners.
	Bin, Config, Domain string
	C2S, S2S, HTTP      string
	DataDir             string

	t   testing.TB
	cmd *exec.Cmd
	out *lockedBuffer
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Binary builds cmd/minimix once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "minimix-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "minimix")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(goTool, "build", "-o", buildBin, "./cmd/minimix")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/minimix: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("%v", buildErr)
	}
	return buildBin
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ProcessConfig is what a test adds to the configuration StartProcess
// writes.
type ProcessConfig struct {
	Domain string // default "localhost"; the MUC service is conference.<domain>
	C2S    string // more keys of the [c2s] table
	S2S    string // more keys of the [s2s] table, e.g. hosts
	Limits string // more keys of the [limits] table
	Tables string // more tables, e.g. "[muc]\nhistory_default = 5\n"
}

// StartProcess writes a configuration (plaintext client connections on
// loopback, no per-connection read rate as with Start, the defaults
// otherwise, plus what pc adds), starts the server
// and waits until it accepts connections. The process is killed when the
// test ends if it still runs.
func StartProcess(t testing.TB, pc ProcessConfig) *Process {
	t.Helper()
	p := PrepareProcess(t, pc)
	p.Start()
	return p
}

// PrepareProcess is StartProcess without the start: it writes the
// configuration, and the test starts the server with Start, or with
// Launch and WaitListening to start several at once (the nodes of a
// cluster, each of which waits for the others).
func PrepareProcess(t testing.TB, pc ProcessConfig) *Process {
	t.Helper()
	dir := t.TempDir()
	p := &Process{
		Bin: Binary(t), Domain: "localhost", DataDir: filepath.Join(dir, "data"),
		C2S: freePort(t), S2S: freePort(t), HTTP: freePort(t), t: t,
	}
	if pc.Domain != "" {
		p.Domain = pc.Domain
	}
	p.Config = filepath.Join(dir, "minimix.toml")
	cfg := fmt.Sprintf("domain = %q\ndata_dir = %q\n[c2s]\nlisten = [%q]\ndirect_tls_listen = []\nrequire_tls = false\n%s\n[s2s]\nlisten = [%q]\ndirect_tls_listen = []\n%s\n[limits]\nc2s_bytes_per_second = 0\n%s\n[http]\nlisten = %q\n%s",
		p.Domain, p.DataDir, p.C2S, pc.C2S, p.S2S, pc.S2S, pc.Limits, p.HTTP, pc.Tables)
	if err := os.WriteFile(p.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd != nil {
			p.Kill()
		}
	})
	return p
}

// Run runs a command of the binary (user add, ...) with p's
// configuration and stdin, failing the test if it fails.
func (p *Process) Run(stdin string, args ...string) string {
	p.t.Helper()
	cmd := exec.Command(p.Bin, append(args, "-config", p.Config)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("minimix %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// AddUser creates an account with the user command.
func (p *Process) AddUser(name, password string) {
	p.t.Helper()
	p.Run(password+"\n", "user", "add", name)
}

// Start starts the server and waits for its client listener.
func (p *Process) Start() {
	p.t.Helper()
	p.Launch()
	p.WaitListening(20 * time.Second)
}

// Launch starts the server and returns at once.
func (p *Process) Launch() {
	p.t.Helper()
	p.out = new(lockedBuffer)
	p.cmd = exec.Command(p.Bin, "-config", p.Config)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start minimix: %v", err)
	}
}

// WaitListening waits up to d for the client listener of a launched
// server, and kills it and fails the test if it does not come.
func (p *Process) WaitListening(d time.Duration) {
	p.t.Helper()
	if err := p.listening(d); err != nil {
		p.Kill()
		p.t.Fatalf("%v\n%s", err, p.out)
	}
}

// listening waits up to d for the client listener of a launched server;
// it fails at once if the server exits.
func (p *Process) listening(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", p.C2S, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p.exited() {
			return fmt.Errorf("minimix exited instead of listening on %s", p.C2S)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("minimix did not listen on %s: %v", p.C2S, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exited reports whether the launched process has exited (it is a
// zombie, not reaped yet: Kill reaps it).
func (p *Process) exited() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	// pid (comm) state ...: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// Kill ends the server with SIGKILL, as a crash or the OOM killer would,
// and waits for it to exit.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Stop asks the server to shut down (SIGTERM) and waits for it.
func (p *Process) Stop() {
	p.t.Helper()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.Kill()
		p.t.Errorf("minimix did not stop within 30s:\n%s", p.out)
	}
	p.cmd = nil
}

// Pid returns the server's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns what the server logged so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends the server a signal (SIGHUP: reload).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// lockedBuffer is the server's output, written by the process's pipe
// while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Login connects over plaintext, authenticates and binds resource.
func (p *Process) Login(user, password, resource string) *Raw {
	p.t.Helper()
	r := DialRawAddr(p.t, p.C2S, p.Domain, nil)
	r.Open()
	r.Authenticate(user, password)
	r.Bind(resource)
	return r
}
