package c2s

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
)

// chunkConn returns its data in chunks of random size.
type chunkConn struct {
	net.Conn
	data []byte
	rnd  *rand.Rand
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rnd.IntN(3000))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestRecordConn checks that recordConn passes every byte through, in
// order, and never hands over bytes of two records in one read, whatever
// the sizes of the records and of the socket's reads.
func TestRecordConn(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var stream bytes.Buffer
		var ends []int // offsets where records end
		for range 1 + rnd.IntN(20) {
			body := make([]byte, rnd.IntN(5000))
			for i := range body {
				body[i] = byte(rnd.IntN(256))
			}
			stream.Write([]byte{23, 3, 3, byte(len(body) >> 8), byte(len(body))})
			stream.Write(body)
			ends = append(ends, stream.Len())
		}
		rc := &recordConn{Conn: &chunkConn{data: bytes.Clone(stream.Bytes()), rnd: rnd}}
		var got bytes.Buffer
		buf := make([]byte, 512+rnd.IntN(20000))
		for {
			n, err := rc.Read(buf[:1+rnd.IntN(len(buf))])
			start := got.Len()
			got.Write(buf[:n])
			for _, e := range ends {
				if start < e && e < got.Len() {
					t.Fatalf("round %d: a read of [%d, %d) crosses the record end at %d", round, start, got.Len(), e)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), stream.Bytes()) {
			t.Fatalf("round %d: %d bytes out of %d in", round, got.Len(), stream.Len())
		}
		if rc.holding() {
			t.Fatalf("round %d: holds bytes after the end", round)
		}
	}
}
