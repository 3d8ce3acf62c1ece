package muc

import (
	"slices"

	"minimix/internal/jid"
)

// affiliation is a long-lived relation of a bare JID to a room (XEP-0045
// section 5.2), ordered by privilege.
type affiliation int8

const (
	affOutcast affiliation = iota
	affNone
	affMember
	affAdmin
	affOwner
)

var affNames = [...]string{"outcast", "none", "member", "admin", "owner"}

func (a affiliation) String() string { return affNames[a] }

func parseAffiliation(s string) (affiliation, bool) { return parseName[affiliation](affNames[:], s) }

// role is an occupant's privilege while in the room (section 5.1),
// ordered by privilege.
type role int8

const (
	roleNone role = iota
	roleVisitor
	roleParticipant
	roleModerator
)

var roleNames = [...]string{"none", "visitor", "participant", "moderator"}

func (r role) String() string { return roleNames[r] }

func parseRole(s string) (role, bool) { return parseName[role](roleNames[:], s) }

// parseName returns the value whose name is s among names, which are
// indexed by value.
func parseName[T ~int8](names []string, s string) (T, bool) {
	i := slices.Index(names, s)
	if i < 0 {
		return 0, false
	}
	return T(i), true
}

// affOf returns bare's affiliation; the service's admins are owners of
// every room.
func (s *Service) affOf(r *room, bare jid.JID) affiliation {
	if s.isAdmin(bare) {
		return affOwner
	}
	if a, ok := r.affs[bare]; ok {
		return a
	}
	return affNone
}

// defaultRole is the role an occupant with affiliation a gets on entering
// (section 5.1.2).
func (r *room) defaultRole(a affiliation) role {
	switch {
	case a >= affAdmin:
		return roleModerator
	case a == affMember:
		return roleParticipant
	case r.cfg.Moderated:
		return roleVisitor
	default:
		return roleParticipant
	}
}

// seesJIDs reports whether viewer may see occupants' real JIDs: in a
// non-anonymous room everyone, in a semi-anonymous one moderators.
func (r *room) seesJIDs(viewer *occupant) bool {
	return r.cfg.Whois == whoisAnyone || viewer.role == roleModerator
}
