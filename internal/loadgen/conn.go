package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdg-go/scram"
)

// Namespaces the client speaks.
const (
	nsTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL     = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind     = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession  = "urn:ietf:params:xml:ns:xmpp-session"
	nsMUC      = "http://jabber.org/protocol/muc"
	nsRegister = "jabber:iq:register"
)

// Target says where the server under test is and which accounts to use.
type Target struct {
	// Addr is host:port of the client (c2s) listener; several,
	// comma-separated (the nodes of a cluster), take connections in
	// turn.
	Addr      string
	Domain    string
	MUCDomain string
	// UserFormat makes account i's local part with fmt.Sprintf
	// (e.g. "user%d"); accounts are numbered from 1.
	UserFormat string
	Password   string
	// StartTLS upgrades every connection with STARTTLS. A server that
	// requires it gets it even when this is false.
	StartTLS bool
	// TLSConfig is used for STARTTLS; nil verifies nothing (servers
	// under test use self-signed certificates).
	TLSConfig *tls.Config
	// Mechanism is "SCRAM-SHA-256", "SCRAM-SHA-1" or "" (the best the
	// server offers).
	Mechanism string
	// DialTimeout bounds one login; 0 means 30 s.
	DialTimeout time.Duration
}

// User returns account i's local part.
func (t *Target) User(i int) string { return fmt.Sprintf(t.UserFormat, i) }

// BareJID returns account i's bare JID.
func (t *Target) BareJID(i int) string { return t.User(i) + "@" + t.Domain }

func (t *Target) timeout() time.Duration {
	if t.DialTimeout > 0 {
		return t.DialTimeout
	}
	return 30 * time.Second
}

// Credentials caches one SCRAM client per account and hash, so that the
// salted password is derived once per account rather than once per login:
// the tool must not spend on PBKDF2 what the server spends on it.
type Credentials struct {
	mu sync.Mutex
	m  map[string]*scram.Client
}

func (c *Credentials) client(mech, user, password string) (*scram.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := mech + "\x00" + user + "\x00" + password
	if cl := c.m[key]; cl != nil {
		return cl, nil
	}
	var (
		cl  *scram.Client
		err error
	)
	switch mech {
	case "SCRAM-SHA-256":
		cl, err = scram.SHA256.NewClient(user, password, "")
	case "SCRAM-SHA-1":
		cl, err = scram.SHA1.NewClient(user, password, "")
	default:
		return nil, fmt.Errorf("unsupported mechanism %q", mech)
	}
	if err != nil {
		return nil, fmt.Errorf("scram client for %s: %w", user, err)
	}
	if c.m == nil {
		c.m = make(map[string]*scram.Client)
	}
	c.m[key] = cl
	return cl, nil
}

// Conn is one client stream. After Login, one goroutine runs Read and any
// number may call Send and Flush.
type Conn struct {
	JID string // full JID the server bound

	nc net.Conn
	sc *Scanner

	wmu sync.Mutex
	w   *bufio.Writer
}

// Handler is called by Conn.Read for each top-level element after login.
// raw is only valid during the call.
type Handler func(raw []byte)

// ErrStreamClosed is returned by Read when the server closed the stream
// (</stream:stream>).
var ErrStreamClosed = errors.New("stream closed by the server")

// nextAddr turns connections over a Target's addresses in turn.
var nextAddr atomic.Uint64

// dialer opens client connections; TCP keepalives are off, as the tool
// watches its connections itself.
var dialer = net.Dialer{KeepAlive: -1}

// connect opens a TCP connection and the first stream, and negotiates
// STARTTLS when wanted or required. It returns the stream features.
func connect(ctx context.Context, t *Target) (*Conn, []byte, error) {
	addr := t.Addr
	if strings.Contains(addr, ",") {
		addrs := strings.Split(addr, ",")
		addr = strings.TrimSpace(addrs[int(nextAddr.Add(1)-1)%len(addrs)])
	}
	nc, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &Conn{nc: nc, sc: NewScanner(nc), w: bufio.NewWriterSize(nc, 4<<10)}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	feats, err := c.openStream(t.Domain)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if Has(feats, "starttls") && (t.StartTLS || Has(feats, "required")) {
		if err := c.write(`<starttls xmlns='` + nsTLS + `'/>`); err != nil {
			nc.Close()
			return nil, nil, err
		}
		raw, err := c.expect()
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		if !Is(raw, "proceed") {
			nc.Close()
			return nil, nil, fmt.Errorf("starttls refused: %s", describe(raw))
		}
		cfg := t.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{InsecureSkipVerify: true, ServerName: t.Domain}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("tls handshake: %w", err)
		}
		c.nc = tc
		c.sc.Reset(tc)
		c.w.Reset(tc)
		if feats, err = c.openStream(t.Domain); err != nil {
			tc.Close()
			return nil, nil, err
		}
	} else if t.StartTLS {
		nc.Close()
		return nil, nil, errors.New("STARTTLS asked for but not offered")
	}
	return c, feats, nil
}

