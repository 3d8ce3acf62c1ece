package xmpptest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"strings"
	"time"

	"mellium.im/sasl"
)

// SASL2 (XEP-0388), Bind 2 (XEP-0386) and FAST (XEP-0484) by hand.

// Namespaces of SASL2, Bind 2 and FAST.
const (
	NSSASL2 = "urn:xmpp:sasl:2"
	NSBind2 = "urn:xmpp:bind:0"
	NSFAST  = "urn:xmpp:fast:0"
)

// SASL2SCRAM authenticates with SCRAM-SHA-256 over SASL2 (mellium.im/sasl's
// client), sending inline (Bind 2, resume, user-agent, FAST requests)
// inside <authenticate/>, and returns the server's <success/> (its
// additional data verified as the server's signature) or <failure/>.
func (r *Raw) SASL2SCRAM(user, password, inline string) Node {
	r.t.Helper()
	neg := sasl.NewClient(sasl.ScramSha256, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(password), nil
	}))
	_, resp, err := neg.Step(nil)
	if err != nil {
		r.t.Fatalf("raw: SCRAM first message: %v", err)
	}
	r.Send("<authenticate xmlns='" + NSSASL2 + "' mechanism='SCRAM-SHA-256'><initial-response>" +
		base64.StdEncoding.EncodeToString(resp) + "</initial-response>" + inline + "</authenticate>")
	for {
		n, err := r.Next(5 * time.Second)
		if err != nil {
			r.t.Fatalf("raw: SASL2 SCRAM: %v", err)
		}
		if n.XMLName.Space != NSSASL2 {
			return n
		}
		switch n.XMLName.Local {
		case "challenge":
			ch, err := base64.StdEncoding.DecodeString(strings.TrimSpace(n.Text))
			if err != nil {
				r.t.Fatalf("raw: SASL2 challenge: %v", err)
			}
			if _, resp, err = neg.Step(ch); err != nil {
				r.t.Fatalf("raw: SCRAM step: %v", err)
			}
			r.Send("<response xmlns='" + NSSASL2 + "'>" + base64.StdEncoding.EncodeToString(resp) + "</response>")
		case "success":
			ad := n.Child(NSSASL2, "additional-data")
			if ad == nil {
				r.t.Fatalf("raw: SASL2 success without additional data: %s", n)
			}
			final, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ad.Text))
			if err != nil {
				r.t.Fatalf("raw: SASL2 additional data: %v", err)
			}
			if _, _, err := neg.Step(final); err != nil {
				r.t.Fatalf("raw: server signature does not verify: %v", err)
			}
			return n
		default:
			return n
		}
	}
}

// HTProof is the client message of an HT mechanism: user NUL
// HMAC-SHA-256(token, "Initiator" || cb).
func HTProof(user, token string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	m.Write(cb)
	return append([]byte(user+"\x00"), m.Sum(nil)...)
}

// HTResponder is what the server proves back: HMAC-SHA-256(token,
// "Responder" || cb).
func HTResponder(token string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Responder"))
	m.Write(cb)
	return m.Sum(nil)
}

// ChannelBinding returns the connection's tls-exporter data (RFC 9266),
// for HT-SHA-256-EXPR.
func (r *Raw) ChannelBinding() []byte {
	r.t.Helper()
	st := r.tlsState()
	b, err := st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		r.t.Fatalf("raw: tls-exporter: %v", err)
	}
	return b
}

// TLSUnique returns the connection's tls-unique (RFC 5929), for
// HT-SHA-256-UNIQ on TLS 1.2.
func (r *Raw) TLSUnique() []byte {
	r.t.Helper()
	st := r.tlsState()
	if len(st.TLSUnique) == 0 {
		r.t.Fatal("raw: no tls-unique on this connection")
	}
	return st.TLSUnique
}

func (r *Raw) tlsState() tls.ConnectionState {
	r.t.Helper()
	tc, ok := r.conn.(*tls.Conn)
	if !ok {
		r.t.Fatal("raw: no TLS")
	}
	return tc.ConnectionState()
}

// HTBinding is the channel binding data an HT mechanism covers on r.
func (r *Raw) HTBinding(mech string) []byte {
	r.t.Helper()
	switch mech {
	case "HT-SHA-256-EXPR":
		return r.ChannelBinding()
	case "HT-SHA-256-UNIQ":
		return r.TLSUnique()
	}
	return nil
}

// SASL2FAST authenticates with a FAST token and mechanism mech
// (HT-SHA-256-NONE, -EXPR or -UNIQ), sending inline inside
// <authenticate/> after <initial-response/>, and returns <success/>
// (whose additional data the caller may check with HTResponder) or
// <failure/>.
func (r *Raw) SASL2FAST(user, token, mech, inline string) Node {
	r.t.Helper()
	r.Send("<authenticate xmlns='" + NSSASL2 + "' mechanism='" + mech + "'><initial-response>" +
		base64.StdEncoding.EncodeToString(HTProof(user, token, r.HTBinding(mech))) + "</initial-response>" + inline + "</authenticate>")
	n, err := r.Next(5 * time.Second)
	if err != nil {
		r.t.Fatalf("raw: SASL2 FAST: %v", err)
	}
	return n
}
