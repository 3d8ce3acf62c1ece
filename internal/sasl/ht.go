package sasl

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The HT ("hashed token") mechanisms of FAST (XEP-0484,
// draft-schmaus-kitten-sasl-ht): the client proves it holds a token the
// server issued, bound to a TLS channel binding (or to none), in one
// message. Only SHA-256 is offered.
const (
	HTSHA256None = "HT-SHA-256-NONE"
	HTSHA256Expr = "HT-SHA-256-EXPR" // tls-exporter
	HTSHA256Endp = "HT-SHA-256-ENDP" // tls-server-end-point
	HTSHA256Uniq = "HT-SHA-256-UNIQ" // tls-unique (TLS 1.2)
)

// tlsUnique is RFC 5929's tls-unique, which only the HT mechanisms use:
// clients on TLS 1.2 (older Android) bind FAST tokens with it.
const tlsUnique = "tls-unique"

// ErrTokenReplayed is what Tokens.Verify returns when a token matched but
// the client's XEP-0484 'count' is not above the last one seen for it: a
// replayed authentication.
var ErrTokenReplayed = errors.New("FAST count not above the last one seen for this token")

// HTMechanisms lists the HT mechanisms usable on a connection, strongest
// first: the channel-bound ones where the binding is available, and
// NONE (which still needs TLS: a token is as good as a password).
func HTMechanisms(cs ConnState) []string {
	if cs.TLS == nil {
		return nil
	}
	var m []string
	for _, t := range ChannelBindingTypes(cs) {
		switch t {
		case TLSExporter:
			m = append(m, HTSHA256Expr)
		case TLSServerEndPoint:
			m = append(m, HTSHA256Endp)
		}
	}
	if _, err := uniqueBinding(cs); err == nil {
		m = append(m, HTSHA256Uniq)
	}
	return append(m, HTSHA256None)
}

// uniqueBinding returns tls-unique (RFC 5929 section 3), offered only on
// TLS 1.2 with the extended master secret (RFC 7627), without which it is
// open to the triple handshake attack. Go exports keying material from
// TLS 1.2 only with the extended master secret, so that export working
// is the test.
func uniqueBinding(cs ConnState) ([]byte, error) {
	if cs.TLS == nil || cs.TLS.Version != tls.VersionTLS12 || len(cs.TLS.TLSUnique) == 0 {
		return nil, errors.New("tls-unique needs TLS 1.2")
	}
	if _, err := cs.TLS.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err != nil {
		return nil, fmt.Errorf("tls-unique without the extended master secret: %w", err)
	}
	return cs.TLS.TLSUnique, nil
}

// htBinding is the channel binding type of an HT mechanism, "" for NONE.
func htBinding(mech string) (string, bool) {
	switch mech {
	case HTSHA256None:
		return "", true
	case HTSHA256Expr:
		return TLSExporter, true
	case HTSHA256Endp:
		return TLSServerEndPoint, true
	case HTSHA256Uniq:
		return tlsUnique, true
	}
	return "", false
}

// IsHT reports whether mech is one of the HT mechanisms.
func IsHT(mech string) bool {
	_, ok := htBinding(mech)
	return ok
}

// Tokens checks FAST tokens. Verify calls match with each token that
// username's client uaid holds for mech (the newest first) until one
// matches, and returns whether one did; a matching token becomes the
// client's current one. count is XEP-0484's replay counter (0: the
// client sent none): a token that matches with a count not above the
// last one seen for it gives ErrTokenReplayed. It never says whether the
// user exists.
type Tokens interface {
	Verify(ctx context.Context, username, uaid, mech string, count uint64, match func(token []byte) bool) (bool, error)
}

// StartHT begins an HT negotiation for the client identified by uaid
// (its SASL2 user-agent id), checking tokens in tokens; count is the
// client's XEP-0484 count, 0 when it sent none.
func (s *Server) StartHT(ctx context.Context, mech string, cs ConnState, tokens Tokens, uaid string, count uint64) (Negotiation, error) {
	offered := false
	for _, m := range HTMechanisms(cs) {
		offered = offered || m == mech
	}
	if !offered || tokens == nil {
		return nil, fail(InvalidMechanism, "", fmt.Errorf("mechanism %q not offered", mech))
	}
	if uaid == "" {
		return nil, fail(NotAuthorized, "FAST needs the user-agent id the token was issued to", errors.New("HT without a user-agent id"))
	}
	typ, _ := htBinding(mech)
	var cb []byte
	var err error
	switch typ {
	case "":
	case tlsUnique:
		cb, err = uniqueBinding(cs)
	default:
		cb, err = channelBinding(cs, typ)
	}
	if err != nil {
		return nil, fail(InvalidMechanism, "", fmt.Errorf("%s: %w", mech, err))
	}
	return &htNegotiation{srv: s, cs: cs, tokens: tokens, uaid: uaid, mech: mech, cb: cb, count: count}, nil
}

type htNegotiation struct {
	srv      *Server
	cs       ConnState
	tokens   Tokens
	uaid     string
	mech     string
	cb       []byte
	count    uint64
	over     bool
	username string
	ok       bool
}

func (n *htNegotiation) Username() string {
	if !n.ok {
		return ""
	}
	return n.username
}

func (n *htNegotiation) AuthzID() string { return "" }

// htMAC is HMAC-SHA-256(token, label || channel binding data).
func htMAC(token []byte, label string, cb []byte) []byte {
	m := hmac.New(sha256.New, token)
	m.Write([]byte(label))
	m.Write(cb)
	return m.Sum(nil)
}

// Step takes the one client message, authcid NUL HMAC(token, "Initiator"
// || cb), and answers with HMAC(token, "Responder" || cb).
func (n *htNegotiation) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	if n.over {
		return nil, false, fail(MalformedRequest, "", errors.New("HT negotiation is over"))
	}
	n.over = true
	user, proof, ok := bytes.Cut(in, []byte{0})
	if !ok || len(user) == 0 || len(user) > maxPlainField || !utf8.Valid(user) || len(proof) != sha256.Size {
		return nil, false, malformed("HT message is authcid NUL a SHA-256 HMAC")
	}
	username, err := prepareUsername(string(user))
	if err != nil {
		return nil, false, fail(NotAuthorized, "", err)
	}
	if f := n.srv.admit(n.cs, username); f != nil {
		return nil, false, f
	}
	var matched []byte
	found, err := n.tokens.Verify(ctx, username, n.uaid, n.mech, n.count, func(token []byte) bool {
		if hmac.Equal(htMAC(token, "Initiator", n.cb), proof) {
			matched = token
			return true
		}
		return false
	})
	if errors.Is(err, ErrTokenReplayed) {
		return nil, false, n.srv.failed(n.cs, username, fail(NotAuthorized, "this FAST count was used already: a replayed login", err))
	}
	if err != nil {
		return nil, false, fail(TemporaryAuthFailure, "", fmt.Errorf("checking a FAST token: %w", err))
	}
	if !found {
		// credentials-expired tells the client to drop the token and
		// log in with its password (XEP-0484 business rules).
		return nil, false, n.srv.failed(n.cs, username, fail(CredentialsExpired, "the token is not valid (any more); log in with the password", errors.New("no FAST token matched")))
	}
	n.srv.succeeded(n.cs, username)
	n.username, n.ok = username, true
	return htMAC(matched, "Responder", n.cb), true, nil
}

// ValidMechanismName reports whether s could be a SASL mechanism name
// (RFC 4422: 1 to 20 upper-case letters, digits, '-' and '_').
func ValidMechanismName(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}
