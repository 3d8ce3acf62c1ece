package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotify sends READY=1 to a fake service manager's socket, by path
// and by abstract name, and nothing without $NOTIFY_SOCKET.
func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify(Ready); sent || err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v, %v", sent, err)
	}
	for _, name := range []string{filepath.Join(t.TempDir(), "notify"), "@minimix-test-" + strings.ReplaceAll(t.Name(), "/", "-")} {
		addr := name
		if addr[0] == '@' {
			addr = "\x00" + addr[1:]
		}
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("NOTIFY_SOCKET", name)
		if sent, err := Notify(Ready + "\nSTATUS=serving"); !sent || err != nil {
			t.Fatalf("Notify to %q: %v, %v", name, sent, err)
		}
		buf := make([]byte, 256)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != "READY=1\nSTATUS=serving" {
			t.Errorf("got %q", got)
		}
		c.Close()
	}
	if s := ReloadingState(); !strings.HasPrefix(s, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("ReloadingState = %q", s)
	}
}
