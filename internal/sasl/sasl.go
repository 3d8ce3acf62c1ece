// Package sasl is the server side of SASL authentication for client
// streams (RFC 6120 section 6): SCRAM-SHA-1 and SCRAM-SHA-256 with and
// without channel binding (RFC 5802, RFC 7677), PLAIN (RFC 4616), and a
// per-address limiter for failed logins.
//
// The stream layer owns the XML and base64: it lists Mechanisms for a
// connection, calls Server.Start when the client sends <auth/>, and feeds
// every decoded client message to Negotiation.Step until done or a
// *Failure, which names the RFC 6120 section 6.5 condition to send.
//
// Passwords are never kept; accounts have storage.Credentials (salted
// SCRAM keys for both hashes), made by NewCredentials. PLAIN is verified
// against the same keys. An unknown user runs the same exchange as a known
// one with a wrong password, against fake credentials derived from a server
// secret, so that the messages do not tell which usernames exist.
//
// SCRAM is implemented here rather than with github.com/xdg-go/scram: its
// server conversation checks one channel binding type per conversation and
// does not know whether the client chose a -PLUS mechanism, and its
// tls-server-end-point helper hashes the peer's certificate (the client
// side view), so the GS2 rules of RFC 5802 section 6 would have to be
// re-checked around it with a second parser. The message handling is short
// and is tested against two independent clients (mellium.im/sasl and
// xdg-go/scram).
package sasl

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"minimix/internal/storage"

	"mellium.im/xmpp/jid"
)

// Mechanism names, strongest first.
const (
	SCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
	SCRAMSHA1Plus   = "SCRAM-SHA-1-PLUS"
	SCRAMSHA256     = "SCRAM-SHA-256"
	SCRAMSHA1       = "SCRAM-SHA-1"
	Plain           = "PLAIN"
)

// MaxMessageSize bounds one decoded client message. Real SCRAM and PLAIN
// messages are a few hundred bytes.
const MaxMessageSize = 4096

// Failure conditions of RFC 6120 section 6.5.
const (
	Aborted              = "aborted"
	AccountDisabled      = "account-disabled"
	CredentialsExpired   = "credentials-expired"
	EncryptionRequired   = "encryption-required"
	IncorrectEncoding    = "incorrect-encoding"
	InvalidAuthzID       = "invalid-authzid"
	InvalidMechanism     = "invalid-mechanism"
	MalformedRequest     = "malformed-request"
	MechanismTooWeak     = "mechanism-too-weak"
	NotAuthorized        = "not-authorized"
	TemporaryAuthFailure = "temporary-auth-failure"
)

// Failure is a SASL failure. Condition and Text go to the client in
// <failure/>; Err is the reason for the server's log and is never sent.
// Text never says whether the user exists.
type Failure struct {
	Condition string
	Text      string
	Err       error
	// Credentials marks a failure of the password or proof check (or an
	// unknown user), as opposed to a failure to agree on a mechanism or
	// a channel binding. Only these are guesses, and only these count
	// against the login limiter: a client that tries -PLUS with a
	// binding we lack and then falls back (stock slixmpp does) has not
	// guessed anything.
	Credentials bool
	// Throttled marks a refusal by the login limiter: the address has
	// failed too often, for this account or over all of them.
	Throttled bool
	// User is the prepared username the client tried, when it got that
	// far; for the log.
	User string
}

// IsThrottled reports whether err is a refusal by the login limiter.
func IsThrottled(err error) bool {
	var f *Failure
	return errors.As(err, &f) && f.Throttled
}

// FailureText returns the text to send in <failure/> with err: the
// failure's own text, else a sentence for its condition that says what
// happened without saying whether the account exists.
func FailureText(err error) string {
	var f *Failure
	cond := TemporaryAuthFailure
	if errors.As(err, &f) {
		if f.Text != "" {
			return f.Text
		}
		cond = f.Condition
	}
	return ConditionText(cond)
}

