package sasl

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
	msasl "mellium.im/sasl"

	"minimix/internal/storage"
)

// client is one client side conversation, driven by exchange.
type client struct {
	// next answers a server message; the first call gets nil and returns
	// the initial response.
	next func(server []byte) ([]byte, error)
	// verify checks the additional data with success; nil if none.
	verify func(success []byte) error
}

// exchange runs neg against c until success or failure. A failure of the
// server is returned as is (a *Failure); a client error is wrapped.
func exchange(ctx context.Context, neg Negotiation, c client) error {
	msg, err := c.next(nil)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	for range 4 {
		out, done, err := neg.Step(ctx, msg)
		if err != nil {
			return err
		}
		if done {
			if c.verify != nil {
				if err := c.verify(out); err != nil {
					return fmt.Errorf("client rejected the server: %w", err)
				}
			}
			return nil
		}
		if msg, err = c.next(out); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	}
	return errors.New("too many steps")
}

// mellium is a mellium.im/sasl client. With cs set and a -PLUS mechanism
// it binds (tls-exporter on TLS 1.3, tls-unique before) when remote lists
// the mechanism, and sends the "y" flag when it does not.
func mellium(m msasl.Mechanism, user, pass, authz string, cs *tls.ConnectionState, remote ...string) func(*testing.T) client {
	return func(*testing.T) client {
		opts := []msasl.Option{msasl.Credentials(func() ([]byte, []byte, []byte) {
			return []byte(user), []byte(pass), []byte(authz)
		})}
		if cs != nil {
			opts = append(opts, msasl.TLSState(*cs))
		}
		if len(remote) > 0 {
			opts = append(opts, msasl.RemoteMechanisms(remote...))
		}
		n := msasl.NewClient(m, opts...)
		step := func(in []byte) ([]byte, error) {
			_, out, err := n.Step(in)
			return out, err
		}
		c := client{next: step}
		if strings.HasPrefix(m.Name, "SCRAM") {
			c.verify = func(b []byte) error { _, err := step(b); return err }
		}
		return c
	}
}

// xdg is a github.com/xdg-go/scram client; it prepares the password with
// SASLprep. cb, if set, makes the binding from the client's view of the
// connection; advertise sends the "y" flag.
func xdg(h scram.HashGeneratorFcn, user, pass, authz string, cb func() (scram.ChannelBinding, error), advertise bool) func(*testing.T) client {
	return func(t *testing.T) client {
		c, err := h.NewClient(user, pass, authz)
		if err != nil {
			t.Fatal(err)
		}
		var conv *scram.ClientConversation
		switch {
		case cb != nil:
			b, err := cb()
			if err != nil {
				t.Fatal(err)
			}
			conv = c.NewConversationWithChannelBinding(b)
		case advertise:
			conv = c.NewConversationAdvertisingChannelBinding()
		default:
			conv = c.NewConversation()
		}
		step := func(in []byte) ([]byte, error) {
			out, err := conv.Step(string(in))
			return []byte(out), err
		}
		return client{next: step, verify: func(b []byte) error {
			if _, err := step(b); err != nil {
				return err
			}
			if !conv.Valid() {
				return errors.New("xdg: conversation not valid")
			}
			return nil
		}}
	}
}

// hand is a SCRAM client written from RFC 5802 in the test, for the
// messages the library clients will not send.
type hand struct {
	h      func() hash.Hash
	user   string // already escaped
	pass   string
	gs2    string // GS2 header sent in client-first-message
	cbind  string // GS2 header put in c=; gs2 if empty
	cbData []byte
	ext    string // extension attribute for client-final-message, signed
	// final rewrites client-final-message before it is sent.
	final func(string) string
}

