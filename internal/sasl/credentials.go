package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"

	"minimix/internal/storage"

	"github.com/xdg-go/stringprep"
)

// DefaultIters is the PBKDF2 iteration count for new credentials, the
// minimum RFC 7677 recommends.
const DefaultIters = 4096

// saltLen is the length of new salts and of the fake ones, so that both
// look alike.
const saltLen = 16

// scramHash is one of the SCRAM hash functions.
type scramHash struct {
	name string
	new  func() hash.Hash
	size int
	// cred picks this hash's record from an account's credentials.
	cred func(*storage.Credentials) *storage.ScramCredential
}

var (
	sha1Hash = scramHash{"SHA-1", sha1.New, sha1.Size,
		func(c *storage.Credentials) *storage.ScramCredential { return &c.SHA1 }}
	sha256Hash = scramHash{"SHA-256", sha256.New, sha256.Size,
		func(c *storage.Credentials) *storage.ScramCredential { return &c.SHA256 }}
)

// NewCredentials derives salted SCRAM credentials for SHA-1 and SHA-256
// from password, with a fresh random salt for each and iters PBKDF2
// iterations (DefaultIters if iters <= 0).
//
// The password is prepared with SASLprep (RFC 4013, via
// github.com/xdg-go/stringprep) because RFC 5802 and RFC 7677 require it
// of SCRAM clients: the salted password must come out byte for byte as the
// client computes it. PRECIS OpaqueString (RFC 8265) differs (NFC rather
// than NFKC, different mapping tables), so a client following the SCRAM
// RFCs would fail for some non-ASCII passwords. SASLprep rejects code
// points unassigned in Unicode 3.2, so some passwords (recent emoji, for
// example) are refused with an error.
func NewCredentials(password string, iters int) (storage.Credentials, error) {
	if iters <= 0 {
		iters = DefaultIters
	}
	prepped, err := preparePassword(password)
	if err != nil {
		return storage.Credentials{}, err
	}
	var c storage.Credentials
	for _, h := range []scramHash{sha1Hash, sha256Hash} {
		salt := make([]byte, saltLen)
		rand.Read(salt)
		sc, err := deriveCredential(h, prepped, salt, iters)
		if err != nil {
			return storage.Credentials{}, err
		}
		*h.cred(&c) = sc
	}
	return c, nil
}

// preparePassword applies SASLprep; an empty password is refused.
func preparePassword(password string) (string, error) {
	p, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		return "", fmt.Errorf("sasl: preparing password: %w", err)
	}
	if p == "" {
		return "", fmt.Errorf("sasl: empty password")
	}
	return p, nil
}

// deriveCredential computes the RFC 5802 stored credential for an already
// prepared password.
func deriveCredential(h scramHash, prepped string, salt []byte, iters int) (storage.ScramCredential, error) {
	salted, err := pbkdf2.Key(h.new, prepped, salt, iters, h.size)
	if err != nil {
		return storage.ScramCredential{}, fmt.Errorf("sasl: deriving %s key: %w", h.name, err)
	}
	clientKey := mac(h, salted, []byte("Client Key"))
	return storage.ScramCredential{
		Salt:      salt,
		Iters:     iters,
		StoredKey: sum(h, clientKey),
		ServerKey: mac(h, salted, []byte("Server Key")),
	}, nil
}

// usable reports whether a stored credential can be checked with h.
func usable(h scramHash, c storage.ScramCredential) bool {
	return len(c.Salt) > 0 && c.Iters > 0 && len(c.StoredKey) == h.size && len(c.ServerKey) == h.size
}

// preferred returns the record a password is checked against: SHA-256's,
// else SHA-1's (an account imported with that one only); ok is false when
// neither is usable.
func preferred(c storage.Credentials) (h scramHash, cred storage.ScramCredential, ok bool) {
	for _, h := range []scramHash{sha256Hash, sha1Hash} {
		if cred := *h.cred(&c); usable(h, cred) {
			return h, cred, true
		}
	}
	return scramHash{}, storage.ScramCredential{}, false
}

// verifyPassword checks a prepared password against a stored credential
// in constant time with respect to the keys.
func verifyPassword(h scramHash, c storage.ScramCredential, prepped string) bool {
	d, err := deriveCredential(h, prepped, c.Salt, c.Iters)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(d.StoredKey, c.StoredKey) == 1
}

// fakeCredentials are shown for a username that has no account. They are
// derived from the server secret and the username so that repeated
// attempts see the same salt, as they would for a real account; no
// password matches them (StoredKey is not the hash of any known key).
func fakeCredentials(secret []byte, username string) storage.Credentials {
	var c storage.Credentials
	for _, h := range []scramHash{sha1Hash, sha256Hash} {
		k := func(label string) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write([]byte("minimix sasl fake " + h.name + " " + label + "\x00" + username))
			return m.Sum(nil)
		}
		*h.cred(&c) = storage.ScramCredential{
			Salt:      k("salt")[:saltLen],
			Iters:     DefaultIters,
			StoredKey: k("stored")[:h.size],
			ServerKey: k("server")[:h.size],
		}
	}
	return c
}

func mac(h scramHash, key, data []byte) []byte {
	m := hmac.New(h.new, key)
	m.Write(data)
	return m.Sum(nil)
}

func sum(h scramHash, data []byte) []byte {
	d := h.new()
	d.Write(data)
	return d.Sum(nil)
}
