package extdisco

import (
	"testing"
	"time"
)

// TestCredentials checks the TURN REST scheme against a value computed
// with Python's hmac module:
//
//	base64.b64encode(hmac.new(b'north', b'1700000000:alice@localhost', hashlib.sha1).digest())
func TestCredentials(t *testing.T) {
	user, pass := Credentials([]byte("north"), "alice@localhost", time.Unix(1700000000, 0))
	if user != "1700000000:alice@localhost" {
		t.Errorf("username = %q", user)
	}
	if pass != "ZpZzWpxGMEIfiWJAF3AWU309EHI=" {
		t.Errorf("password = %q", pass)
	}
}
