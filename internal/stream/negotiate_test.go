package stream

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

func TestSupportedVersion(t *testing.T) {
	for v, want := range map[string]bool{"1.0": true, "1.1": true, "1": true, "": false, "0.9": false, "2.0": false, "x": false} {
		if got := SupportedVersion(v); got != want {
			t.Errorf("SupportedVersion(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestSASLData(t *testing.T) {
	if b, err := DecodeSASL("", true); err != nil || b != nil {
		t.Errorf("absent initial response = %v, %v; want nil", b, err)
	}
	if b, err := DecodeSASL("=", true); err != nil || b == nil || len(b) != 0 {
		t.Errorf("= is an empty response, got %v, %v", b, err)
	}
	if b, err := DecodeSASL(EncodeSASL([]byte("example.net")), false); err != nil || string(b) != "example.net" {
		t.Errorf("round trip = %q, %v", b, err)
	}
	if EncodeSASL(nil) != "=" {
		t.Errorf("empty data must be =")
	}
	if _, err := DecodeSASL("***", false); err == nil {
		t.Error("bad base64 accepted")
	}
}

func TestClassify(t *testing.T) {
	se := xmpperr.Stream(xmpperr.HostUnknown, "")
	for _, c := range []struct {
		err  error
		end  Ending
		cond xmpperr.StreamCondition
	}{
		{fmt.Errorf("wrapped: %w", se), EndError, xmpperr.HostUnknown},
		{&xml.Error{Condition: "policy-violation", TooBig: true}, EndError, xmpperr.PolicyViolation},
		{io.EOF, EndClosed, ""},
		{os.ErrDeadlineExceeded, EndTimeout, xmpperr.ConnectionTimeout},
		{errors.New("connection reset"), EndBroken, ""},
	} {
		end, got := Classify(c.err)
		if end != c.end || (got == nil) != (c.cond == "") || got != nil && got.Condition != c.cond {
			t.Errorf("Classify(%v) = %v, %v; want %v, %v", c.err, end, got, c.end, c.cond)
		}
	}
	if _, got := Classify(&xml.Error{Condition: "policy-violation", TooBig: true}); got.App == nil || got.App.Local != "stanza-too-big" {
		t.Errorf("an oversized element is a stanza-too-big policy-violation, got %+v", got)
	}
}