// ConditionText is a sentence for a RFC 6120 section 6.5 condition.
func ConditionText(cond string) string {
	switch cond {
	case Aborted:
		return "authentication aborted by the client"
	case AccountDisabled:
		return "the account is disabled"
	case CredentialsExpired:
		return "the credentials have expired"
	case EncryptionRequired:
		return "this mechanism needs an encrypted connection; use STARTTLS first"
	case IncorrectEncoding:
		return "the SASL data is not valid base64"
	case InvalidAuthzID:
		return "you may only act as your own account"
	case InvalidMechanism:
		return "that mechanism is not offered here"
	case MalformedRequest:
		return "the SASL message is malformed"
	case MechanismTooWeak:
		return "that mechanism is too weak for this account"
	case NotAuthorized:
		return "wrong username or password"
	default:
		return "authentication is not possible now; try again later"
	}
}

// IsCredentialFailure reports whether err is a failed password or proof
// check.
func IsCredentialFailure(err error) bool {
	var f *Failure
	return errors.As(err, &f) && f.Credentials
}

func (f *Failure) Error() string {
	s := "sasl: " + f.Condition
	if f.Text != "" {
		s += ": " + f.Text
	}
	if f.Err != nil {
		s += ": " + f.Err.Error()
	}
	return s
}

func (f *Failure) Unwrap() error { return f.Err }

func fail(cond, text string, err error) *Failure {
	return &Failure{Condition: cond, Text: text, Err: err}
}

// Lookup returns the credentials of an account, given its prepared
// localpart, or an error wrapping storage.ErrNotFound.
type Lookup func(ctx context.Context, username string) (storage.Credentials, error)

// ConnState is what the mechanisms need to know about a connection.
type ConnState struct {
	// TLS is the connection's TLS state as crypto/tls returns it (its
	// ExportKeyingMaterial is used), nil on plaintext.
	TLS *tls.ConnectionState
	// ServerCert is the leaf certificate the server presented on this
	// connection, for tls-server-end-point; nil leaves that binding out.
	// The server side tls.ConnectionState does not carry it.
	ServerCert *x509.Certificate
	// AllowPlain says PLAIN may be offered: on TLS, or when the operator
	// allowed plaintext authentication.
	AllowPlain bool
	// Remote is the client's address, for the login limiter; the zero
	// Addr is one shared unknown address.
	Remote netip.Addr
}

// Mechanisms lists the mechanisms to offer on a connection, strongest
// first. The -PLUS variants need TLS and a supported channel binding.
func Mechanisms(cs ConnState) []string {
	var m []string
	if len(ChannelBindingTypes(cs)) > 0 {
		m = append(m, SCRAMSHA256Plus, SCRAMSHA1Plus)
	}
	m = append(m, SCRAMSHA256, SCRAMSHA1)
	if cs.AllowPlain {
		m = append(m, Plain)
	}
	return m
}

// Negotiation is one authentication exchange. It is used by one goroutine
// (the connection's reader) and cannot be reused after done or a failure.
type Negotiation interface {
	// Step consumes one decoded client message and returns the next server
	// message: a challenge while done is false (an empty one when the
	// client sent no initial response), or the additional data for
	// <success/> when done is true. Errors are *Failure; after one the
	// negotiation is over.
	Step(ctx context.Context, in []byte) (out []byte, done bool, err error)
	// Username is the authenticated, prepared localpart once done.
	Username() string
	// AuthzID is the authorization identity the client sent, prepared,
	// once done; empty if none. When set it is a bare JID whose localpart
	// is Username; the caller may check its domain.
	AuthzID() string
}

// Server starts negotiations against one account store.
type Server struct {
	lookup  Lookup
	secret  []byte
	limiter *Limiter // nil: no limit
	// complete stores credentials completed at a PLAIN login
	// (SetCompleter); nil: none are.
	complete func(ctx context.Context, username string, c storage.Credentials)
	// serverNonce makes SCRAM's server nonce; tests replace it to check
	// the RFC test vectors.
	serverNonce func() string
}

// NewServer returns a Server that finds accounts with lookup. secret keys
// the fake credentials shown for unknown users; it should be random, at
// least 32 bytes, and stable across restarts, or else an unknown user's
// salt changes at each restart while a real one's does not. An empty
// secret is replaced by a random one.
func NewServer(lookup Lookup, secret []byte) *Server {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	return &Server{lookup: lookup, secret: append([]byte(nil), secret...), serverNonce: randomNonce}
}

