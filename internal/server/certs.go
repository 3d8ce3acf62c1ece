package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"minimix/internal/certs"
	"minimix/internal/config"
)

// certWatchInterval is how often the server looks at its certificate's
// expiry to warn about it (and at each reload).
const certWatchInterval = 12 * time.Hour

// serverCerts owns the certificate the listeners present: the operator's
// files (reloaded on SIGHUP), the self-signed one in data_dir/tls, or one
// from an ACME CA (tls.acme) renewed while the server runs.
type serverCerts struct {
	log    *slog.Logger
	holder *certs.Holder
	acme   *certs.ACME // nil unless tls.acme

	mu     sync.Mutex // serializes reloads
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// acmeNames are the names the ACME certificate is for: the domain and
// every service subdomain the server answers for itself.
func acmeNames(cfg *config.Config) []string {
	names := []string{cfg.Domain}
	upload := cfg.Upload.Domain
	if cfg.HTTP.Listen == "" {
		upload = "" // no upload service without the HTTP listener
	}
	for _, d := range []string{cfg.MUC.Domain, cfg.PubSub.Domain, upload} {
		if d != "" && d != cfg.Domain {
			names = append(names, d)
		}
	}
	return names
}

// newServerCerts loads the certificate to present and, with tls.acme,
// the ACME manager (with the certificate it stored before, if any).
func newServerCerts(cfg *config.Config, log *slog.Logger) (*serverCerts, error) {
	cert, err := certs.LoadOrCreate(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.DataDir, cfg.Domain)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	sc := &serverCerts{log: log.With("component", "tls"), holder: certs.NewHolder(cert)}
	if !cfg.TLS.ACME {
		return sc, nil
	}
	var roots *x509.CertPool
	if f := cfg.TLS.ACMECARoots; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("tls.acme_ca_roots: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls.acme_ca_roots %s: no PEM certificates in it", f)
		}
	}
	sc.acme, err = certs.NewACME(certs.ACMEConfig{
		Directory: cfg.TLS.ACMEDirectory,
		Email:     cfg.TLS.ACMEEmail,
		Roots:     roots,
		Names:     acmeNames(cfg),
		Dir:       filepath.Join(cfg.DataDir, "acme"),
		Challenge: cfg.TLS.ACMEChallenge,
		OnCertificate: func(c tls.Certificate) {
			sc.holder.Set(c)
			sc.warnExpiry()
		},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	sc.holder.SetChallenge(sc.acme.ChallengeCertificate)
	if _, err := sc.acme.Load(); err != nil {
		return nil, err
	}
	return sc, nil
}

// start runs the ACME manager and the expiry watch until stop.
func (sc *serverCerts) start() {
	ctx, cancel := context.WithCancel(context.Background())
	sc.cancel = cancel
	if sc.acme != nil {
		sc.wg.Go(func() { sc.acme.Run(ctx) })
	}
	sc.wg.Go(func() {
		sc.warnExpiry()
		t := time.NewTicker(certWatchInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				sc.warnExpiry()
			}
		}
	})
}

func (sc *serverCerts) stop() {
	if sc.cancel != nil {
		sc.cancel()
	}
	sc.wg.Wait()
}

// httpHandler answers ACME http-01 requests before next, with tls.acme.
func (sc *serverCerts) httpHandler(next http.Handler) http.Handler {
	if sc.acme == nil {
		return next
	}
	return sc.acme.HTTPHandler(next)
}

// expiresIn is how long the presented certificate has left.
func (sc *serverCerts) expiresIn() time.Duration { return time.Until(sc.holder.Expires()) }

// expiring reports whether the presented certificate expires within
// certs.ExpiryWarning.
func (sc *serverCerts) expiring() bool { return sc.expiresIn() < certs.ExpiryWarning }

// warnExpiry logs a warning when the certificate expires within
// certs.ExpiryWarning.
func (sc *serverCerts) warnExpiry() {
	c := sc.holder.Get()
	if c == nil || c.Leaf == nil || !sc.expiring() {
		return
	}
	sc.log.Warn("the TLS certificate expires soon", "names", c.Leaf.DNSNames,
		"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339),
		"days_left", int(sc.expiresIn().Hours()/24),
		"hint", "replace tls.cert_file and tls.key_file and send SIGHUP (or run minimix reload), or turn on tls.acme")
}

// reload loads the certificate again for the [tls] section of a new
// configuration (SIGHUP, minimix reload): the files are read again even
// when their names did not change, since replacing the files is how a
// certificate is renewed. With tls.acme (which a reload does not turn on
// or off) the manager is asked to look at its certificate instead.
func (sc *serverCerts) reload(cfg *config.Config) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.acme != nil {
		sc.acme.Check()
		return nil
	}
	if cfg.TLS.ACME {
		return nil // tls.acme needs a restart: keep serving what we have
	}
	cert, err := certs.LoadOrCreate(cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.DataDir, cfg.Domain)
	if err != nil {
		return fmt.Errorf("reload TLS certificate (the old one is still served): %w", err)
	}
	sc.holder.Set(cert)
	from := "self-signed in " + filepath.Join(cfg.DataDir, "tls")
	if cfg.TLS.CertFile != "" {
		from = cfg.TLS.CertFile
	}
	sc.log.Info("TLS certificate reloaded", "from", from, "names", cert.Leaf.DNSNames,
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	sc.warnExpiry()
	return nil
}
