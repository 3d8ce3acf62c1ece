package push

import (
	"context"
	"fmt"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/storage"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Register answers <enable/> and <disable/> sent by a session to its own
// account, and advertises urn:xmpp:push:0 on the account, where XEP-0357
// section 4 has clients look, and on the server.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "enable", iq.Self, s.enable)
	m.Handle(NS, "disable", iq.Self, s.disableRequest)
	m.Feature(iq.Self|iq.Server, NS)
}

// enable registers an app server's node for the account (section 5): the
// session that sends it is the one whose absence makes messages pushed.
// Enabling a (jid, node) again replaces its publish options and makes the
// new session the one that counts.
func (s *Service) enable(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type != "set" {
		return nil, xmpperr.New(xmpperr.BadRequest, "push notifications are enabled with set")
	}
	if req.From.IsBare() {
		return nil, xmpperr.New(xmpperr.NotAllowed, "push notifications are enabled by a session")
	}
	p := req.Payload
	service, err := jid.Parse(p.Attr("jid"))
	if err != nil || p.Attr("jid") == "" {
		return nil, xmpperr.New(xmpperr.BadRequest, "<enable/> needs the jid of the app server")
	}
	node := p.Attr("node")
	if node == "" {
		return nil, xmpperr.New(xmpperr.BadRequest, "<enable/> needs the node the app server provisioned")
	}
	var options *xml.Element
	if x := p.Child(dataform.NS, "x"); x != nil {
		if options, err = publishOptions(x); err != nil {
			return nil, err
		}
	}
	account := req.To
	r := &registration{account: account, service: service, node: node, options: options, resource: req.From.Resource, enabled: s.cfg.Now()}
	sr := storage.PushRegistration{User: account.Local, Service: service.String(), Node: node, Resource: r.resource, Enabled: r.enabled}
	if options != nil {
		sr.Options = options.AppendXML(nil, "")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	others := 0
	for _, x := range s.registrations(account) {
		if x.service != service || x.node != node {
			others++
		}
	}
	if max := s.set().MaxRegistrations; max > 0 && others >= max {
		return nil, xmpperr.New(xmpperr.ResourceConstraintC, fmt.Sprintf("an account may enable at most %d push services", max)).WithType(xmpperr.Cancel)
	}
	if err := s.cfg.Store.PutPushRegistration(ctx, sr); err != nil {
		s.log.Error("push registration not stored", "account", account.String(), "service", service.String(), "err", err)
		return nil, xmpperr.New(xmpperr.InternalServerErrorC, "").WithType(xmpperr.Wait)
	}
	s.update(account, func(regs []*registration) []*registration {
		out := make([]*registration, 0, len(regs)+1)
		for _, x := range regs {
			if x.service != service || x.node != node {
				out = append(out, x)
			}
		}
		return append(out, r)
	})
	s.log.Debug("push enabled", "account", account.String(), "service", service.String(), "node", node, "session", r.resource)
	return nil, nil
}

// publishOptions checks the data form of an <enable/>: its FORM_TYPE must
// be publish-options (XEP-0357 section 5). XEP-0357's own example leaves
// out the form's type; it is read as submit, which is how it is sent on.
func publishOptions(x *xml.Element) (*xml.Element, error) {
	x = x.Clone()
	if x.Attr("type") == "" {
		x.SetAttr("type", string(dataform.TypeSubmit))
	}
	f, err := dataform.Parse(x)
	if err != nil {
		return nil, xmpperr.New(xmpperr.BadRequest, err.Error())
	}
	if f.FormType() != nsOptions {
		return nil, xmpperr.New(xmpperr.BadRequest, "the form of <enable/> has the FORM_TYPE "+nsOptions)
	}
	f.Type = dataform.TypeSubmit
	return f.Element(), nil
}

// disableRequest removes the account's registrations of an app server (section
// 6): the one node given, or all of them. Removing what is not enabled is
// not an error.
func (s *Service) disableRequest(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type != "set" {
		return nil, xmpperr.New(xmpperr.BadRequest, "push notifications are disabled with set")
	}
	p := req.Payload
	service, err := jid.Parse(p.Attr("jid"))
	if err != nil || p.Attr("jid") == "" {
		return nil, xmpperr.New(xmpperr.BadRequest, "<disable/> needs the jid of the app server")
	}
	node := p.Attr("node")
	account := req.To
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cfg.Store.DeletePushRegistrations(ctx, account.Local, service.String(), node); err != nil {
		s.log.Error("push registration not deleted", "account", account.String(), "service", service.String(), "err", err)
		return nil, xmpperr.New(xmpperr.InternalServerErrorC, "").WithType(xmpperr.Wait)
	}
	s.update(account, func(regs []*registration) []*registration {
		var out []*registration
		for _, x := range regs {
			if x.service != service || node != "" && x.node != node {
				out = append(out, x)
			}
		}
		return out
	})
	return nil, nil
}
