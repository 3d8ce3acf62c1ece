//go:build unix

package xmpptest

import (
	"errors"
	"syscall"
)

// setReadBuffer returns a net.Dialer Control function that sets SO_RCVBUF.
func setReadBuffer(n int) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		})
		return errors.Join(err, serr)
	}
}
