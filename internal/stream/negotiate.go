package stream

import (
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// SupportedVersion accepts major version 1 (RFC 6120 4.7.5).
func SupportedVersion(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n == 1
}

// StartTLSFeature is the <starttls/> stream feature, with <required/>
// when the receiving entity will not go on without TLS.
func StartTLSFeature(required bool) *xml.Element {
	st := xml.New(NSTLS, "starttls")
	if required {
		st.Append(xml.New(NSTLS, "required"))
	}
	return st
}

// MechanismsFeature is the SASL <mechanisms/> stream feature.
func MechanismsFeature(mechs []string) *xml.Element {
	f := xml.New(NSSASL, "mechanisms")
	for _, m := range mechs {
		f.Append(xml.New(NSSASL, "mechanism").AppendText(m))
	}
	return f
}

// Mechanisms returns the mechanism names a <stream:features/> offers.
func Mechanisms(features *xml.Element) []string {
	var out []string
	if m := features.Child(NSSASL, "mechanisms"); m != nil {
		for _, e := range m.Elements() {
			if e.Space == NSSASL && e.Local == "mechanism" {
				out = append(out, strings.TrimSpace(e.Text()))
			}
		}
	}
	return out
}

// maxSASLData bounds one base64 SASL message.
const maxSASLData = 16384

// DecodeSASL decodes the base64 data of a SASL element (RFC 6120 6.4.2);
// "=" is an empty message. An absent initial response is nil, so that
// mechanisms can tell it from an empty one.
func DecodeSASL(s string, initial bool) ([]byte, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		if initial {
			return nil, nil
		}
		return []byte{}, nil
	case "=":
		return []byte{}, nil
	}
	if len(s) > maxSASLData {
		return nil, errors.New("SASL message too long")
	}
	return base64.StdEncoding.DecodeString(s)
}

// EncodeSASL is the base64 data of a SASL element; "=" for an empty
// message.
func EncodeSASL(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// IsTimeout reports whether err is a network timeout (a deadline passed).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Ending says how a failed read or negotiation step ends a stream.
type Ending int

const (
	// EndClosed: the peer closed its stream (</stream:stream>); answer
	// with ours.
	EndClosed Ending = iota
	// EndError: send Error, then close.
	EndError
	// EndTimeout: the peer sent nothing in time; send connection-timeout.
	EndTimeout
	// EndBroken: the connection failed; nothing more can be written.
	EndBroken
)

// Classify turns what a reader or a negotiation step returned into how
// the stream ends, and the stream error to send for EndError and
// EndTimeout: a *xmpperr.StreamError as it is, an *xml.Error as its
// condition (with <stanza-too-big/> for an oversized element).
func Classify(err error) (Ending, *xmpperr.StreamError) {
	var se *xmpperr.StreamError
	var xe *xml.Error
	switch {
	case errors.As(err, &se):
		return EndError, se
	case errors.As(err, &xe):
		return EndError, ErrorFromXML(xe)
	case errors.Is(err, io.EOF):
		return EndClosed, nil
	case IsTimeout(err):
		return EndTimeout, xmpperr.Stream(xmpperr.ConnectionTimeout, "")
	default:
		return EndBroken, nil
	}
}
