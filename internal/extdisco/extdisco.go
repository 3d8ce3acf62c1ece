// Package extdisco is external service discovery (XEP-0215): the server
// tells its accounts of the STUN and TURN servers (and any other services
// outside XMPP) that the operator configured, with time-limited TURN
// credentials made from a secret shared with the TURN server, so that
// audio and video calls work behind NAT (docs/extdisco.md).
//
// The credentials follow the TURN REST scheme coturn implements with
// use-auth-secret: the username is "EXPIRY:USER", EXPIRY a Unix time, and
// the password base64(HMAC-SHA1(secret, username)). The TURN server
// checks the password with the same secret and refuses the username once
// EXPIRY has passed; nothing else needs to be shared.
package extdisco

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"time"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NS is the namespace of XEP-0215 version 0.7, and its disco#info feature.
const NS = "urn:xmpp:extdisco:2"

// Service is one external service.
type Service struct {
	Type      string // registry type: stun, turn, turns...
	Host      string
	Port      int
	Transport string // udp, tcp, or "" (left out)
	Name      string // optional label
	// Secret makes credentials from the shared secret for each request;
	// Username and Password are fixed credentials otherwise.
	Secret             bool
	Username, Password string
}

// Config is what a Discovery is built from.
type Config struct {
	Domain   string // the local domain: only its accounts are answered
	Services []Service
	Secret   []byte        // shared with the TURN server
	TTL      time.Duration // lifetime of credentials made from Secret
	Now      func() time.Time
}

// Discovery answers <services/> and <credentials/> requests.
type Discovery struct {
	cfg Config
}

// New returns a Discovery.
func New(cfg Config) *Discovery {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 24 * time.Hour
	}
	return &Discovery{cfg: cfg}
}

// Register answers requests sent to the server (as XEP-0215's examples
// are) or with no to, and advertises urn:xmpp:extdisco:2 on the server.
// With no service configured it registers nothing, so that clients are
// not led to expect a TURN server.
func (d *Discovery) Register(m *iq.Mux) {
	if len(d.cfg.Services) == 0 {
		return
	}
	m.Handle(NS, "services", iq.Server|iq.Self, d.services)
	m.Handle(NS, "credentials", iq.Server|iq.Self, d.credentials)
	m.Feature(iq.Server, NS)
}

// check admits get requests from the local accounts: the list can carry
// credentials to a relay that costs the operator bandwidth.
func (d *Discovery) check(req iq.Request) error {
	if req.Type != "get" {
		return xmpperr.New(xmpperr.BadRequest, "external services are asked for with get")
	}
	if req.From.Local == "" || req.From.Domain != d.cfg.Domain {
		return xmpperr.New(xmpperr.Forbidden, "external services are for this server's accounts")
	}
	return nil
}

// services lists every service, or those of the type asked for (section
// 3.1 and 3.2).
func (d *Discovery) services(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if err := d.check(req); err != nil {
		return nil, err
	}
	typ := req.Payload.Attr("type")
	res := xml.New(NS, "services")
	res.SetAttr("type", typ)
	now := d.cfg.Now()
	for i := range d.cfg.Services {
		s := &d.cfg.Services[i]
		if typ == "" || s.Type == typ {
			res.Append(d.element(s, req.From, now))
		}
	}
	return res, nil
}

// credentials returns the credentials of the services a request names by
// host and type, and port when given (section 3.3); item-not-found when it
// names none the server knows.
func (d *Discovery) credentials(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if err := d.check(req); err != nil {
		return nil, err
	}
	asked := req.Payload.Elements()
	if len(asked) == 0 {
		return nil, xmpperr.New(xmpperr.BadRequest, "<credentials/> names a <service/>")
	}
	res := xml.New(NS, "credentials")
	now := d.cfg.Now()
	for _, a := range asked {
		if a.Space != NS || a.Local != "service" || a.Attr("host") == "" || a.Attr("type") == "" {
			return nil, xmpperr.New(xmpperr.BadRequest, "each <service/> needs host and type")
		}
		port := a.Attr("port")
		for i := range d.cfg.Services {
			s := &d.cfg.Services[i]
			if s.Host == a.Attr("host") && s.Type == a.Attr("type") && (port == "" || port == strconv.Itoa(s.Port)) {
				res.Append(d.element(s, req.From, now))
			}
		}
	}
	if len(res.Elements()) == 0 {
		return nil, xmpperr.New(xmpperr.ItemNotFound, "no such service")
	}
	return res, nil
}

// element is s as a <service/>, with credentials for requester.
func (d *Discovery) element(s *Service, requester jid.JID, now time.Time) *xml.Element {
	el := xml.New(NS, "service", "type", s.Type, "host", s.Host, "port", strconv.Itoa(s.Port))
	el.SetAttr("transport", s.Transport)
	el.SetAttr("name", s.Name)
	switch {
	case s.Secret:
		expires := now.Add(d.cfg.TTL).Truncate(time.Second)
		user, pass := Credentials(d.cfg.Secret, requester.Bare().String(), expires)
		el.SetAttr("username", user)
		el.SetAttr("password", pass)
		el.SetAttr("expires", expires.UTC().Format(time.RFC3339))
	case s.Username != "":
		el.SetAttr("username", s.Username)
		el.SetAttr("password", s.Password)
	}
	return el
}

// Credentials returns the TURN REST credentials of user valid until
// expires: username "EXPIRY:USER" with EXPIRY in Unix seconds, password
// base64(HMAC-SHA1(secret, username)).
func Credentials(secret []byte, user string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + user
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
