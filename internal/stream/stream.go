// Package stream holds what c2s and s2s streams share: writing the stream
// header, features and errors, the version and SASL data rules, how a
// failed read ends a stream, and Conn, a stream over a socket with
// STARTTLS or direct TLS.
package stream

import (
	"crypto/rand"
	"encoding/hex"

	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Namespaces of stream features.
const (
	NSTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL     = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind     = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession  = "urn:ietf:params:xml:ns:xmpp-session"
	NSSM       = "urn:xmpp:sm:3"
	NSCSI      = "urn:xmpp:csi:0"
	NSRosterV  = "urn:xmpp:features:rosterver"
	NSSASLCB   = "urn:xmpp:sasl-cb:0"
	NSRegister = "http://jabber.org/features/iq-register"
	NSErrors   = "urn:xmpp:errors"
	// NSDialback is Server Dialback's (XEP-0220), whose elements are
	// written with the db: prefix that s2s stream headers declare.
	NSDialback = "jabber:server:dialback"
)

// NewID returns a random stream id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Header describes the response stream header we send.
type Header struct {
	ContentNS string // jabber:client or jabber:server
	ID        string
	From      string
	To        string
	Version   string // "1.0"
	Lang      string
	// Dialback declares the db: prefix of Server Dialback (s2s).
	Dialback bool
}

// AppendHeader appends an XML declaration and the stream open tag.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, "<?xml version='1.0'?><stream:stream xmlns='"...)
	dst = append(dst, xml.EscapeAttr(h.ContentNS)...)
	dst = append(dst, "' xmlns:stream='http://etherx.jabber.org/streams'"...)
	if h.Dialback {
		dst = append(dst, " xmlns:db='"+NSDialback+"'"...)
	}
	for _, a := range [...][2]string{{"id", h.ID}, {"from", h.From}, {"to", h.To}, {"version", h.Version}, {"xml:lang", h.Lang}} {
		if a[1] == "" {
			continue
		}
		dst = append(dst, ' ')
		dst = append(dst, a[0]...)
		dst = append(dst, "='"...)
		dst = append(dst, xml.EscapeAttr(a[1])...)
		dst = append(dst, '\'')
	}
	return append(dst, '>')
}

// AppendElement appends a top-level element of the stream. Elements in
// the streams namespace (features, error) are written with the stream:
// prefix, as every client expects, and Server Dialback's with db: (XEP-0220
// requires the prefix the header declared); others relative to contentNS.
func AppendElement(dst []byte, el *xml.Element, contentNS string) []byte {
	switch el.Space {
	case xml.NSStream:
		return el.AppendPrefixedXML(dst, "stream")
	case NSDialback:
		return el.AppendPrefixedXML(dst, "db")
	}
	return el.AppendXML(dst, contentNS)
}

// Close is the stream close tag.
const Close = "</stream:stream>"

// AppendError appends a stream error followed by the close tag.
func AppendError(dst []byte, se *xmpperr.StreamError) []byte {
	dst = AppendElement(dst, se.Element(), "")
	return append(dst, Close...)
}

// ErrorFromXML maps a reader error to the stream error to send.
func ErrorFromXML(e *xml.Error) *xmpperr.StreamError {
	se := xmpperr.Stream(xmpperr.StreamCondition(e.Condition), e.Text)
	if e.TooBig {
		se.App = xml.New(NSErrors, "stanza-too-big")
	}
	return se
}
