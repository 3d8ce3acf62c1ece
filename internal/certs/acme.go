package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
)

// ACMEConfig configures an ACME manager.
type ACMEConfig struct {
	// Directory is the CA's directory URL.
	Directory string
	// Email is the account's contact address; "" gives none.
	Email string
	// Roots verify the directory's HTTPS; nil: the system's roots.
	Roots *x509.CertPool
	// Names are the DNS names the certificate is for; the first is its
	// subject.
	Names []string
	// Dir keeps the account key and the certificate with its key.
	Dir string
	// Challenge is "http-01" or "tls-alpn-01".
	Challenge string
	// OnCertificate is called with each certificate issued, and with the
	// stored one that Load finds.
	OnCertificate func(tls.Certificate)
	Logger        *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RetryMin and RetryMax bound the wait after a failed attempt, which
	// doubles from one to the other. Defaults 1m and 6h.
	RetryMin, RetryMax time.Duration
}

// ACME obtains a certificate for the configured names from an ACME
// (RFC 8555) CA with golang.org/x/crypto/acme, keeps it in Dir and
// renews it when a third of its lifetime is left, retrying with a
// backoff when the CA cannot be reached or refuses.
type ACME struct {
	cfg ACMEConfig
	log *slog.Logger

	kick chan struct{}

	mu        sync.Mutex
	http      map[string]string           // challenge path -> key authorization
	alpn      map[string]*tls.Certificate // name -> tls-alpn-01 challenge certificate
	expires   time.Time                   // of the stored certificate; zero: none
	renewAt   time.Time                   // when a third of its lifetime is left
	storedDir string                      // the directory that issued it
	names     []string                    // its names
}

// Account key and certificate file names in Dir.
const (
	acmeAccountKey = "account.key"
	acmeCertSuffix = ".pem"
	pemDirHeader   = "ACME-Directory"
)

// NewACME returns a manager; Load then Run.
func NewACME(cfg ACMEConfig) (*ACME, error) {
	if len(cfg.Names) == 0 {
		return nil, errors.New("acme: no names to certify")
	}
	if cfg.Challenge != "http-01" && cfg.Challenge != "tls-alpn-01" {
		return nil, fmt.Errorf("acme: unknown challenge type %q", cfg.Challenge)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Minute
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(cfg.RetryMin, 6*time.Hour)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &ACME{
		cfg:  cfg,
		log:  log.With("component", "acme"),
		kick: make(chan struct{}, 1),
		http: make(map[string]string),
		alpn: make(map[string]*tls.Certificate),
	}, nil
}

func (a *ACME) certFile() string { return filepath.Join(a.cfg.Dir, a.cfg.Names[0]+acmeCertSuffix) }

// Load reads the stored certificate, if any, and hands it to
// OnCertificate. It reports whether there was one; a stored certificate
// that does not cover every name is still served until its replacement
// is issued.
func (a *ACME) Load() (bool, error) {
	b, err := os.ReadFile(a.certFile())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("acme: %w", err)
	}
	cert, dir, err := decodeStored(b)
	if err != nil {
		// Not fatal: a new one is obtained.
		a.log.Error("stored ACME certificate unusable; obtaining a new one", "file", a.certFile(), "err", err)
		return false, nil
	}
	a.remember(cert, dir)
	if a.cfg.OnCertificate != nil {
		a.cfg.OnCertificate(cert)
	}
	return true, nil
}

func (a *ACME) remember(cert tls.Certificate, dir string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expires = cert.Leaf.NotAfter
	a.renewAt = RenewAt(cert.Leaf)
	a.storedDir = dir
	a.names = cert.Leaf.DNSNames
}

// due returns when the stored certificate should be replaced: now when
// there is none, when it lacks a name or came from another CA, else when
// a third of its lifetime is left.
func (a *ACME) due() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.expires.IsZero() || a.storedDir != a.cfg.Directory {
		return time.Time{}
	}
	for _, n := range a.cfg.Names {
		if !slices.Contains(a.names, n) {
			return time.Time{}
		}
	}
	return a.renewAt
}

