// Package sdnotify tells the service manager about the server's state
// with the sd_notify datagram protocol (sd_notify(3), "Type=notify" in
// systemd.service(5)): a datagram of newline-separated KEY=VALUE
// assignments sent to the unix socket named by $NOTIFY_SOCKET, an
// abstract one when the name starts with "@".
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Messages of the protocol.
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
)

// Notify sends state to the socket in $NOTIFY_SOCKET. Without one (not
// started by a service manager) it does nothing and reports false.
func Notify(state string) (bool, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return false, nil
	}
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	return true, nil
}

// ReloadingState is RELOADING=1 with the monotonic timestamp that
// Type=notify-reload services send with it.
func ReloadingState() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("%s\nMONOTONIC_USEC=%d", Reloading, ts.Nano()/int64(time.Microsecond))
}
