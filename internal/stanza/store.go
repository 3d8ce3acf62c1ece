package stanza

import (
	"errors"
	"fmt"

	"minimix/internal/xml"
)

// Encode serialises a stanza for storage (offline messages, pending
// subscription requests, archives) in the jabber:client namespace,
// whatever stream it arrived on, so that it can be written to a client
// stream when read back. The root declares its namespace.
func Encode(el *xml.Element) []byte {
	if el.Space == xml.NSServer {
		el = el.Clone()
		SetSpace(el, xml.NSServer, xml.NSClient)
	}
	return el.AppendXML(nil, "")
}

// Decode parses a stored stanza, which must be a name element (message,
// presence or iq). Elements stored without a namespace (older records
// were written relative to jabber:client) are put back in jabber:client.
func Decode(b []byte, name string) (*xml.Element, error) {
	el, err := xml.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("parse stored stanza: %w", err)
	}
	if el.Local != name {
		return nil, errors.New("stored stanza is not a " + name)
	}
	SetSpace(el, "", xml.NSClient)
	return el, nil
}

// SetSpace replaces the namespace from with to in el and its descendants.
func SetSpace(el *xml.Element, from, to string) {
	if el.Space == from {
		el.Space = to
	}
	for _, c := range el.Children {
		if c.Elem != nil {
			SetSpace(c.Elem, from, to)
		}
	}
}