func (hc hand) client(*testing.T) client {
	nonce := "handmadeclientnonce"
	bare := "n=" + hc.user + ",r=" + nonce
	var serverSig []byte
	next := func(in []byte) ([]byte, error) {
		if in == nil {
			return []byte(hc.gs2 + bare), nil
		}
		var rnonce, salt string
		iters := 0
		for _, a := range strings.Split(string(in), ",") {
			switch {
			case strings.HasPrefix(a, "r="):
				rnonce = a[2:]
			case strings.HasPrefix(a, "s="):
				salt = a[2:]
			case strings.HasPrefix(a, "i="):
				iters, _ = strconv.Atoi(a[2:])
			}
		}
		if !strings.HasPrefix(rnonce, nonce) {
			return nil, errors.New("hand: server nonce does not extend ours")
		}
		s, err := base64.StdEncoding.DecodeString(salt)
		if err != nil {
			return nil, err
		}
		salted, err := pbkdf2.Key(hc.h, hc.pass, s, iters, hc.h().Size())
		if err != nil {
			return nil, err
		}
		cbind := hc.cbind
		if cbind == "" {
			cbind = hc.gs2
		}
		withoutProof := "c=" + base64.StdEncoding.EncodeToString(append([]byte(cbind), hc.cbData...)) + ",r=" + rnonce + hc.ext
		authMessage := []byte(bare + "," + string(in) + "," + withoutProof)
		clientKey := hmacOf(hc.h, salted, []byte("Client Key"))
		d := hc.h()
		d.Write(clientKey)
		sig := hmacOf(hc.h, d.Sum(nil), authMessage)
		proof := make([]byte, len(sig))
		for i := range sig {
			proof[i] = clientKey[i] ^ sig[i]
		}
		serverSig = hmacOf(hc.h, hmacOf(hc.h, salted, []byte("Server Key")), authMessage)
		msg := withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
		if hc.final != nil {
			msg = hc.final(msg)
		}
		return []byte(msg), nil
	}
	verify := func(b []byte) error {
		if string(b) != "v="+base64.StdEncoding.EncodeToString(serverSig) {
			return errors.New("hand: bad server signature")
		}
		return nil
	}
	return client{next: next, verify: verify}
}

func hmacOf(h func() hash.Hash, key, data []byte) []byte {
	m := hmac.New(h, key)
	m.Write(data)
	return m.Sum(nil)
}

func exporter(cs *tls.ConnectionState) []byte {
	b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		panic(err)
	}
	return b
}

// endPoint is tls-server-end-point from the client's side: SHA-256 of
// the certificate it was shown (the test certificates are ECDSA-SHA256).
func endPoint(cs *tls.ConnectionState) []byte {
	d := sha256.Sum256(cs.PeerCertificates[0].Raw)
	return d[:]
}