// Login connects account i with resource res: TLS as configured, SCRAM,
// resource binding and, when the server still requires it, session
// establishment. It sends no presence.
func Login(ctx context.Context, t *Target, creds *Credentials, i int, res string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout())
	defer cancel()
	user := t.User(i)
	c, feats, err := connect(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", user, err)
	}
	if err := c.auth(t, creds, feats, user); err != nil {
		c.nc.Close()
		return nil, fmt.Errorf("%s: %w", user, err)
	}
	if err := c.bind(t.Domain, res); err != nil {
		c.nc.Close()
		return nil, fmt.Errorf("%s: %w", user, err)
	}
	c.nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *Conn) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.WriteString(s)
	return c.w.Flush()
}

// openStream sends a stream header and reads the server's header and
// features.
func (c *Conn) openStream(domain string) ([]byte, error) {
	if err := c.write(`<?xml version='1.0'?><stream:stream to='` + domain +
		`' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`); err != nil {
		return nil, fmt.Errorf("stream header: %w", err)
	}
	k, raw, err := c.sc.Next()
	if err != nil {
		return nil, fmt.Errorf("reading stream header: %w", err)
	}
	if k != KindStreamOpen {
		return nil, fmt.Errorf("expected a stream header, got %s", describe(raw))
	}
	feats, err := c.expect()
	if err != nil {
		return nil, err
	}
	if !Is(feats, "features") {
		return nil, fmt.Errorf("expected stream features, got %s", describe(feats))
	}
	return feats, nil
}

// expect reads the next element during negotiation.
func (c *Conn) expect() ([]byte, error) {
	k, raw, err := c.sc.Next()
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	switch k {
	case KindStreamClose:
		return nil, ErrStreamClosed
	case KindStreamOpen:
		return nil, errors.New("unexpected stream header")
	}
	if Is(raw, "error") {
		return nil, fmt.Errorf("stream error: %s", describe(raw))
	}
	return raw, nil
}

// mechanisms lists the SASL mechanisms in features.
func mechanisms(feats []byte) []string {
	var out []string
	s := string(feats)
	for {
		i := strings.Index(s, "<mechanism>")
		if i < 0 {
			return out
		}
		s = s[i+len("<mechanism>"):]
		j := strings.IndexByte(s, '<')
		if j < 0 {
			return out
		}
		out = append(out, strings.TrimSpace(s[:j]))
		s = s[j:]
	}
}

// pickMechanism chooses want if offered, else the best SCRAM offered.
func pickMechanism(offered []string, want string) (string, error) {
	has := func(m string) bool {
		for _, o := range offered {
			if o == m {
				return true
			}
		}
		return false
	}
	if want != "" {
		if has(want) {
			return want, nil
		}
		return "", fmt.Errorf("server does not offer %s (offers %v)", want, offered)
	}
	for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1"} {
		if has(m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("server offers no SCRAM mechanism without channel binding (offers %v)", offered)
}

func (c *Conn) auth(t *Target, creds *Credentials, feats []byte, user string) error {
	mech, err := pickMechanism(mechanisms(feats), t.Mechanism)
	if err != nil {
		return err
	}
	cl, err := creds.client(mech, user, t.Password)
	if err != nil {
		return err
	}
	conv := cl.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	if err := c.write(`<auth xmlns='` + nsSASL + `' mechanism='` + mech + `'>` +
		base64.StdEncoding.EncodeToString([]byte(first)) + `</auth>`); err != nil {
		return err
	}
	for {
		raw, err := c.expect()
		if err != nil {
			return err
		}
		switch Name(raw) {
		case "challenge", "success":
			data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(Text(raw)))
			if err != nil {
				return fmt.Errorf("sasl %s: %w", Name(raw), err)
			}
			if Name(raw) == "success" {
				if len(data) > 0 {
					if _, err := conv.Step(string(data)); err != nil {
						return fmt.Errorf("scram server signature: %w", err)
					}
				}
				if !conv.Valid() {
					return errors.New("scram: server not verified")
				}
				return nil
			}
			resp, err := conv.Step(string(data))
			if err != nil {
				return fmt.Errorf("scram: %w", err)
			}
			if err := c.write(`<response xmlns='` + nsSASL + `'>` +
				base64.StdEncoding.EncodeToString([]byte(resp)) + `</response>`); err != nil {
				return err
			}
		case "failure":
			return fmt.Errorf("authentication failed: %s", describe(raw))
		default:
			return fmt.Errorf("unexpected during SASL: %s", describe(raw))
		}
	}
}

