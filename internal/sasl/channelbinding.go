package sasl

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
)

// Channel binding types (RFC 5056 names), advertised with XEP-0440.
const (
	// TLSExporter is RFC 9266: keying material exported from TLS 1.3, or
	// TLS 1.2 with the extended master secret.
	TLSExporter = "tls-exporter"
	// TLSServerEndPoint is RFC 5929 section 4: a hash of the server's
	// certificate.
	TLSServerEndPoint = "tls-server-end-point"
)

// ChannelBindingTypes lists the channel binding types usable on a
// connection, preferred first, for the -PLUS mechanisms and for XEP-0440's
// <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'/>. It is empty on
// plaintext. tls-unique is not supported: it is undefined for TLS 1.3 and
// unsafe for TLS 1.2 without the extended master secret.
func ChannelBindingTypes(cs ConnState) []string {
	var types []string
	for _, t := range []string{TLSExporter, TLSServerEndPoint} {
		if _, err := channelBinding(cs, t); err == nil {
			types = append(types, t)
		}
	}
	return types
}

// channelBinding returns the channel binding data of type typ for the
// connection.
func channelBinding(cs ConnState, typ string) ([]byte, error) {
	if cs.TLS == nil {
		return nil, errors.New("no TLS")
	}
	switch typ {
	case TLSExporter:
		// RFC 9266 section 2: 32 bytes, no context. Go refuses exporting
		// from TLS 1.2 without the extended master secret, which is what
		// RFC 9266 section 3 requires.
		return cs.TLS.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	case TLSServerEndPoint:
		if cs.ServerCert == nil {
			return nil, errors.New("no server certificate")
		}
		h, err := endPointHash(cs.ServerCert.SignatureAlgorithm)
		if err != nil {
			return nil, err
		}
		d := h()
		d.Write(cs.ServerCert.Raw)
		return d.Sum(nil), nil
	default:
		return nil, fmt.Errorf("unsupported channel binding type %q", typ)
	}
}

// endPointHash is the hash RFC 5929 section 4.1 names for a certificate:
// that of its signature algorithm, SHA-256 in place of MD5 and SHA-1. An
// algorithm with no single hash (Ed25519) has no tls-server-end-point.
func endPointHash(alg x509.SignatureAlgorithm) (func() hash.Hash, error) {
	switch alg {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		return sha256.New, nil
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		return sha512.New384, nil
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		return sha512.New, nil
	default:
		return nil, fmt.Errorf("no tls-server-end-point hash for %v", alg)
	}
}
