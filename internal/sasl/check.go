package sasl

import (
	"context"
	"crypto/rand"

	"minimix/internal/storage"
)

// CredentialsMatch reports whether password matches stored credentials (the
// SHA-256 record, else the SHA-1 one), as PLAIN would check it. Tools
// that import accounts use it to leave matching credentials alone.
func CredentialsMatch(c storage.Credentials, password string) bool {
	prepped, err := preparePassword(password)
	if err != nil {
		return false
	}
	h, cred, ok := preferred(c)
	return ok && verifyPassword(h, cred, prepped)
}

// SetCompleter makes a successful password check (a PLAIN login, or
// CheckPassword) of an account that lacks the credentials of one SCRAM
// hash (an account imported from a server that kept SCRAM-SHA-1 only)
// derive them from the password it just checked and hand the completed
// credentials to complete, which stores them: from then on the account
// can use every SCRAM mechanism. Call it before use.
func (s *Server) SetCompleter(complete func(ctx context.Context, username string, c storage.Credentials)) {
	s.complete = complete
}

// completeCredentials adds to c a record for each hash it lacks, with a
// fresh salt and the iteration count of the record it has.
func completeCredentials(c storage.Credentials, prepped string) (storage.Credentials, error) {
	iters := DefaultIters
	if _, cred, ok := preferred(c); ok {
		iters = max(iters, cred.Iters)
	}
	for _, h := range []scramHash{sha1Hash, sha256Hash} {
		if usable(h, *h.cred(&c)) {
			continue
		}
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