// Check asks Run to look at the certificate now (a reload): a failed
// attempt is retried at once instead of after its backoff.
func (a *ACME) Check() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run keeps the certificate valid until ctx is done: it obtains one when
// it is due, sleeps until the next is, and retries failures with a
// backoff.
func (a *ACME) Run(ctx context.Context) {
	wait := time.Duration(0)
	for {
		var d time.Duration
		if wait > 0 {
			d = wait
		} else if at := a.due(); !at.IsZero() {
			d = at.Sub(a.cfg.Now())
		}
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-a.kick:
				t.Stop()
				wait = 0
				if at := a.due(); !at.IsZero() && at.After(a.cfg.Now()) {
					continue
				}
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err := a.Obtain(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			wait = min(max(2*wait, a.cfg.RetryMin), a.cfg.RetryMax)
			a.log.Error("could not obtain a certificate; retrying", "names", a.cfg.Names, "directory", a.cfg.Directory, "retry_in", wait.String(), "err", err)
			continue
		}
		wait = 0
	}
}

// Obtain gets a new certificate for the names now, stores it and hands
// it to OnCertificate.
func (a *ACME) Obtain(ctx context.Context) error {
	client, err := a.client(ctx)
	if err != nil {
		return err
	}
	// No connection to the CA outlives the attempt: renewals are weeks
	// apart.
	defer client.HTTPClient.CloseIdleConnections()
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(a.cfg.Names...))
	if err != nil {
		return fmt.Errorf("acme: new order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		if err := a.authorize(ctx, client, u); err != nil {
			return err
		}
	}
	if order, err = client.WaitOrder(ctx, order.URI); err != nil {
		return fmt.Errorf("acme: order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("acme: generating key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: a.cfg.Names[0]},
		DNSNames: a.cfg.Names,
	}, key)
	if err != nil {
		return fmt.Errorf("acme: certificate request: %w", err)
	}
	// CreateCertFromOrder, not CreateOrderCert: a CA that answers the
	// finalization with "processing" and no Location (Pebble, Boulder
	// under load) is polled at the order's own URL.
	der, _, err := client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return fmt.Errorf("acme: finalize: %w", err)
	}
	cert, err := a.check(der, key)
	if err != nil {
		return err
	}
	if err := a.store(cert, key); err != nil {
		return err
	}
	a.remember(cert, a.cfg.Directory)
	a.log.Info("certificate issued", "names", a.cfg.Names, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339), "renew_at", RenewAt(cert.Leaf).UTC().Format(time.RFC3339), "issuer", cert.Leaf.Issuer.String())
	if a.cfg.OnCertificate != nil {
		a.cfg.OnCertificate(cert)
	}
	return nil
}

// RenewAt is when a certificate from a CA is renewed: when a third of its
// lifetime is left (30 days of Let's Encrypt's 90, 2 of a 6-day one).
func RenewAt(leaf *x509.Certificate) time.Time {
	return leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3)
}

// check parses what the CA issued and makes sure it is for our key and
// names and valid now.
func (a *ACME) check(der [][]byte, key crypto.Signer) (tls.Certificate, error) {
	if len(der) == 0 {
		return tls.Certificate{}, errors.New("acme: the CA returned no certificate")
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("acme: issued certificate: %w", err)
	}
	if !publicKeyEqual(leaf.PublicKey, key.Public()) {
		return tls.Certificate{}, errors.New("acme: issued certificate is not for our key")
	}
	for _, n := range a.cfg.Names {
		if err := leaf.VerifyHostname(n); err != nil {
			return tls.Certificate{}, fmt.Errorf("acme: issued certificate: %w", err)
		}
	}
	if now := a.cfg.Now(); now.After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("acme: issued certificate expired at %v", leaf.NotAfter)
	}
	return tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf}, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// authorize proves control of one name, by the configured challenge.
