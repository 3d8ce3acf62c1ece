package sasl

import "minimix/internal/storage"

// CheckPassword reports whether password matches stored credentials (the
// SHA-256 record, else the SHA-1 one), as PLAIN would check it. Tools
// that import accounts use it to leave matching credentials alone.
func CheckPassword(c storage.Credentials, password string) bool {
	prepped, err := preparePassword(password)
	if err != nil {
		return false
	}
	for _, h := range []scramHash{sha256Hash, sha1Hash} {
		if cred := *h.cred(&c); usable(h, cred) {
			return verifyPassword(h, cred, prepped)
		}
	}
	return false
}
