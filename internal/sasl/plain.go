package sasl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// maxPlainField is RFC 4616's limit on each of authzid, authcid and
// password.
const maxPlainField = 255

// plainNegotiation is RFC 4616: one message, authzid NUL authcid NUL
// password, checked against the stored SCRAM keys.
type plainNegotiation struct {
	srv       *Server
	cs        ConnState
	emptySent bool
	over      bool
	username  string
	authzid   string
	ok        bool
}

func (n *plainNegotiation) Username() string {
	if !n.ok {
		return ""
	}
	return n.username
}

func (n *plainNegotiation) AuthzID() string {
	if !n.ok {
		return ""
	}
	return n.authzid
}

func (n *plainNegotiation) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	if n.over {
		return nil, false, fail(MalformedRequest, "", errors.New("PLAIN negotiation is over"))
	}
	if len(in) == 0 && !n.emptySent {
		n.emptySent = true
		return nil, false, nil
	}
	n.over = true
	if len(in) > MaxMessageSize {
		return nil, false, fail(MalformedRequest, "message too long", fmt.Errorf("PLAIN message of %d bytes", len(in)))
	}
	if err := n.verify(ctx, in); err != nil {
		return nil, false, err
	}
	n.ok = true
	return nil, true, nil
}

func (n *plainNegotiation) verify(ctx context.Context, in []byte) error {
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 {
		return malformed("PLAIN message needs exactly two NULs")
	}
	for _, p := range parts {
		if len(p) > maxPlainField || !utf8.Valid(p) {
			return malformed("PLAIN field too long or not UTF-8")
		}
	}
	authzid, authcid, password := string(parts[0]), string(parts[1]), string(parts[2])
	if authcid == "" || password == "" {
		return malformed("empty PLAIN authcid or password")
	}

	username, err := prepareUsername(authcid)
	if err != nil {
		return fail(NotAuthorized, "", err)
	}
	authzid, err = checkAuthzID(authzid, username)
	if err != nil {
		return err
	}
	if f := n.srv.admit(n.cs, username); f != nil {
		return f
	}
	ok, err := n.srv.passwordMatches(ctx, username, password)
	if err != nil {
		return err
	}
	if !ok {
		return n.srv.failed(n.cs, username, fail(NotAuthorized, "", errors.New("wrong password or unknown user")))
	}
	n.username, n.authzid = username, authzid
	n.srv.succeeded(n.cs, username)
	return nil
}

// passwordMatches checks password against username's stored SCRAM keys.
// An unknown user, or one without usable keys, is checked against fake
// credentials so that it costs the same time as a wrong password.
func (s *Server) passwordMatches(ctx context.Context, username, password string) (bool, error) {
	creds, known, err := s.credentials(ctx, username)
	if err != nil {
		return false, err
	}
	h, cred, ok := preferred(creds)
	if !ok {
		fake := fakeCredentials(s.secret, username)
		h, cred, known = sha256Hash, fake.SHA256, false
	}
	// A password SASLprep refuses cannot match; derive from the raw one
	// so that refusing it costs the same time.
	prepped, err := preparePassword(password)
	if err != nil {
		prepped, known = password, false
	}
	if !verifyPassword(h, cred, prepped) || !known {
		return false, nil
	}
	// An account that lacks the record of one hash (imported with
	// SCRAM-SHA-1 only) gets it from the password just checked.
	if s.complete != nil && (!usable(sha1Hash, creds.SHA1) || !usable(sha256Hash, creds.SHA256)) {
		if full, err := completeCredentials(creds, prepped); err == nil {
			s.complete(ctx, username, full)
		}
	}
	return true, nil
}

// CheckPassword reports whether password is the password of the account
// user (an authentication identity, prepared here as SASL prepares it),
// checked against its stored SCRAM keys as PLAIN checks it, and returns
// the prepared localpart. It does not consult the login limiter: callers
// outside SASL (the admin page) keep their own. err is set only when the
// name is invalid or storage failed.
func (s *Server) CheckPassword(ctx context.Context, user, password string) (username string, ok bool, err error) {
	username, err = prepareUsername(user)
	if err != nil {
		return "", false, err
	}
	if password == "" || len(password) > maxPlainField || !utf8.ValidString(password) {
		return username, false, nil
	}
	ok, err = s.passwordMatches(ctx, username, password)
	if err != nil {
		return username, false, fmt.Errorf("check password of %q: %w", username, err)
	}
	return username, ok, nil
}
