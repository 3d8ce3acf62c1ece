package push

import (
	"context"
	"time"

	"minimix/internal/jid"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// kind is what sort of message a job is about.
type kind int

const (
	direct    kind = iota // a one-to-one message (a room's private message included)
	groupchat             // a room message through account-based group chat
)

// job is one message that reached an account with registrations: what
// the worker needs of it, copied out of the stanza on the delivery path
// (the stanza goes on to be written and readdressed meanwhile).
type job struct {
	account   jid.JID
	kind      kind
	to        jid.JID // direct: the address it was delivered to
	typ       string
	sender    string // the from attribute
	body      string // when the summary carries it
	room      jid.JID
	mentioned bool
	key       string // identifies the message, so that it is pushed once
}

// MessageDelivered implements router.Watcher: a chat or normal message
// that reached a local account, or was kept offline for it.
func (s *Service) MessageDelivered(ctx context.Context, el *xml.Element, from, to jid.JID) {
	account := to.Bare()
	if s.registrations(account) == nil {
		return
	}
	typ := stanza.Type(el)
	if typ != "chat" && typ != "normal" || from.Bare() == account {
		// Groupchat is watched where account-based group chat takes
		// it; a message to oneself is one's own.
		return
	}
	body, ok := content(el)
	if !ok {
		return
	}
	j := job{account: account, kind: direct, to: to, typ: typ, sender: el.Attr("from"), key: messageKey(el, account, jid.JID{})}
	if s.set().IncludeBody {
		j.body = body
	}
	s.enqueue(j)
}

// RoomMessage is account-based group chat's OnRoomMessage hook: a room
// message that reached the account once, or a private message from an
// occupant. It runs under the account's lock.
func (s *Service) RoomMessage(ctx context.Context, account, room jid.JID, nick string, el *xml.Element) {
	if s.registrations(account) == nil {
		return
	}
	body, ok := content(el)
	if !ok {
		return
	}
	from, err := stanza.From(el)
	if err != nil {
		return
	}
	typ := stanza.Type(el)
	j := job{account: account, typ: typ, sender: el.Attr("from"), room: room, key: messageKey(el, account, room)}
	switch typ {
	case "groupchat":
		if from.Resource == "" || from.Resource == nick {
			return // the room's own notices, and the account's own messages
		}
		j.kind = groupchat
		j.mentioned = mentions(el, body, room, account, nick)
	case "chat", "normal":
		j.kind = direct
		j.to = account
	default:
		return
	}
	if s.set().IncludeBody {
		j.body = body
	}
	s.enqueue(j)
}

// enqueue hands j to the worker without waiting; a full queue drops it,
// counted and logged (at most once a second).
func (s *Service) enqueue(j job) {
	select {
	case s.jobs <- j:
		s.Stats.Queued.Add(1)
	default:
		s.Stats.Dropped.Add(1)
		now := time.Now().Unix()
		if last := s.dropLog.Load(); now > last && s.dropLog.CompareAndSwap(last, now) {
			s.log.Warn("push queue full; messages not pushed", "dropped_total", s.Stats.Dropped.Load())
		}
	}
}

// content returns a message's body and whether it is worth a push: it has
// a body, or an encrypted payload (OMEMO, OpenPGP), whose body is at most
// a fallback text.
func content(el *xml.Element) (string, bool) {
	body := ""
	found := false
	for _, c := range el.Elements() {
		switch {
		case c.Local == "body" && c.Space == el.Space:
			if !found {
				body, found = c.Text(), true
			}
		case encrypted(c):
			found = true
		}
	}
	return body, found
}

// encrypted reports whether c is an end-to-end encrypted payload.
func encrypted(c *xml.Element) bool {
	switch c.Space {
	case "eu.siacs.conversations.axolotl", "urn:xmpp:omemo:1", "urn:xmpp:omemo:2":
		return c.Local == "encrypted"
	case "urn:xmpp:openpgp:0":
		return c.Local == "openpgp"
	case "jabber:x:encrypted":
		return c.Local == "x"
	}
	return false
}

// messageKey names a message for de-duplication: the archive id the
// account stamped (<stanza-id by=account>), else the room's, else the
// sender's origin id or id. "" when nothing names it.
func messageKey(el *xml.Element, account, room jid.JID) string {
	if id := stanza.StanzaID(el, account); id != "" {
		return "a:" + id
	}
	if !room.IsZero() {
		if id := stanza.StanzaID(el, room); id != "" {
			return "r:" + id
		}
	}
	from := el.Attr("from")
	if o := el.Child("urn:xmpp:sid:0", "origin-id"); o != nil && o.Attr("id") != "" {
		return "o:" + from + " " + o.Attr("id")
	}
	if id := el.Attr("id"); id != "" {
		return "i:" + from + " " + id
	}
	return ""
}
