package muc

import (
	"context"
	"slices"
	"strings"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// Rooms returns the number of rooms the service holds in memory.
func (s *Service) Rooms() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rooms)
}

// Occupants returns the number of occupants (nicks) in all rooms.
func (s *Service) Occupants() int {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	n := 0
	for _, r := range rooms {
		r.mu.Lock()
		n += len(r.list)
		r.mu.Unlock()
	}
	return n
}

// RoomInfo describes one room, for operators (the admin page).
type RoomInfo struct {
	JID     jid.JID
	Subject string
	// Config summary.
	Name, Description                    string
	Persistent, Public, MembersOnly      bool
	Moderated, PasswordProtected, Logged bool
	Whois                                string // "moderators" or "anyone"
	MaxUsers                             int    // 0: the service's limit
	Locked                               bool   // created and not configured yet
	Owners                               []string
	Occupants                            []OccupantInfo
}

// OccupantInfo is one occupant of a room.
type OccupantInfo struct {
	Nick        string
	Role        string
	Affiliation string
	Reals       []string // the real JIDs behind the nick
}

// RoomInfos returns every room the service holds, ordered by JID.
func (s *Service) RoomInfos() []RoomInfo {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	out := make([]RoomInfo, 0, len(rooms))
	for _, r := range rooms {
		r.mu.Lock()
		if r.destroyed {
			r.mu.Unlock()
			continue
		}
		c := r.cfg
		in := RoomInfo{
			JID: r.jid, Subject: r.subject, Name: c.Name, Description: c.Description,
			Persistent: c.Persistent, Public: c.Public, MembersOnly: c.MembersOnly,
			Moderated: c.Moderated, PasswordProtected: c.passwordRequired(), Logged: c.Logging,
			Whois: c.Whois, MaxUsers: c.MaxUsers, Locked: r.locked,
		}
		for j, a := range r.affs {
			if a == affOwner {
				in.Owners = append(in.Owners, j.String())
			}
		}
		for _, o := range r.list {
			aff, ok := r.affs[o.bare]
			if !ok {
				aff = affNone
			}
			oi := OccupantInfo{Nick: o.nick, Role: o.role.String(), Affiliation: aff.String()}
			for _, rl := range o.reals {
				oi.Reals = append(oi.Reals, rl.s)
			}
			in.Occupants = append(in.Occupants, oi)
		}
		r.mu.Unlock()
		slices.Sort(in.Owners)
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b RoomInfo) int { return strings.Compare(a.JID.String(), b.JID.String()) })
	return out
}

// Destroy destroys the room as its owner's <destroy/> does (XEP-0045
// 10.9): every occupant gets its unavailable presence with the reason,
// and the room is gone with its stored state and archive. It returns
// false when there is no such room.
func (s *Service) Destroy(ctx context.Context, room jid.JID, reason string) bool {
	if room.Domain != s.domain.Domain || room.Local == "" {
		return false
	}
	r := s.lookup(room.Local)
	if r == nil {
		return false
	}
	r.mu.Lock()
	if r.destroyed {
		r.mu.Unlock()
		return false
	}
	d := xml.New(NSUser, "destroy")
	if reason != "" {
		d.Append(xml.New(NSUser, "reason").AppendText(reason))
	}
	s.destroy(ctx, r, d)
	s.release(ctx, r)
	return true
}