// SetLimiter makes the server count failed logins in l and refuse
// clients it blocks (temporary-auth-failure), from the moment they name
// the account and before their password is checked. Call it before use.
func (s *Server) SetLimiter(l *Limiter) { s.limiter = l }

// Limiter returns the login limiter, or nil.
func (s *Server) Limiter() *Limiter { return s.limiter }

// admit checks the limiter for a client that named username.
func (s *Server) admit(cs ConnState, username string) *Failure {
	if s.limiter == nil {
		return nil
	}
	if ok, retry := s.limiter.Allow(cs.Remote, username); !ok {
		f := fail(TemporaryAuthFailure, fmt.Sprintf("too many failed logins; try again in %s", retry.Round(time.Second)),
			fmt.Errorf("login limiter: %s blocked for %s", cs.Remote, retry.Round(time.Second)))
		f.Throttled, f.User = true, username
		return f
	}
	return nil
}

// failed records a failed password check, and returns f.
func (s *Server) failed(cs ConnState, username string, f *Failure) *Failure {
	f.Credentials, f.User = true, username
	if s.limiter != nil {
		s.limiter.Fail(cs.Remote, username)
	}
	return f
}

// succeeded records a successful login.
func (s *Server) succeeded(cs ConnState, username string) {
	if s.limiter != nil {
		s.limiter.Succeed(cs.Remote, username)
	}
}

// Start begins a negotiation for mech on a connection in state cs. A
// mechanism that Mechanisms(cs) does not offer gives invalid-mechanism,
// except PLAIN on plaintext, which gives encryption-required.
func (s *Server) Start(ctx context.Context, mech string, cs ConnState) (Negotiation, error) {
	offered := false
	for _, m := range Mechanisms(cs) {
		if m == mech {
			offered = true
			break
		}
	}
	if !offered {
		if mech == Plain && cs.TLS == nil {
			return nil, fail(EncryptionRequired, "", errors.New("PLAIN not allowed without TLS"))
		}
		return nil, fail(InvalidMechanism, "", fmt.Errorf("mechanism %q not offered", mech))
	}
	switch mech {
	case Plain:
		return &plainNegotiation{srv: s, cs: cs}, nil
	case SCRAMSHA1, SCRAMSHA1Plus:
		return newSCRAM(s, sha1Hash, strings.HasSuffix(mech, "-PLUS"), cs), nil
	default:
		return newSCRAM(s, sha256Hash, strings.HasSuffix(mech, "-PLUS"), cs), nil
	}
}

// credentials looks up username. An unknown user gets the fake
// credentials (known is false); a storage failure is a Failure.
func (s *Server) credentials(ctx context.Context, username string) (c storage.Credentials, known bool, err error) {
	c, err = s.lookup(ctx, username)
	switch {
	case err == nil:
		return c, true, nil
	case errors.Is(err, storage.ErrNotFound):
		return fakeCredentials(s.secret, username), false, nil
	default:
		return storage.Credentials{}, false, fail(TemporaryAuthFailure, "", fmt.Errorf("looking up credentials: %w", err))
	}
}

// prepareUsername prepares an authentication identity as a JID localpart
// (PRECIS UsernameCaseMapped, RFC 7622).
func prepareUsername(user string) (string, error) {
	if user == "" || !utf8.ValidString(user) {
		return "", errors.New("empty or invalid username")
	}
	j, err := jid.New(user, "example.net", "")
	if err != nil {
		return "", fmt.Errorf("username %q: %w", user, err)
	}
	return j.Localpart(), nil
}

// checkAuthzID accepts an empty authorization identity or a bare JID whose
// localpart is the authenticated username (a client may name itself but
// not act for another account), and returns it prepared.
func checkAuthzID(authzid, username string) (string, error) {
	if authzid == "" {
		return "", nil
	}
	j, err := jid.Parse(authzid)
	if err != nil {
		return "", fail(InvalidAuthzID, "", fmt.Errorf("authzid %q: %w", authzid, err))
	}
	if j.Localpart() != username || j.Resourcepart() != "" {
		return "", fail(InvalidAuthzID, "", fmt.Errorf("authzid %q is not %q", authzid, username))
	}
	return j.String(), nil
}