func TestSCRAM(t *testing.T) {
	srv := testServer(t)
	cert := ecdsaCert(t)
	tls13 := tlsConn(t, cert, tls.VersionTLS13)
	tls12 := tlsConn(t, cert, tls.VersionTLS12)
	other := tlsConn(t, cert, tls.VersionTLS13) // another connection, same certificate
	otherCert := tlsConn(t, ecdsaCert(t), tls.VersionTLS13)
	noCert := tls13.server
	noCert.ServerCert = nil
	plain := ConnState{}

	flip := func(b []byte) []byte {
		b = append([]byte(nil), b...)
		b[0] ^= 1
		return b
	}
	exporterOf := func(c conn) func() (scram.ChannelBinding, error) {
		return func() (scram.ChannelBinding, error) { return scram.NewTLSExporterBinding(c.client) }
	}
	endPointOf := func(c conn) func() (scram.ChannelBinding, error) {
		return func() (scram.ChannelBinding, error) { return scram.NewTLSServerEndpointBinding(c.client) }
	}

	for _, tc := range []struct {
		name      string
		mech      string
		cs        ConnState
		client    func(*testing.T) client
		want      string // failure condition, "" for success
		why       string // in the failure's message
		wantUser  string
		wantAuthz string
	}{
		// Success with each mechanism and binding.
		{name: "mellium SCRAM-SHA-1 plaintext", mech: SCRAMSHA1, cs: plain,
			client: mellium(msasl.ScramSha1, "alice", "pencil", "", nil), wantUser: "alice"},
		{name: "mellium SCRAM-SHA-256 plaintext", mech: SCRAMSHA256, cs: plain,
			client: mellium(msasl.ScramSha256, "alice", "pencil", "", nil), wantUser: "alice"},
		{name: "mellium SCRAM-SHA-256 on TLS without binding", mech: SCRAMSHA256, cs: tls13.server,
			client: mellium(msasl.ScramSha256, "alice", "pencil", "", tls13.client), wantUser: "alice"},
		{name: "mellium SCRAM-SHA-256-PLUS tls-exporter", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: mellium(msasl.ScramSha256Plus, "alice", "pencil", "", tls13.client, SCRAMSHA256Plus), wantUser: "alice"},
		{name: "mellium SCRAM-SHA-1-PLUS tls-exporter", mech: SCRAMSHA1Plus, cs: tls13.server,
			client: mellium(msasl.ScramSha1Plus, "alice", "pencil", "", tls13.client, SCRAMSHA1Plus), wantUser: "alice"},
		{name: "xdg SCRAM-SHA-256 plaintext", mech: SCRAMSHA256, cs: plain,
			client: xdg(scram.SHA256, "alice", "pencil", "", nil, false), wantUser: "alice"},
		{name: "xdg SCRAM-SHA-256-PLUS tls-exporter TLS 1.2", mech: SCRAMSHA256Plus, cs: tls12.server,
			client: xdg(scram.SHA256, "alice", "pencil", "", exporterOf(tls12), false), wantUser: "alice"},
		{name: "xdg SCRAM-SHA-256-PLUS tls-server-end-point", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: xdg(scram.SHA256, "alice", "pencil", "", endPointOf(tls13), false), wantUser: "alice"},
		{name: "xdg SCRAM-SHA-1-PLUS tls-server-end-point TLS 1.2", mech: SCRAMSHA1Plus, cs: tls12.server,
			client: xdg(scram.SHA1, "alice", "pencil", "", endPointOf(tls12), false), wantUser: "alice"},
		{name: "hand SCRAM-SHA-256-PLUS tls-server-end-point", mech: SCRAMSHA256Plus, cs: tls13.server,
			client:   hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "p=tls-server-end-point,,", cbData: endPoint(tls13.client)}.client,
			wantUser: "alice"},
		{name: "hand SCRAM-SHA-1-PLUS tls-exporter", mech: SCRAMSHA1Plus, cs: tls13.server,
			client:   hand{h: sha1.New, user: "alice", pass: "pencil", gs2: "p=tls-exporter,,", cbData: exporter(tls13.client)}.client,
			wantUser: "alice"},

		// Usernames and authorization identities.
		{name: "escaped username", mech: SCRAMSHA1, cs: plain,
			client: mellium(msasl.ScramSha1, "x=y,z", "secret", "", nil), wantUser: "x=y,z"},
		{name: "username is case mapped", mech: SCRAMSHA256, cs: plain,
			client: xdg(scram.SHA256, "ALICE", "pencil", "", nil, false), wantUser: "alice"},
		{name: "authzid is own bare JID", mech: SCRAMSHA256Plus, cs: tls13.server,
			client:   xdg(scram.SHA256, "alice", "pencil", "alice@example.net", exporterOf(tls13), false),
			wantUser: "alice", wantAuthz: "alice@example.net"},
		{name: "authzid of another account", mech: SCRAMSHA256, cs: plain,
			client: xdg(scram.SHA256, "alice", "pencil", "bob@example.net", nil, false), want: InvalidAuthzID},
		{name: "authzid full JID", mech: SCRAMSHA256, cs: plain,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "n,a=alice@example.net/phone,"}.client, want: InvalidAuthzID},
		{name: "authzid domain only", mech: SCRAMSHA256, cs: plain,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "n,a=example.net,"}.client, want: InvalidAuthzID},

		// Wrong credentials look the same whether or not the user exists.
		{name: "wrong password", mech: SCRAMSHA256, cs: plain,
			client: mellium(msasl.ScramSha256, "alice", "pen", "", nil), want: NotAuthorized, why: "invalid proof"},
		{name: "unknown user", mech: SCRAMSHA256, cs: plain,
			client: mellium(msasl.ScramSha256, "mallory", "pencil", "", nil), want: NotAuthorized, why: "invalid proof"},
		{name: "wrong password PLUS", mech: SCRAMSHA1Plus, cs: tls13.server,
			client: mellium(msasl.ScramSha1Plus, "alice", "pen", "", tls13.client, SCRAMSHA1Plus), want: NotAuthorized, why: "invalid proof"},
		{name: "unknown user PLUS", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: xdg(scram.SHA256, "mallory", "pencil", "", endPointOf(tls13), false), want: NotAuthorized, why: "invalid proof"},
		{name: "invalid username", mech: SCRAMSHA256, cs: plain,
			client: mellium(msasl.ScramSha256, "al ice", "pencil", "", nil), want: NotAuthorized, why: "disallowed rune"},

		// Downgrade protection (RFC 5802 section 6).
		{name: "y flag while PLUS offered", mech: SCRAMSHA256, cs: tls13.server,
			client: mellium(msasl.ScramSha256Plus, "alice", "pencil", "", tls13.client), want: NotAuthorized, why: "downgrade"},
		{name: "xdg y flag while PLUS offered", mech: SCRAMSHA1, cs: tls12.server,
			client: xdg(scram.SHA1, "alice", "pencil", "", nil, true), want: NotAuthorized, why: "downgrade"},
		{name: "y flag when PLUS not offered", mech: SCRAMSHA256, cs: plain,
			client: mellium(msasl.ScramSha256Plus, "alice", "pencil", "", tls13.client), wantUser: "alice"},
		{name: "xdg y flag when PLUS not offered", mech: SCRAMSHA1, cs: plain,
			client: xdg(scram.SHA1, "alice", "pencil", "", nil, true), wantUser: "alice"},
		{name: "n flag on PLUS", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "n,,"}.client, want: NotAuthorized, why: "required by -PLUS"},
		{name: "y flag on PLUS", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "y,,"}.client, want: NotAuthorized, why: "required by -PLUS"},
		{name: "p flag on non-PLUS", mech: SCRAMSHA256, cs: tls13.server,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "p=tls-exporter,,", cbData: exporter(tls13.client)}.client,
			want:   NotAuthorized, why: "needs a -PLUS"},
		{name: "mellium tls-unique on TLS 1.2 is not supported", mech: SCRAMSHA256Plus, cs: tls12.server,
			client: mellium(msasl.ScramSha256Plus, "alice", "pencil", "", tls12.client, SCRAMSHA256Plus), want: NotAuthorized, why: "unsupported channel binding"},
		{name: "unknown binding type", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "p=tls-magic,,"}.client, want: NotAuthorized, why: "unsupported channel binding"},
		{name: "end-point without server certificate", mech: SCRAMSHA256Plus, cs: noCert,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "p=tls-server-end-point,,", cbData: endPoint(tls13.client)}.client,
			want:   NotAuthorized, why: "no server certificate"},

		// The c= attribute.
		{name: "tampered exporter data", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "p=tls-exporter,,", cbData: flip(exporter(tls13.client))}.client,
			want:   NotAuthorized, why: "binding mismatch"},
		{name: "exporter of another connection", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: xdg(scram.SHA256, "alice", "pencil", "", exporterOf(other), false), want: NotAuthorized, why: "binding mismatch"},
		{name: "end-point of another certificate", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: xdg(scram.SHA256, "alice", "pencil", "", endPointOf(otherCert), false), want: NotAuthorized, why: "binding mismatch"},
		{name: "binding data left out", mech: SCRAMSHA256Plus, cs: tls13.server,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "p=tls-exporter,,"}.client, want: NotAuthorized, why: "binding mismatch"},
		{name: "c= header differs from the one sent", mech: SCRAMSHA256, cs: plain,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "n,,", cbind: "y,,"}.client, want: NotAuthorized, why: "binding mismatch"},
		{name: "c= with exporter data after n flag", mech: SCRAMSHA256, cs: tls13.server,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "n,,", cbData: exporter(tls13.client)}.client, want: NotAuthorized, why: "binding mismatch"},

		// client-final-message.
		{name: "nonce changed", mech: SCRAMSHA256, cs: plain,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "n,,", final: func(s string) string {
				return strings.Replace(s, ",r=handmade", ",r=Handmade", 1)
			}}.client, want: NotAuthorized, why: "nonce mismatch"},
		{name: "proof of the wrong length", mech: SCRAMSHA256, cs: plain,
			client: hand{h: sha1.New, user: "alice", pass: "pencil", gs2: "n,,"}.client, want: MalformedRequest, why: "bad proof"},
		{name: "extension in client-final is ignored", mech: SCRAMSHA256, cs: plain,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "n,,", ext: ",x=whatever"}.client, wantUser: "alice"},
		{name: "extension added after signing", mech: SCRAMSHA256, cs: plain,
			client: hand{h: sha256.New, user: "alice", pass: "pencil", gs2: "n,,", final: func(s string) string {
				return strings.Replace(s, ",p=", ",x=whatever,p=", 1)
			}}.client, want: NotAuthorized, why: "invalid proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			neg, err := srv.Start(ctx, tc.mech, tc.cs)
			if err != nil {
				t.Fatal(err)
			}
			err = exchange(ctx, neg, tc.client(t))
			if got := condition(t, err); got != tc.want {
				t.Fatalf("exchange = %q (%v), want %q", got, err, tc.want)
			}
			if tc.want != "" {
				if !strings.Contains(err.Error(), tc.why) {
					t.Errorf("failed for %q, want a failure for %q", err, tc.why)
				}
				if neg.Username() != "" {
					t.Errorf("Username after failure = %q", neg.Username())
				}
				return
			}
			if neg.Username() != tc.wantUser || neg.AuthzID() != tc.wantAuthz {
				t.Errorf("Username, AuthzID = %q, %q, want %q, %q", neg.Username(), neg.AuthzID(), tc.wantUser, tc.wantAuthz)
			}
		})
	}
}

