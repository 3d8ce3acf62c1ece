package muc

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"minimix/internal/dataform"
	"minimix/internal/iq"
	"minimix/internal/mam"
	"minimix/internal/rsm"
	"minimix/internal/stanza"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// serviceFeatures are the service's disco#info features.
var serviceFeatures = []string{
	NS, NSUnique, NSSelfPing, NSOccupantID, stanza.NSDiscoInfo, stanza.NSDiscoItem, nsPing, rsm.NS,
}

// serviceInfo answers disco#info on the service.
func (s *Service) serviceInfo(p *xml.Element) (*xml.Element, error) {
	if p.HasAttr("node") {
		return nil, xmpperr.New(xmpperr.ItemNotFound, "no such node")
	}
	q := xml.New(stanza.NSDiscoInfo, "query")
	q.Append(xml.New(stanza.NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", "Chatrooms"))
	for _, f := range serviceFeatures {
		q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", f))
	}
	return q, nil
}

// serviceItems answers disco#items on the service: the public rooms, in
// JID order, paged with RSM (section 6.3).
func (s *Service) serviceItems(ctx context.Context, p *xml.Element) (*xml.Element, error) {
	if p.HasAttr("node") {
		return nil, xmpperr.New(xmpperr.ItemNotFound, "no such node")
	}
	set, err := rsm.Parse(p.Child(rsm.NS, "set"), maxDiscoItems, maxDiscoItems)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	type listed struct{ jid, name string }
	var public []listed
	for _, r := range rooms {
		r.mu.Lock()
		if r.cfg.Public && !r.locked && !r.destroyed {
			public = append(public, listed{r.jidS, r.displayName()})
		}
		r.mu.Unlock()
	}
	slices.SortFunc(public, func(a, b listed) int { return cmp.Compare(a.jid, b.jid) })
	start := 0
	if set.After != "" {
		start, _ = slices.BinarySearchFunc(public, set.After, func(l listed, j string) int { return cmp.Compare(l.jid, j) })
		if start < len(public) && public[start].jid == set.After {
			start++
		}
	}
	end := len(public)
	if set.Before != "" {
		end, _ = slices.BinarySearchFunc(public, set.Before, func(l listed, j string) int { return cmp.Compare(l.jid, j) })
	}
	if set.Index >= 0 {
		start = min(set.Index, len(public))
	}
	lo, hi := start, min(end, start+set.Max)
	if set.Backward {
		lo, hi = max(start, end-set.Max), end
	}
	q := xml.New(stanza.NSDiscoItem, "query")
	for _, l := range public[lo:hi] {
		it := xml.New(stanza.NSDiscoItem, "item", "jid", l.jid)
		it.SetAttr("name", l.name)
		q.Append(it)
	}
	if p.Child(rsm.NS, "set") != nil {
		res := rsm.Result{FirstIndex: lo, Count: len(public)}
		if hi > lo {
			res.First, res.Last = public[lo].jid, public[hi-1].jid
		}
		q.Append(res.Element())
	}
	return q, nil
}

func (r *room) displayName() string {
	if r.cfg.Name != "" {
		return r.cfg.Name
	}
	return r.jid.Local
}

// roomFeatures are the disco#info features of r (section 6.4).
func (r *room) roomFeatures() []string {
	pick := func(b bool, yes, no string) string {
		if b {
			return yes
		}
		return no
	}
	f := []string{
		NS, NSStableID, NSSelfPing, NSOccupantID, stanza.NSStanzaID, stanza.NSDiscoInfo, stanza.NSDiscoItem, nsPing,
		NSRegister, NSModerate, NSModerateLegacy, NSRetract,
		pick(r.cfg.Persistent, "muc_persistent", "muc_temporary"),
		pick(r.cfg.Public, "muc_public", "muc_hidden"),
		pick(r.cfg.MembersOnly, "muc_membersonly", "muc_open"),
		pick(r.cfg.Moderated, "muc_moderated", "muc_unmoderated"),
		pick(r.cfg.Whois == whoisAnyone, "muc_nonanonymous", "muc_semianonymous"),
		pick(r.cfg.passwordRequired(), "muc_passwordprotected", "muc_unsecured"),
	}
	if r.cfg.Logging {
		f = append(f, mam.NS, mam.NSExtended, mam.NSRetractTombstone)
	}
	return f
}

// roomInfo answers disco#info on the room: identity, features and the
// muc#roominfo form (section 6.4); and, for the node x-roomuser-item,
// the requester's reserved nick (section 7.12).
func (s *Service) roomInfo(r *room, req iq.Request) (*xml.Element, error) {
	if req.Type != "get" {
		return nil, xmpperr.New(xmpperr.BadRequest, "service discovery is get only")
	}
	q := xml.New(stanza.NSDiscoInfo, "query")
	if node := req.Payload.Attr("node"); node != "" {
		if node != nodeRoomUser {
			return nil, xmpperr.New(xmpperr.ItemNotFound, "no such node")
		}
		return r.reservedNickInfo(req.From), nil
	}
	q.Append(xml.New(stanza.NSDiscoInfo, "identity", "category", "conference", "type", "text", "name", r.displayName()))
	for _, f := range r.roomFeatures() {
		q.Append(xml.New(stanza.NSDiscoInfo, "feature", "var", f))
	}
	info := dataform.New(dataform.TypeResult, NSRoomInfo,
		dataform.Field{Var: "muc#roominfo_description", Label: "Description", Values: []string{r.cfg.Description}},
		dataform.Field{Var: "muc#roomconfig_roomname", Label: "Name", Values: []string{r.cfg.Name}},
		dataform.Field{Var: "muc#roominfo_occupants", Label: "Number of occupants", Values: []string{strconv.Itoa(len(r.list))}},
		dataform.Field{Var: "muc#roominfo_subject", Label: "Subject", Values: []string{r.subject}},
		dataform.Field{Var: "muc#roomconfig_changesubject", Label: "Occupants may change the subject", Type: dataform.Boolean,
			Values: []string{dataform.FormatBool(r.cfg.ChangeSubject)}},
		dataform.Field{Var: "muc#maxhistoryfetch", Label: "Maximum number of history messages", Values: []string{strconv.Itoa(r.cfg.HistoryLength)}},
		dataform.Field{Var: "muc#roomconfig_allowpm", Label: "Who may send private messages", Values: []string{r.cfg.AllowPM}},
		dataform.Field{Var: "muc#roomconfig_whois", Label: "Who may see real JIDs", Values: []string{r.cfg.Whois}},
	)
	q.Append(info.Element())
	return q, nil
}

// roomItems answers disco#items on the room: its occupants for those in
// it, nothing for others, who need not learn who is inside (section 6.5).
func (s *Service) roomItems(r *room, req iq.Request) (*xml.Element, error) {
	if req.Type != "get" {
		return nil, xmpperr.New(xmpperr.BadRequest, "service discovery is get only")
	}
	if req.Payload.HasAttr("node") {
		return nil, xmpperr.New(xmpperr.ItemNotFound, "no such node")
	}
	q := xml.New(stanza.NSDiscoItem, "query")
	if r.byReal[req.From] == nil {
		return q, nil
	}
	for _, o := range r.list {
		q.Append(xml.New(stanza.NSDiscoItem, "item", "jid", o.jidS))
	}
	return q, nil
}
