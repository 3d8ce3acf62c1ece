package c2s

import (
	"context"
	"errors"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

const nsRegister = "jabber:iq:register"

// registrationKey is what the login limiter counts registrations as: an
// account name that no prepared localpart can be.
const registrationKey = "\x00register"

// register answers in-band registration (XEP-0077) before authentication.
func (c *conn) register(ctx context.Context, iq, q *xml.Element) *xml.Element {
	reply := func(p *xml.Element) *xml.Element {
		r := stanza.Result(iq, p)
		r.SetAttr("from", "")
		r.SetAttr("to", "")
		return r
	}
	fail := func(se *xmpperr.StanzaError) *xml.Element {
		r := stanza.ErrorReply(iq, se)
		r.SetAttr("from", "")
		r.SetAttr("to", "")
		return r
	}
	switch iq.Attr("type") {
	case "get":
		return reply(xml.New(nsRegister, "query").Append(
			xml.New(nsRegister, "instructions").AppendText("Choose a username and password."),
			xml.New(nsRegister, "username"),
			xml.New(nsRegister, "password"),
		))
	case "set":
		if !c.secure() && c.srv.cfg.RequireTLS {
			return fail(xmpperr.New(xmpperr.NotAuthorizedC, "TLS required"))
		}
		if l := c.srv.cfg.SASL.Limiter(); l != nil {
			if ok, retry := l.Allow(c.remote, registrationKey); !ok {
				c.srv.logs.Info("in-band registration refused by the login limiter", c.log()...)
				return fail(xmpperr.New(xmpperr.ResourceConstraintC, "too many attempts; try again in "+retry.Round(time.Second).String()))
			}
			// Registrations count as failed logins of a name no account
			// can have, so one address cannot create accounts in bulk.
			l.Fail(c.remote, registrationKey)
		}
		user := q.ChildText(nsRegister, "username")
		pass := q.ChildText(nsRegister, "password")
		if user == "" || pass == "" {
			return fail(xmpperr.New(xmpperr.NotAcceptable, "username and password are required"))
		}
		local, err := jid.PrepLocal(user)
		if err != nil {
			return fail(xmpperr.New(xmpperr.JIDMalformed, "invalid username"))
		}
		reg := c.srv.settings().Registrar
		if reg == nil {
			return fail(xmpperr.New(xmpperr.NotAllowed, "in-band registration is off"))
		}
		if err := reg.Register(ctx, local, pass); err != nil {
			if errors.Is(err, storage.ErrExists) {
				return fail(xmpperr.New(xmpperr.ConflictC, "username taken"))
			}
			if se, ok := errors.AsType[*xmpperr.StanzaError](err); ok {
				return fail(se) // the account rules' answer (a short password)
			}
			c.srv.log.Error("in-band registration failed", append(c.log(), "err", err)...)
			return fail(xmpperr.New(xmpperr.InternalServerErrorC, ""))
		}
		c.srv.log.Info("account registered in-band", append(c.log(), "user", local)...)
		return reply(nil)
	}
	return fail(xmpperr.New(xmpperr.BadRequest, ""))
}
