package blocking

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"

	"minimix/internal/iq"
	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Register answers <blocklist/>, <block/> and <unblock/> sent by an
// account's session to its own account (XEP-0191's requests carry no to),
// and advertises the protocol and its error namespace on the server,
// which is where section 3.1 has clients look, and on the account.
func (s *Service) Register(m *iq.Mux) {
	m.Handle(NS, "blocklist", iq.Self, s.blocklist)
	m.Handle(NS, "block", iq.Self, s.change)
	m.Handle(NS, "unblock", iq.Self, s.change)
	m.Feature(iq.Server|iq.Self, NS, NSErrors)
}

// blocklist returns the account's blocklist and makes the asking session
// one that gets the pushes of later changes (section 3.2).
func (s *Service) blocklist(ctx context.Context, req iq.Request) (*xml.Element, error) {
	if req.Type != "get" {
		return nil, xmpperr.New(xmpperr.BadRequest, "the blocklist is retrieved with get")
	}
	if !req.From.IsBare() {
		if sess := s.cfg.Sessions.Get(req.From); sess != nil {
			s.imu.Lock()
			s.interested[req.From] = sess
			s.imu.Unlock()
		}
	}
	res := xml.New(NS, "blocklist")
	for _, j := range s.list(req.To.Local).sortedOrNil() {
		res.Append(xml.New(NS, "item", "jid", j))
	}
	return res, nil
}

func (l *list) sortedOrNil() []string {
	if l == nil {
		return nil
	}
	return l.sorted
}

// change blocks or unblocks the JIDs of a <block/> or <unblock/> set
// (sections 3.3 to 3.5): it stores the change, then makes it take effect,
// tells the contacts concerned of the account's presence, and pushes the
// change to the sessions that asked for the blocklist.
func (s *Service) change(ctx context.Context, req iq.Request) (*xml.Element, error) {
	block := req.Payload.Local == "block"
	if req.Type != "set" {
		return nil, xmpperr.New(xmpperr.BadRequest, "<"+req.Payload.Local+"/> is sent with set")
	}
	items, err := parseItems(req.Payload)
	if err != nil {
		return nil, err
	}
	if block && len(items) == 0 {
		return nil, xmpperr.New(xmpperr.BadRequest, "<block/> needs at least one <item/>")
	}
	user := req.To
	strs := make([]string, len(items))
	for i, j := range items {
		strs[i] = j.String()
	}

	s.mu.Lock()
	old := s.list(user.Local)
	var next *list
	if block {
		next = old.with(items, nil, false)
		if max := s.cfg.MaxItems; max > 0 && next.len() > max && next.len() > old.len() {
			s.mu.Unlock()
			return nil, xmpperr.New(xmpperr.ResourceConstraintC, fmt.Sprintf("a blocklist holds at most %d JIDs", max)).WithType(xmpperr.Cancel)
		}
		err = s.cfg.Store.Block(ctx, user.Local, strs)
	} else {
		next = old.with(nil, items, len(items) == 0)
		err = s.cfg.Store.Unblock(ctx, user.Local, strs)
	}
	if err != nil {
		s.mu.Unlock()
		s.log.Error("blocklist not changed", "user", user.String(), "block", block, "err", err)
		return nil, xmpperr.New(xmpperr.InternalServerErrorC, "the blocklist could not be stored").WithType(xmpperr.Wait)
	}
	s.setList(user.Local, next)
	s.mu.Unlock()

	s.presenceChanged(ctx, user, old, next)
	s.push(user, req.Payload)
	return nil, nil
}

// parseItems reads the <item jid=.../> children of a block or unblock, in
// canonical form, each once.
func parseItems(p *xml.Element) ([]jid.JID, error) {
	var out []jid.JID
	seen := make(map[jid.JID]bool)
	for _, c := range p.Elements() {
		if c.Space != NS || c.Local != "item" {
			return nil, xmpperr.New(xmpperr.BadRequest, "only <item/> elements may be in <"+p.Local+"/>")
		}
		if !c.HasAttr("jid") {
			return nil, xmpperr.New(xmpperr.BadRequest, "an <item/> needs a jid")
		}
		j, err := jid.Parse(c.Attr("jid"))
		if err != nil {
			return nil, xmpperr.New(xmpperr.JIDMalformed, fmt.Sprintf("%q is not a JID", c.Attr("jid")))
		}
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out, nil
}

// presenceChanged tells the contacts allowed to see the account's
// presence what a change of its blocklist means for them: one now blocked
// gets unavailable presence from each available session, one no longer
// blocked the sessions' current presence (sections 3.3 and 3.4).
func (s *Service) presenceChanged(ctx context.Context, user jid.JID, old, next *list) {
	if s.cfg.Subscribers == nil {
		return
	}
	sessions := s.cfg.Sessions.Sessions(user)
	if len(sessions) == 0 {
		return // nobody is available: the contacts saw the account offline
	}
	subs, err := s.cfg.Subscribers(ctx, user)
	if err != nil {
		s.log.Error("blocklist: contacts not told of the change", "user", user.String(), "err", err)
		return
	}
	for _, c := range subs {
		if exempt(user, c, s.cfg.Domain) {
			continue
		}
		was, is := old.matches(c), next.matches(c)
		if was == is {
			continue
		}
		for _, sess := range sessions {
			if is {
				if sess.State().Presence() == nil {
					continue
				}
				p := xml.New(xml.NSClient, stanza.Presence, "type", "unavailable", "from", sess.JID().String(), "to", c.String())
				s.cfg.Sender.Route(ctx, p, sess.JID(), c)
				continue
			}
			// The session may broadcast a newer presence meanwhile,
			// which c now gets too: it must not arrive before this copy.
			sess.State().SendPresence(func(p *xml.Element) {
				p = p.ShallowClone()
				p.SetAttr("from", sess.JID().String())
				p.SetAttr("to", c.String())
				s.cfg.Sender.Route(ctx, p, sess.JID(), c)
			})
		}
	}
}

// push sends the change to every session of the account that asked for
// the blocklist, as an iq set with the request's payload.
func (s *Service) push(user jid.JID, payload *xml.Element) {
	var to []jid.JID
	s.imu.Lock()
	for _, sess := range s.cfg.Sessions.Sessions(user) {
		if s.interested[sess.JID()] == sess {
			to = append(to, sess.JID())
		}
	}
	s.imu.Unlock()
	if len(to) == 0 {
		return
	}
	// The items as they were stored: in canonical form.
	items, _ := parseItems(payload)
	for _, full := range to {
		sess := s.cfg.Sessions.Get(full)
		if sess == nil {
			continue
		}
		q := xml.New(NS, payload.Local)
		for _, j := range items {
			q.Append(xml.New(NS, "item", "jid", j.String()))
		}
		// No from, as in section 3.3's examples: it comes from the account.
		sess.Deliver(stanza.NewIQ("set", newPushID(), "", full.String(), q))
	}
}

var pushPrefix = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "block-" + hex.EncodeToString(b[:]) + "-"
}()

var pushSeq atomic.Uint64

func newPushID() string {
	return fmt.Sprintf("%s%d", pushPrefix, pushSeq.Add(1))
}
