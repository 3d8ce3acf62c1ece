//go:build !unix

package xmpptest

import "syscall"

// setReadBuffer leaves the receive buffer alone where SO_RCVBUF is not set
// this way; tests of slow readers then need more data to fill it.
func setReadBuffer(int) func(network, address string, rc syscall.RawConn) error {
	return nil
}
