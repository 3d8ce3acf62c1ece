package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"minimix/internal/s2s"
	"minimix/internal/xml"
)

// buildS2S makes the server-to-server transport of [s2s]: it presents the
// server's certificate both ways, trusts ca_file (or the system's roots),
// keys its dialback with a secret kept in data_dir so that keys made
// before a restart still verify after it, and serves every domain the
// router serves.
func (s *Server) buildS2S(tlsCfg *tls.Config) (*s2s.Server, error) {
	c := s.cfg.S2S
	var roots *x509.CertPool
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s2s.ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s2s.ca_file %s: no PEM certificates in it", c.CAFile)
		}
	}
	secret, err := loadSecret(filepath.Join(s.cfg.DataDir, "dialback.secret"))
	if err != nil {
		return nil, err
	}
	return s2s.New(s2s.Config{
		Domain:            s.cfg.Domain,
		Hosted:            s.Router.IsLocal,
		TLS:               tlsCfg,
		RootCAs:           roots,
		RequireTLS:        c.RequireTLS,
		RequireValidCerts: c.RequireValidCerts,
		DialbackSecret:    secret,
		Limits: xml.Limits{
			MaxStanzaBytes: s.cfg.Limits.MaxStanzaBytes,
			MaxDepth:       s.cfg.Limits.MaxDepth,
			MaxHeaderBytes: s.cfg.Limits.MaxHeaderBytes,
		},
		PreAuthStanzaBytes: c.PreAuthStanzaBytes,
		Router:             s.Router,
		Hosts:              c.Hosts,
		ConnectTimeout:     c.ConnectTimeout.Duration,
		NegotiateTimeout:   c.NegotiateTimeout.Duration,
		IdleTimeout:        c.IdleTimeout.Duration,
		QueueMax:           c.QueueMax,
		RetryInitial:       c.RetryInitial.Duration,
		RetryMax:           c.RetryMax.Duration,
		MaxConnections:     c.MaxConnections,
		LinkLost:           s.features.remoteLinkLost,
		Logger:             s.log,
	}), nil
}
