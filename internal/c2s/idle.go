package c2s

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"minimix/internal/stream"
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
// TLS, recordConn never lets it read past the record it is decrypting (and
// knows what it holds back), so TLS holds no raw input between reads;
// above it, tlsReader notes whether
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
	if c.tlsIn.drained && !c.rec.holding() {
		return false
	}
	_ = c.raw.SetReadDeadline(aLongTimeAgo)
	err := c.dec.Fill()
	_ = c.raw.SetReadDeadline(time.Time{})
	// A timeout means nothing was waiting. Any other error is sticky in
	// the TLS connection: the next read reports it.
	return err == nil || !stream.IsTimeout(err)
}

// recordConn is the socket under a TLS connection. It never gives TLS
// more than the rest of the record being read, so that TLS never holds raw
// input beyond the record it decrypts. What a read brings beyond that (a
// client that sent several records at once) waits in pending, which is
// empty, and released, whenever the client is not ahead of the server.
type recordConn struct {
	net.Conn
	pending []byte
	err     error // the read's error, held until pending is read
	hdr     [5]byte
	hdrN    int  // bytes of the current record's header seen
	inBody  bool // the header is complete
	remain  int  // bytes of the current record's body still to come
}

func (r *recordConn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		src := r.pending[:min(len(p), len(r.pending))]
		k := r.advance(src)
		copy(p, src[:k])
		var err error
		if r.pending = r.pending[k:]; len(r.pending) == 0 {
			r.pending, err, r.err = nil, r.err, nil
		}
		return k, err
	}
	n, err := r.Conn.Read(p)
	k := r.advance(p[:n])
	if k < n {
		r.pending = append([]byte(nil), p[k:n]...)
		r.err, err = err, nil
	}
	return k, err
}

// advance follows b through the record being read and returns how much
// of b belongs to it: up to the end of its body.
func (r *recordConn) advance(b []byte) int {
	i := 0
	for i < len(b) {
		if !r.inBody {
			k := min(len(r.hdr)-r.hdrN, len(b)-i)
			copy(r.hdr[r.hdrN:], b[i:i+k])
			r.hdrN += k
			i += k
			if r.hdrN < len(r.hdr) {
				continue
			}
			r.hdrN, r.inBody = 0, true
			r.remain = int(r.hdr[3])<<8 | int(r.hdr[4])
		} else {
			k := min(r.remain, len(b)-i)
			r.remain -= k
			i += k
		}
		if r.inBody && r.remain == 0 {
			r.inBody = false
			return i // the record is complete
		}
	}
	return i
}

// holding reports whether input the client sent is waiting in r.
func (r *recordConn) holding() bool { return len(r.pending) > 0 }

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
