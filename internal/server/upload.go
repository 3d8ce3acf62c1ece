package server

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"minimix/internal/upload"
)

// buildUpload makes the HTTP file upload service (XEP-0363) of
// [upload], a router component whose files the HTTP listener serves; nil
// when upload.domain or http.listen is "".
func (s *Server) buildUpload() (*upload.Service, error) {
	c := s.cfg.Upload
	if c.Domain == "" {
		return nil, nil
	}
	if s.cfg.HTTP.Listen == "" {
		s.log.Warn("file upload is off: it needs the HTTP listener (http.listen)", "upload_domain", c.Domain)
		return nil, nil
	}
	secret, err := loadSecret(filepath.Join(s.cfg.DataDir, "upload.secret"))
	if err != nil {
		return nil, err
	}
	store, err := upload.NewFileStore(filepath.Join(s.cfg.DataDir, "upload"))
	if err != nil {
		return nil, err
	}
	return upload.New(upload.Config{
		Domain:          c.Domain,
		ServerDomain:    s.cfg.Domain,
		MaxFileBytes:    c.MaxFileBytes,
		QuotaBytes:      c.QuotaBytes,
		ExpireAfter:     c.ExpireAfter.Duration,
		TransferTimeout: c.TransferTimeout.Duration,
		Secret:          secret,
		Store:           store,
		Router:          s.Router,
		Logger:          s.log.With("component", "upload"),
	}), nil
}

// httpListening tells the upload service where its files are reached,
// once the HTTP listeners are open: upload.url, else https on the TLS
// listener when there is one, else http, at the server's domain and the
// listener's port.
func (f *features) httpListening(plain, tlsLn net.Listener) {
	if f.upload == nil {
		return
	}
	if u := f.s.cfg.Upload.URL; u != "" {
		f.upload.SetBaseURL(u)
		return
	}
	scheme, ln := "http", plain
	if tlsLn != nil {
		scheme, ln = "https", tlsLn
	}
	if ln == nil {
		return
	}
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		f.s.log.Error("upload: no port in the HTTP listener's address", "addr", ln.Addr().String(), "err", err)
		return
	}
	f.upload.SetBaseURL(fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(f.s.cfg.Domain, port)))
}

// startUpload reads the upload store (quotas, expiry) and starts expiry.
func (f *features) startUpload(ctx context.Context) error {
	if f.upload == nil {
		return nil
	}
	return f.upload.Start(ctx)
}
