// Package jid is the server's XMPP address type (RFC 7622).
//
// Parsing and preparation (PRECIS) are delegated to mellium.im/xmpp/jid so
// that addresses are normalised exactly as a well-tested library does it.
// The server's own type is a plain comparable struct of prepared strings:
// it is used as a map key in the session registry and copied on the hot
// path, where re-running PRECIS for addresses the server built itself
// would be wasted work.
package jid

import (
	"fmt"
	"strings"

	mjid "mellium.im/xmpp/jid"
)

// JID is a prepared XMPP address. The zero value is the empty address.
type JID struct {
	Local    string
	Domain   string
	Resource string
}

// Parse prepares and validates s.
func Parse(s string) (JID, error) {
	j, err := mjid.Parse(s)
	if err != nil {
		return JID{}, fmt.Errorf("jid %q: %w", s, err)
	}
	return JID{Local: j.Localpart(), Domain: j.Domainpart(), Resource: j.Resourcepart()}, nil
}

// New prepares and validates the three parts.
func New(local, domain, resource string) (JID, error) {
	j, err := mjid.New(local, domain, resource)
	if err != nil {
		return JID{}, fmt.Errorf("jid %q@%q/%q: %w", local, domain, resource, err)
	}
	return JID{Local: j.Localpart(), Domain: j.Domainpart(), Resource: j.Resourcepart()}, nil
}

// MustParse is Parse for constants in tests; it panics on error.
func MustParse(s string) JID {
	j, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return j
}

// Domain returns the domain-only JID d, which must already be prepared.
func Domain(d string) JID { return JID{Domain: d} }

// PrepLocal prepares a localpart alone (the username of an account).
func PrepLocal(local string) (string, error) {
	j, err := mjid.New(local, "example.net", "")
	if err != nil {
		return "", fmt.Errorf("localpart %q: %w", local, err)
	}
	return j.Localpart(), nil
}

// PrepResource prepares a resourcepart alone.
func PrepResource(res string) (string, error) {
	j, err := mjid.New("", "example.net", res)
	if err != nil {
		return "", fmt.Errorf("resourcepart %q: %w", res, err)
	}
	return j.Resourcepart(), nil
}

// IsZero reports whether j is the empty address.
func (j JID) IsZero() bool { return j.Domain == "" }

// IsBare reports whether j has no resource.
func (j JID) IsBare() bool { return j.Resource == "" }

// IsDomain reports whether j is a bare domain.
func (j JID) IsDomain() bool { return j.Local == "" && j.Resource == "" }

// Bare returns j without its resource.
func (j JID) Bare() JID { return JID{Local: j.Local, Domain: j.Domain} }

// WithResource returns j with resource r.
func (j JID) WithResource(r string) JID { return JID{Local: j.Local, Domain: j.Domain, Resource: r} }

// String returns the address in its textual form.
func (j JID) String() string {
	if j.Local == "" && j.Resource == "" {
		return j.Domain
	}
	var b strings.Builder
	b.Grow(len(j.Local) + len(j.Domain) + len(j.Resource) + 2)
	if j.Local != "" {
		b.WriteString(j.Local)
		b.WriteByte('@')
	}
	b.WriteString(j.Domain)
	if j.Resource != "" {
		b.WriteByte('/')
		b.WriteString(j.Resource)
	}
	return b.String()
}
