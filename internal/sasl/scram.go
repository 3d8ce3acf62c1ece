package sasl

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"minimix/internal/storage"
)

// Client nonce bounds. RFC 5802 sets none; real clients send 16 to 48
// characters, and the lower bound refuses a client that would make the
// combined nonce guessable by itself.
const (
	minClientNonce = 8
	maxClientNonce = 256
	// serverNonceBytes of randomness are appended to the client's nonce.
	serverNonceBytes = 24
)

type scramState int

const (
	scramFirst scramState = iota // waiting for client-first-message
	scramFinal                   // waiting for client-final-message
	scramOver
)

// scramNegotiation is the server side of RFC 5802, with the GS2 channel
// binding rules of its section 6.
type scramNegotiation struct {
	srv   *Server
	h     scramHash
	plus  bool // the client chose a -PLUS mechanism
	cs    ConnState
	state scramState
	// emptySent records that the client sent no initial response and was
	// given an empty challenge; a second empty message is malformed.
	emptySent bool

	gs2Header       string
	cbData          []byte
	clientFirstBare string
	serverFirst     string
	nonce           string
	cred            storage.ScramCredential
	known           bool // cred belongs to an account (not fake)

	username string
	authzid  string
	ok       bool
}

func newSCRAM(srv *Server, h scramHash, plus bool, cs ConnState) *scramNegotiation {
	return &scramNegotiation{srv: srv, h: h, plus: plus, cs: cs}
}

func (n *scramNegotiation) Username() string {
	if !n.ok {
		return ""
	}
	return n.username
}

func (n *scramNegotiation) AuthzID() string {
	if !n.ok {
		return ""
	}
	return n.authzid
}

func (n *scramNegotiation) Step(ctx context.Context, in []byte) ([]byte, bool, error) {
	if len(in) > MaxMessageSize {
		n.state = scramOver
		return nil, false, fail(MalformedRequest, "message too long", fmt.Errorf("SCRAM message of %d bytes", len(in)))
	}
	switch n.state {
	case scramFirst:
		if len(in) == 0 && !n.emptySent {
			// RFC 6120 6.4.2: no initial response; ask for one.
			n.emptySent = true
			return nil, false, nil
		}
		out, err := n.first(ctx, in)
		if err != nil {
			n.state = scramOver
			return nil, false, err
		}
		n.state = scramFinal
		return out, false, nil
	case scramFinal:
		n.state = scramOver
		out, err := n.final(in)
		if err != nil {
			return nil, false, err
		}
		n.ok = true
		return out, true, nil
	default:
		return nil, false, fail(MalformedRequest, "", errors.New("SCRAM negotiation is over"))
	}
}

// first handles client-first-message (RFC 5802 section 7):
//
//	gs2-cbind-flag "," [ "a=" saslname ] "," [ "m=" ... "," ] "n=" saslname "," "r=" c-nonce [ "," extensions ]
func (n *scramNegotiation) first(ctx context.Context, in []byte) ([]byte, error) {
	msg := string(in)
	if !utf8.ValidString(msg) {
		return nil, malformed("client-first-message is not UTF-8")
	}
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, malformed("no GS2 header")
	}
	rawAuthz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, malformed("no GS2 header")
	}
	n.gs2Header = msg[:len(msg)-len(bare)]
	n.clientFirstBare = bare

	if err := n.checkBinding(flag); err != nil {
		return nil, err
	}

	if rawAuthz != "" {
		a, ok := strings.CutPrefix(rawAuthz, "a=")
		if !ok {
			return nil, malformed("bad authzid attribute")
		}
		authzid, err := decodeSASLName(a)
		if err != nil {
			return nil, malformed("authzid: " + err.Error())
		}
		n.authzid = authzid
	}

	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		// RFC 5802 section 5.1: an unknown mandatory extension fails.
		return nil, fail(MalformedRequest, "mandatory extensions are not supported", nil)
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, malformed("expected n= and r=")
	}
	if err := checkExtensions(attrs[2:]); err != nil {
		return nil, err
	}
	user, err := decodeSASLName(attrs[0][2:])
	if err != nil {
		return nil, malformed("username: " + err.Error())
	}
	cnonce := attrs[1][2:]
	if len(cnonce) < minClientNonce || len(cnonce) > maxClientNonce || !printable(cnonce) {
		return nil, malformed("bad nonce")
	}

	// Neither of these failures depends on whether the account exists.
	n.username, err = prepareUsername(user)
	if err != nil {
		return nil, fail(NotAuthorized, "", err)
	}
	if n.authzid, err = checkAuthzID(n.authzid, n.username); err != nil {
		return nil, err
	}
	if f := n.srv.admit(n.cs, n.username); f != nil {
		return nil, f
	}

	creds, known, err := n.srv.credentials(ctx, n.username)
	if err != nil {
		return nil, err
	}
	n.cred, n.known = *n.h.cred(&creds), known
	if !usable(n.h, n.cred) {
		// The account has no usable record for this hash: it cannot log
		// in with this mechanism, and must look like any failed login.
		fake := fakeCredentials(n.srv.secret, n.username)
		n.cred, n.known = *n.h.cred(&fake), false
	}

	n.nonce = cnonce + n.srv.serverNonce()
	n.serverFirst = "r=" + n.nonce +
		",s=" + base64.StdEncoding.EncodeToString(n.cred.Salt) +
		",i=" + strconv.Itoa(n.cred.Iters)
	return []byte(n.serverFirst), nil
}