func (a *ACME) authorize(ctx context.Context, client *acme.Client, url string) error {
	z, err := client.GetAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("acme: authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	name := z.Identifier.Value
	var chal *acme.Challenge
	for _, c := range z.Challenges {
		if c.Type == a.cfg.Challenge {
			chal = c
		}
	}
	if chal == nil {
		return fmt.Errorf("acme: the CA offers no %s challenge for %s", a.cfg.Challenge, name)
	}
	switch chal.Type {
	case "http-01":
		resp, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return fmt.Errorf("acme: %w", err)
		}
		path := client.HTTP01ChallengePath(chal.Token)
		a.mu.Lock()
		a.http[path] = resp
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			delete(a.http, path)
			a.mu.Unlock()
		}()
	case "tls-alpn-01":
		cert, err := client.TLSALPN01ChallengeCert(chal.Token, name)
		if err != nil {
			return fmt.Errorf("acme: %w", err)
		}
		a.mu.Lock()
		a.alpn[name] = &cert
		a.mu.Unlock()
		defer func() {
			a.mu.Lock()
			delete(a.alpn, name)
			a.mu.Unlock()
		}()
	}
	if _, err := client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("acme: accept %s challenge for %s: %w", chal.Type, name, err)
	}
	if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("acme: %s challenge for %s: %w", chal.Type, name, err)
	}
	return nil
}

// client returns an ACME client with our account registered.
func (a *ACME) client(ctx context.Context) (*acme.Client, error) {
	key, err := a.accountKey()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: a.cfg.Roots, MinVersion: tls.VersionTLS12}
	c := &acme.Client{
		Key:          key,
		DirectoryURL: a.cfg.Directory,
		HTTPClient:   &http.Client{Transport: tr, Timeout: time.Minute},
		UserAgent:    "minimix",
	}
	acct := &acme.Account{}
	if a.cfg.Email != "" {
		acct.Contact = []string{"mailto:" + a.cfg.Email}
	}
	if _, err := c.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("acme: register account at %s: %w", a.cfg.Directory, err)
	}
	return c, nil
}

// accountKey returns the account's key, made on first use.
func (a *ACME) accountKey() (crypto.Signer, error) {
	path := filepath.Join(a.cfg.Dir, acmeAccountKey)
	if b, err := os.ReadFile(path); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("acme: %s: no PEM key", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("acme: %s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("acme: %s: not a signing key", path)
		}
		return s, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("acme: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("acme: generating account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	if err := os.MkdirAll(a.cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	if err := writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// store writes the key and chain as one file, replaced atomically so that
// a crash never leaves a certificate with another's key.
func (a *ACME) store(cert tls.Certificate, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	var b []byte
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{pemDirHeader: a.cfg.Directory}, Bytes: der})...)
	for _, c := range cert.Certificate {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	if err := os.MkdirAll(a.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("acme: %w", err)
	}
	return writeFile(a.certFile(), b, 0o600)
}

// decodeStored parses a stored file: the key (with the directory that
// issued the certificate in a header), then the chain.
func decodeStored(b []byte) (tls.Certificate, string, error) {
	var keyPEM, certPEM []byte
	dir := ""
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			dir = blk.Headers[pemDirHeader]
			blk.Headers = nil
			keyPEM = pem.EncodeToMemory(blk)
		case "CERTIFICATE":
			certPEM = append(certPEM, pem.EncodeToMemory(blk)...)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	return cert, dir, nil
}

// HTTPHandler answers the CA's http-01 requests under
// /.well-known/acme-challenge/ and hands every other request to next.
func (a *ACME) HTTPHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			next.ServeHTTP(w, r)
			return
		}
		a.mu.Lock()
		resp, ok := a.http[r.URL.Path]
		a.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(resp))
	})
}

// ChallengeCertificate answers a tls-alpn-01 handshake for the name the
// CA asks for (Holder.SetChallenge).
func (a *ACME) ChallengeCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.alpn[strings.ToLower(hello.ServerName)]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("acme: no tls-alpn-01 challenge pending for %q", hello.ServerName)
}