func (c *Conn) bind(domain, res string) error {
	feats, err := c.openStream(domain)
	if err != nil {
		return err
	}
	if !Has(feats, "bind") {
		return fmt.Errorf("no resource binding offered: %s", describe(feats))
	}
	if err := c.write(`<iq type='set' id='bind1'><bind xmlns='` + nsBind + `'><resource>` +
		escapeText(res) + `</resource></bind></iq>`); err != nil {
		return err
	}
	raw, err := c.expectIQ("bind1")
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	j, ok := ChildText(raw, "jid")
	if !ok || j == "" {
		return fmt.Errorf("bind result without a JID: %s", describe(raw))
	}
	c.JID = j
	// RFC 6121 dropped session establishment; some servers still list
	// it, and only a non-optional one needs the request.
	if Has(feats, "session") && !Has(feats, "optional") {
		if err := c.write(`<iq type='set' id='sess1'><session xmlns='` + nsSession + `'/></iq>`); err != nil {
			return err
		}
		if _, err := c.expectIQ("sess1"); err != nil {
			return fmt.Errorf("session: %w", err)
		}
	}
	return nil
}

// expectIQ reads until the iq result with id, skipping other stanzas.
func (c *Conn) expectIQ(id string) ([]byte, error) {
	for {
		raw, err := c.expect()
		if err != nil {
			return nil, err
		}
		if !Is(raw, "iq") || Attr(raw, "id") != id {
			continue
		}
		if Attr(raw, "type") != "result" {
			return nil, fmt.Errorf("iq %s failed: %s", id, errorCondition(raw))
		}
		return raw, nil
	}
}

// Send queues s for writing; Flush writes what is queued. Writers that
// send in bursts call Send many times and Flush once.
func (c *Conn) Send(s []byte) {
	c.wmu.Lock()
	c.w.Write(s)
	c.wmu.Unlock()
}

// Flush writes what Send queued.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

// SendNow writes s at once.
func (c *Conn) SendNow(s string) error {
	return c.write(s)
}

// Read reads stanzas until the stream ends, calling h for each. It
// answers pings and refuses other requests addressed to the client, as a
// client must. It returns ErrStreamClosed when the server closes the
// stream, or the read error.
func (c *Conn) Read(h Handler) error {
	for {
		k, raw, err := c.sc.Next()
		if err != nil {
			return err
		}
		switch k {
		case KindStreamClose:
			return ErrStreamClosed
		case KindStreamOpen:
			continue
		}
		if Is(raw, "iq") {
			if t := Attr(raw, "type"); t == "get" || t == "set" {
				c.answerIQ(raw, t)
			}
		}
		if h != nil {
			h(raw)
		}
	}
}

func (c *Conn) answerIQ(raw []byte, typ string) {
	id := escapeAttr(Attr(raw, "id"))
	to := escapeAttr(Attr(raw, "from"))
	var reply string
	if typ == "get" && Has(raw, "ping") {
		reply = `<iq type='result' id='` + id + `' to='` + to + `'/>`
	} else {
		reply = `<iq type='error' id='` + id + `' to='` + to + `'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`
	}
	c.Send([]byte(reply))
	c.Flush()
}

// Close ends the stream and closes the connection without waiting for
// the server's side.
func (c *Conn) Close() error {
	c.write(`</stream:stream>`)
	return c.nc.Close()
}

// CloseWait ends the stream and waits (up to d) for the server to close
// its side, so that the server, not the tool, keeps the TIME_WAIT state of
// a connection the tool opens and closes often; for use by a caller that
// is not running Read.
func (c *Conn) CloseWait(d time.Duration) error {
	c.write(`</stream:stream>`)
	c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		// Some servers answer with their closing tag and leave the
		// socket to the client: that is the end too.
		k, _, err := c.sc.Next()
		if err != nil || k == KindStreamClose {
			break
		}
	}
	return c.nc.Close()
}

// Abort closes the connection without ending the stream, as a client
// that lost its network would.
func (c *Conn) Abort() error { return c.nc.Close() }

// escapeText escapes character data.
func escapeText(s string) string {
	if !strings.ContainsAny(s, "<>&") {
		return s
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// escapeAttr escapes an attribute value quoted with '.
func escapeAttr(s string) string {
	if !strings.ContainsAny(s, "<>&'\"") {
		return s
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", `"`, "&quot;")
	return r.Replace(s)
}
