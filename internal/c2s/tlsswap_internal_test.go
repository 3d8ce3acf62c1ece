package c2s

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
)

// TestTLSSwapAndInterrupt: once its TLS handshake is done, a
// connection's goroutine makes the TLS connection its writer, while a
// close on another goroutine (the server's Shutdown) may interrupt the
// writer: the two must not race (-race reported it once in TestE2EACME,
// for a direct TLS stream closed by the shutdown during its login).
// Meant for -race, which sees the conflict whatever the order.
func TestTLSSwapAndInterrupt(t *testing.T) {
	srv := New(Config{Domain: "localhost"})
	defer srv.Close()
	for range 20 {
		a, b := net.Pipe()
		c := newConn(srv, a, true)
		var wg sync.WaitGroup
		wg.Go(func() { c.useTLS(tls.Server(c.nc, &tls.Config{})) })
		wg.Go(c.interruptWriter)
		wg.Wait()
		a.Close()
		b.Close()
	}
}
