package certs

import (
	"crypto/tls"
	"errors"
	"slices"
	"sync/atomic"
	"time"
)

// ExpiryWarning is how long before a certificate expires the server warns
// about it, in its log and in a metric.
const ExpiryWarning = 14 * 24 * time.Hour

// Holder holds the certificate the listeners present and lets it be
// replaced while they run (a reload, an ACME renewal): TLS configurations
// read it through GetCertificate at each handshake, so connections made
// after a replacement get the new one and established ones are untouched.
type Holder struct {
	cur atomic.Pointer[tls.Certificate]
	// challenge answers ACME tls-alpn-01 handshakes; nil when ACME is off.
	challenge atomic.Pointer[func(*tls.ClientHelloInfo) (*tls.Certificate, error)]
}

// NewHolder returns a Holder presenting cert, which must have Leaf set.
func NewHolder(cert tls.Certificate) *Holder {
	h := &Holder{}
	h.Set(cert)
	return h
}

// Set replaces the certificate presented from the next handshake on.
func (h *Holder) Set(cert tls.Certificate) { h.cur.Store(&cert) }

// Get returns the certificate presented now.
func (h *Holder) Get() *tls.Certificate { return h.cur.Load() }

// SetChallenge installs the answerer of ACME tls-alpn-01 handshakes.
func (h *Holder) SetChallenge(f func(*tls.ClientHelloInfo) (*tls.Certificate, error)) {
	h.challenge.Store(&f)
}

// ALPNACME is the ALPN protocol of ACME's tls-alpn-01 challenge (RFC 8737).
const ALPNACME = "acme-tls/1"

// GetCertificate is tls.Config.GetCertificate: the current certificate,
// or for a CA validating a tls-alpn-01 challenge the challenge's.
func (h *Holder) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if slices.Contains(hello.SupportedProtos, ALPNACME) {
		if f := h.challenge.Load(); f != nil {
			return (*f)(hello)
		}
		return nil, errors.New("certs: no ACME challenge is pending")
	}
	return h.Get(), nil
}

// Expires returns when the current certificate expires.
func (h *Holder) Expires() time.Time {
	if c := h.Get(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}
