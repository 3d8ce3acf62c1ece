// Package tlsconf builds the TLS configurations of the client listeners:
// protocol versions and cipher suites, ALPN per kind of listener, and
// session tickets whose lifetime the server bounds.
//
// ALPN (RFC 7301) differs by listener. On the STARTTLS port the client
// has already spoken XMPP before TLS starts, so ALPN proves nothing and
// no client is refused over it: whatever it offers (Android offers h2 and
// http/1.1) is ignored. On the direct TLS port (XEP-0368) the server
// selects "xmpp-client" when offered, accepts a client that offers no
// ALPN, and refuses with no_application_protocol a client that offers
// only other protocols: that is an HTTPS (or other) client sent to the
// wrong port, and answering it would open the ALPACA cross-protocol
// attacks.
package tlsconf

import (
	"crypto/tls"
	"time"
)

// ALPNXMPPClient is the XEP-0368 ALPN protocol of client streams.
const ALPNXMPPClient = "xmpp-client"

// ALPNACME is the ALPN protocol of ACME's tls-alpn-01 challenge (RFC 8737).
const ALPNACME = "acme-tls/1"

// CipherSuites are the TLS 1.2 suites offered: ECDHE with AEAD only.
// CBC with SHA-1 (LUCKY13), CBC with SHA-256, RSA key exchange and 3DES
// are left out; TLS 1.3 suites are not configurable and all AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Config says what to build.
type Config struct {
	Certificate tls.Certificate
	// GetCertificate, when set, is asked for the certificate at every
	// handshake instead of Certificate: a certificate replaced while the
	// server runs (a reload, an ACME renewal) is presented from the next
	// handshake on.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ACMEALPN accepts the ACME tls-alpn-01 protocol (RFC 8737) on the
	// direct TLS port, where a CA validates the challenge; GetCertificate
	// answers it with the challenge certificate.
	ACMEALPN bool
	// TicketLifetime bounds how long a session ticket can resume a
	// session; 0 turns session tickets off.
	TicketLifetime time.Duration
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// New returns the configuration of STARTTLS listeners and that of direct
// TLS listeners. Both share one ticket key schedule.
func New(cfg Config) (starttls, direct *tls.Config) {
	base := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites,
	}
	if cfg.GetCertificate != nil {
		base.GetCertificate = cfg.GetCertificate
	} else {
		base.Certificates = []tls.Certificate{cfg.Certificate}
	}
	if cfg.TicketLifetime <= 0 {
		base.SessionTicketsDisabled = true
	} else {
		t := newTicketer(cfg.TicketLifetime, cfg.Now)
		base.WrapSession = t.wrap
		base.UnwrapSession = t.unwrap
	}
	starttls = base.Clone()
	direct = base.Clone()
	direct.NextProtos = []string{ALPNXMPPClient}
	if cfg.ACMEALPN {
		direct.NextProtos = append(direct.NextProtos, ALPNACME)
	}
	return starttls, direct
}