// checkBinding applies RFC 5802 section 6 to the GS2 channel binding flag
// and, for "p=", fetches the binding data.
func (n *scramNegotiation) checkBinding(flag string) error {
	switch {
	case flag == "n":
		if n.plus {
			return fail(NotAuthorized, "channel binding is required by -PLUS mechanisms", nil)
		}
	case flag == "y":
		if n.plus {
			return fail(NotAuthorized, "channel binding is required by -PLUS mechanisms", nil)
		}
		// The client can bind but believes we cannot: if we offered
		// -PLUS, someone removed it from the list on the way.
		if len(ChannelBindingTypes(n.cs)) > 0 {
			return fail(NotAuthorized, "channel binding downgrade detected",
				errors.New("client flag y but -PLUS mechanisms were offered"))
		}
	case strings.HasPrefix(flag, "p="):
		typ := flag[2:]
		if !cbName(typ) {
			return malformed("bad channel binding name")
		}
		if !n.plus {
			return fail(NotAuthorized, "channel binding needs a -PLUS mechanism", nil)
		}
		data, err := channelBinding(n.cs, typ)
		if err != nil {
			return fail(NotAuthorized, "unsupported channel binding type", err)
		}
		n.cbData = data
	default:
		return malformed("bad GS2 channel binding flag")
	}
	return nil
}

// final handles client-final-message:
//
//	"c=" base64 "," "r=" nonce [ "," extensions ] "," "p=" base64
func (n *scramNegotiation) final(in []byte) ([]byte, error) {
	msg := string(in)
	if !utf8.ValidString(msg) {
		return nil, malformed("client-final-message is not UTF-8")
	}
	attrs := strings.Split(msg, ",")
	if len(attrs) < 3 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, malformed("expected c=, r= and p=")
	}
	last := attrs[len(attrs)-1]
	if !strings.HasPrefix(last, "p=") {
		return nil, malformed("proof is not last")
	}
	if err := checkExtensions(attrs[2 : len(attrs)-1]); err != nil {
		return nil, err
	}
	withoutProof := msg[:len(msg)-len(last)-1]
	proof, err := base64.StdEncoding.Strict().DecodeString(last[2:])
	if err != nil || len(proof) != n.h.size {
		return nil, malformed("bad proof")
	}
	cb := attrs[0][2:]
	if _, err := base64.StdEncoding.Strict().DecodeString(cb); err != nil {
		return nil, malformed("bad channel binding encoding")
	}

	// The GS2 header is repeated in c= so that a flag changed on the way
	// in the first message is detected.
	want := base64.StdEncoding.EncodeToString(append([]byte(n.gs2Header), n.cbData...))
	if subtle.ConstantTimeCompare([]byte(cb), []byte(want)) != 1 {
		return nil, fail(NotAuthorized, "channel binding mismatch", nil)
	}
	if attrs[1][2:] != n.nonce {
		return nil, fail(NotAuthorized, "", errors.New("nonce mismatch"))
	}

	authMessage := []byte(n.clientFirstBare + "," + n.serverFirst + "," + withoutProof)
	clientKey := mac(n.h, n.cred.StoredKey, authMessage)
	subtle.XORBytes(clientKey, clientKey, proof)
	match := subtle.ConstantTimeCompare(sum(n.h, clientKey), n.cred.StoredKey) == 1
	serverSignature := mac(n.h, n.cred.ServerKey, authMessage)
	if !match || !n.known {
		return nil, n.srv.failed(n.cs, n.username, fail(NotAuthorized, "", errors.New("invalid proof or unknown user")))
	}
	n.srv.succeeded(n.cs, n.username)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), nil
}

// randomNonce is the server's part of a SCRAM nonce.
func randomNonce() string {
	b := make([]byte, serverNonceBytes)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func malformed(why string) *Failure {
	return fail(MalformedRequest, "", errors.New(why))
}

// decodeSASLName undoes the "=2C" and "=3D" escaping of RFC 5802 section
// 5.1. Any other "=" is an error.
func decodeSASLName(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty name")
	}
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '=')
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad escape")
		}
		s = s[i+3:]
	}
}

// checkExtensions checks optional attributes (ALPHA "=" value), which are
// otherwise ignored.
func checkExtensions(attrs []string) error {
	for _, a := range attrs {
		if len(a) < 2 || a[1] != '=' || !isAlpha(a[0]) {
			return malformed("bad attribute")
		}
	}
	return nil
}

// printable is RFC 5802's printable: %x21-2B / %x2D-7E.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// cbName is RFC 5802's cb-name: 1*(ALPHA / DIGIT / "." / "-").
func cbName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
