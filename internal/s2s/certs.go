package s2s

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// verifyPeer checks a peer's certificate for domain as XEP-0178 and RFC
// 6125 describe: a chain to a trusted root ([s2s] ca_file, or the
// system's) and the domain among its DNS names. Usage extensions are not
// required: server certificates often lack clientAuth, and an initiating
// server presents its server certificate.
func (s *Server) verifyPeer(st tls.ConnectionState, domain string) error {
	if len(st.PeerCertificates) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := st.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName:       domain,
		Roots:         s.cfg.RootCAs,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime:   s.now(),
	})
	if err != nil {
		return fmt.Errorf("certificate for %s: %w", domain, err)
	}
	return nil
}

// tlsVersion names a TLS version for operators.
func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	}
	return fmt.Sprintf("0x%04x", v)
}