// TestSCRAMMalformed feeds raw messages. Each case is the messages to
// send; all but the last must be accepted.
func TestSCRAMMalformed(t *testing.T) {
	srv := testServer(t)
	const first = "n,,n=alice,r=0123456789abcdef"
	for _, tc := range []struct {
		name string
		msgs []string
		want string
	}{
		{"empty twice", []string{"", ""}, MalformedRequest},
		{"too long", []string{first + ",x=" + strings.Repeat("a", MaxMessageSize)}, MalformedRequest},
		{"not UTF-8", []string{"n,,n=al\xffice,r=0123456789abcdef"}, MalformedRequest},
		{"no GS2 header", []string{"n=alice,r=0123456789abcdef"}, MalformedRequest},
		{"bad flag", []string{"x,,n=alice,r=0123456789abcdef"}, MalformedRequest},
		{"bad authzid attribute", []string{"n,b=alice,n=alice,r=0123456789abcdef"}, MalformedRequest},
		{"empty authzid", []string{"n,a=,n=alice,r=0123456789abcdef"}, MalformedRequest},
		{"mandatory extension", []string{"n,,m=ext,n=alice,r=0123456789abcdef"}, MalformedRequest},
		{"no nonce", []string{"n,,n=alice"}, MalformedRequest},
		{"swapped attributes", []string{"n,,r=0123456789abcdef,n=alice"}, MalformedRequest},
		{"empty username", []string{"n,,n=,r=0123456789abcdef"}, MalformedRequest},
		{"bad escape", []string{"n,,n=al=2Dice,r=0123456789abcdef"}, MalformedRequest},
		{"short nonce", []string{"n,,n=alice,r=short"}, MalformedRequest},
		{"long nonce", []string{"n,,n=alice,r=" + strings.Repeat("a", maxClientNonce+1)}, MalformedRequest},
		{"unprintable nonce", []string{"n,,n=alice,r=0123456789abcde\x7f"}, MalformedRequest},
		{"bad extension", []string{first + ",1=x"}, MalformedRequest},
		{"bad cb-name", []string{"p=tls_exporter,,n=alice,r=0123456789abcdef"}, MalformedRequest},
		{"final garbage", []string{first, "garbage"}, MalformedRequest},
		{"final no proof", []string{first, "c=biws,r=0123456789abcdef"}, MalformedRequest},
		{"final proof not last", []string{first, "c=biws,r=0123456789abcdef,p=AAAA,x=y"}, MalformedRequest},
		{"final bad proof base64", []string{first, "c=biws,r=0123456789abcdef,p=!!!!"}, MalformedRequest},
		{"final bad c= base64", []string{first, "c=b!ws,r=0123456789abcdef,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32))}, MalformedRequest},
		{"final too long", []string{first, strings.Repeat("a", MaxMessageSize+1)}, MalformedRequest},
		{"well formed, wrong proof", []string{first, "c=biws,r=0123456789abcdef,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32))}, NotAuthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			neg, err := srv.Start(ctx, SCRAMSHA256, ConnState{})
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range tc.msgs {
				_, _, err = neg.Step(ctx, []byte(m))
				if i < len(tc.msgs)-1 && err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if got := condition(t, err); got != tc.want {
				t.Fatalf("last Step = %q (%v), want %q", got, err, tc.want)
			}
			// The negotiation is over after a failure.
			if _, _, err := neg.Step(ctx, []byte(first)); condition(t, err) != MalformedRequest {
				t.Errorf("Step after failure = %v", err)
			}
		})
	}
}

// TestSCRAMVectors checks the exchanges of RFC 5802 section 5 and RFC 7677
// section 3 byte for byte.
func TestSCRAMVectors(t *testing.T) {
	for _, tc := range []struct {
		mech, salt                         string
		h                                  scramHash
		client1, server1, client2, server2 string
	}{
		{
			SCRAMSHA1, "QSXCR+Q6sek8bf92", sha1Hash,
			"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
		{
			SCRAMSHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", sha256Hash,
			"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			salt, _ := base64.StdEncoding.DecodeString(tc.salt)
			cred, err := deriveCredential(tc.h, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			var creds = accounts{"user": {}}
			c := creds["user"]
			*tc.h.cred(&c) = cred
			creds["user"] = c
			srv := NewServer(creds.lookup, nil)
			cnonce := strings.TrimPrefix(tc.client1, "n,,n=user,r=")
			snonce := strings.TrimPrefix(strings.Split(tc.server1, ",")[0], "r="+cnonce)
			srv.serverNonce = func() string { return snonce }

			ctx := context.Background()
			neg, err := srv.Start(ctx, tc.mech, ConnState{})
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := neg.Step(ctx, []byte(tc.client1))
			if err != nil || done || string(out) != tc.server1 {
				t.Fatalf("server-first = %q, %v, %v; want %q", out, done, err, tc.server1)
			}
			out, done, err = neg.Step(ctx, []byte(tc.client2))
			if err != nil || !done || string(out) != tc.server2 {
				t.Fatalf("server-final = %q, %v, %v; want %q", out, done, err, tc.server2)
			}
			if neg.Username() != "user" {
				t.Errorf("Username = %q", neg.Username())
			}
		})
	}
}

// TestUnknownUser checks that an unknown user sees the same kind of
// server-first-message as a known one, with a stable salt, and the same
// failure.
func TestUnknownUser(t *testing.T) {
	srv := testServer(t)
	ctx := context.Background()
	serverFirst := func(mech, user string) (salt []byte, iters string, neg Negotiation) {
		t.Helper()
		neg, err := srv.Start(ctx, mech, ConnState{})
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := neg.Step(ctx, []byte("n,,n="+user+",r=0123456789abcdef"))
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		f := strings.Split(string(out), ",")
		if len(f) != 3 || !strings.HasPrefix(f[0], "r=0123456789abcdef") || len(f[0]) != len("r=0123456789abcdef")+32 {
			t.Fatalf("%s: server-first %q", user, out)
		}
		salt, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(f[1], "s="))
		if err != nil {
			t.Fatal(err)
		}
		return salt, f[2], neg
	}
	for _, mech := range []string{SCRAMSHA1, SCRAMSHA256} {
		t.Run(mech, func(t *testing.T) {
			size := sha256Hash.size
			if mech == SCRAMSHA1 {
				size = sha1Hash.size
			}
			var failures []Failure
			for _, user := range []string{"alice", "mallory"} {
				salt, iters, neg := serverFirst(mech, user)
				if len(salt) != saltLen || iters != "i=4096" {
					t.Errorf("%s: salt of %d bytes, %s", user, len(salt), iters)
				}
				// A well-formed proof that is wrong for both. The nonce is
				// not known here, so ask the negotiation for it.
				sn := neg.(*scramNegotiation)
				msg := "c=biws,r=" + sn.nonce + ",p=" + base64.StdEncoding.EncodeToString(make([]byte, size))
				_, _, err := neg.Step(ctx, []byte(msg))
				var f *Failure
				if !errors.As(err, &f) {
					t.Fatalf("%s: %v", user, err)
				}
				failures = append(failures, Failure{Condition: f.Condition, Text: f.Text})
			}
			if failures[0] != failures[1] || failures[0].Condition != NotAuthorized {
				t.Errorf("known user failed with %+v, unknown with %+v", failures[0], failures[1])
			}
			s1, _, _ := serverFirst(mech, "mallory")
			s2, _, _ := serverFirst(mech, "Mallory") // prepared to the same name
			s3, _, _ := serverFirst(mech, "trudy")
			if string(s1) != string(s2) || string(s1) == string(s3) {
				t.Errorf("fake salts: mallory %x, Mallory %x, trudy %x; want the first two equal", s1, s2, s3)
			}
		})
	}
}

// TestMissingHashRecord: an account with only SHA-256 credentials fails
// SCRAM-SHA-1 like a wrong password.
func TestMissingHashRecord(t *testing.T) {
	c, err := NewCredentials("pencil", 0)
	if err != nil {
		t.Fatal(err)
	}
	c.SHA1 = storage.ScramCredential{}
	srv := NewServer(accounts{"alice": c}.lookup, nil)
	for _, tc := range []struct {
		mech string
		cl   func(*testing.T) client
		want string
	}{
		{SCRAMSHA1, mellium(msasl.ScramSha1, "alice", "pencil", "", nil), NotAuthorized},
		{SCRAMSHA256, mellium(msasl.ScramSha256, "alice", "pencil", "", nil), ""},
	} {
		neg, err := srv.Start(context.Background(), tc.mech, ConnState{})
		if err != nil {
			t.Fatal(err)
		}
		if got := condition(t, exchange(context.Background(), neg, tc.cl(t))); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.mech, got, tc.want)
		}
	}
}
