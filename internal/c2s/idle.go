package c2s

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// Idle connections cost as little as the platform allows.
//
// When the reader has handled everything that arrived and would wait for
// more, it hands the wait over and its goroutine ends (Session.readLoop):
// handling a stanza (routing, storage, TLS) can grow a goroutine's stack
// to tens of KiB, which the runtime keeps until a collection shrinks it.
// On Linux the wait goes to the server's idlePoller: no goroutine at all
// until the socket is readable (idle_linux.go). Elsewhere, or if parking
// fails, a fresh goroutine with a small stack waits: for a plain
// connection in the decoder's one-byte read, a shallow call; for TLS,
// whose reads are deep (record layer, decryption), in a wait for the
// socket to become readable (waitReadable), then the read.
//
// Waiting on the socket is right for TLS only if the TLS connection holds
// no input the decoder has not read. Two wrappers make that known: under
// TLS, recordConn never lets it read past the record it is decrypting, so
// it holds no raw input between reads; above it, tlsReader notes whether
// the last read came up short, which crypto/tls does only when it had no
// more decrypted input. If the last read filled the buffer, the reader
// asks the TLS connection, with a read deadline in the past: the answer
// comes without touching the socket, and a timeout leaves the connection
// usable (only write timeouts are fatal in crypto/tls).

// idle hands the reader's wait for input over: to the poller, or to a
// fresh goroutine that waits and then reads. The caller's reader must end
// at once.
func (c *conn) idle(ctx context.Context) {
	if c.srv.idle.park(c) {
		return
	}
	go func() {
		defer c.recoverPanic(ctx)
		if c.tls != nil {
			c.waitReadable()
		}
		c.read(ctx, true)
	}()
}

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// tlsHasInput reports whether the TLS connection holds input the decoder
// has not read, and reads it into the decoder if so. It is called by the
// reader between elements, with the decoder's buffer empty.
func (c *conn) tlsHasInput() bool {
	if c.tlsIn.drained {
		return false
	}
	_ = c.raw.SetReadDeadline(aLongTimeAgo)
	err := c.dec.Fill()
	_ = c.raw.SetReadDeadline(time.Time{})
	// A timeout means nothing was waiting. Any other error is sticky in
	// the TLS connection: the next read reports it.
	return err == nil || !isTimeout(err)
}

// recordConn is the socket under a TLS connection. It never gives TLS
// more than the rest of the record being read (a 5-byte header, then the
// body it announces), so that TLS never holds raw input beyond the record
// it decrypts. That costs a read per record header.
type recordConn struct {
	net.Conn
	hdr    [5]byte
	hdrN   int // bytes of the next record's header read so far
	remain int // bytes of the current record's body not yet read
}

func (r *recordConn) Read(p []byte) (int, error) {
	if r.remain == 0 {
		p = p[:min(len(p), len(r.hdr)-r.hdrN)]
		n, err := r.Conn.Read(p)
		copy(r.hdr[r.hdrN:], p[:n])
		if r.hdrN += n; r.hdrN == len(r.hdr) {
			r.remain = int(r.hdr[3])<<8 | int(r.hdr[4])
			r.hdrN = 0
		}
		return n, err
	}
	n, err := r.Conn.Read(p[:min(len(p), r.remain)])
	r.remain -= n
	return n, err
}

// tlsReader is what the decoder reads a TLS connection through. drained
// says the last read returned less than asked for: crypto/tls then had
// no decrypted input left, and with recordConn below it no raw input
// either.
type tlsReader struct {
	*tls.Conn
	drained bool
}

func (r *tlsReader) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.drained = err == nil && n < len(p)
	return n, err
}
