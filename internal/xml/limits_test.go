package xml

import (
	"io"
	"strings"
	"testing"
)

// SetLimits applies from the next element on, also when called while
// Next waits for it (from another goroutine).
func TestSetLimits(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	d := NewDecoder(pr, Limits{MaxStanzaBytes: 100})
	go func() {
		_, _ = io.WriteString(pw, "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'><a/>")
	}()
	if _, err := d.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	big := "<b>" + strings.Repeat("x", 1000) + "</b>"
	got := make(chan error, 1)
	go func() { _, err := d.Next(); got <- err }() // waits for input
	d.SetLimits(Limits{MaxStanzaBytes: 10000})
	_, _ = io.WriteString(pw, big)
	if err := <-got; err != nil {
		t.Fatalf("an element under the new limit: %v", err)
	}
	d.SetLimits(Limits{MaxStanzaBytes: 100})
	go func() { _, _ = io.WriteString(pw, big) }()
	_, err := d.Next()
	if xe, ok := err.(*Error); !ok || !xe.TooBig {
		t.Errorf("an element over the lowered limit: %v", err)
	}
}
