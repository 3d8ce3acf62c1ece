package muc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"minimix/internal/jid"
	"minimix/internal/storage"
)

// record is r as stored.
func (r *room) record() storage.RoomRecord {
	rec := storage.RoomRecord{JID: r.jidS, Config: r.cfg.marshal(), Subject: r.subject, SubjectNick: r.subjectNick}
	for j, a := range r.affs {
		rec.Affiliations = append(rec.Affiliations, storageAffiliation(j, a, r.nicks[j], ""))
	}
	slices.SortFunc(rec.Affiliations, func(a, b storage.RoomAffiliation) int { return strings.Compare(a.JID, b.JID) })
	return rec
}

func storageAffiliation(j jid.JID, a affiliation, nick, reason string) storage.RoomAffiliation {
	return storage.RoomAffiliation{JID: j.String(), Affiliation: a.String(), Nick: nick, Reason: reason}
}

// save stores a persistent room. r.mu is held.
func (s *Service) save(ctx context.Context, r *room) error {
	if err := s.cfg.Store.PutRoom(ctx, r.record()); err != nil {
		return fmt.Errorf("muc: saving %s: %w", r.jidS, err)
	}
	return nil
}

// loadRooms makes the stored rooms of the service's domain. Their history
// is read from their archives when someone first joins.
func (s *Service) loadRooms(ctx context.Context) error {
	recs, err := s.cfg.Store.ListRooms(ctx, s.domain.Domain)
	if err != nil {
		return fmt.Errorf("muc: loading rooms: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range recs {
		if r := s.roomFromRecord(rec); r != nil {
			s.rooms[r.jid.Local] = r
		}
	}
	return nil
}

// roomFromRecord makes the room rec stores, or returns nil (logged) when
// its JID is not one of this service's rooms.
func (s *Service) roomFromRecord(rec storage.RoomRecord) *room {
	j, err := jid.Parse(rec.JID)
	if err != nil || j.Local == "" || j.Domain != s.domain.Domain || j.Resource != "" {
		s.log.Warn("muc: skipping stored room with a bad JID", "room", rec.JID)
		return nil
	}
	cfg, err := s.unmarshalConfig(rec.Config)
	if err != nil {
		s.log.Warn("muc: stored room configuration unreadable; using defaults", "room", rec.JID, "err", err)
	}
	cfg.Persistent = true
	r := newRoom(j, cfg)
	r.subject, r.subjectNick = rec.Subject, rec.SubjectNick
	for _, a := range rec.Affiliations {
		aj, err1 := jid.Parse(a.JID)
		aff, ok := parseAffiliation(a.Affiliation)
		if err1 != nil || !ok || aff == affNone {
			s.log.Warn("muc: skipping bad stored affiliation", "room", rec.JID, "jid", a.JID, "affiliation", a.Affiliation)
			continue
		}
		r.affs[aj.Bare()] = aff
		if a.Nick != "" && aff != affOutcast {
			if nick, _, _, err := prepareNick(a.Nick); err == nil && !r.reservedByOther(nickKey(nick), aj.Bare()) {
				r.reserve(aj.Bare(), nick)
			}
		}
	}
	return r
}

// LoadRoom makes the room local what storage holds: the stored room,
// without occupants, its history read again from its archive at the
// next join; or no room when none is stored. A cluster node calls it
// when it becomes the room's owner (docs/cluster.md), since the room
// it may hold from before was another node's since then.
func (s *Service) LoadRoom(ctx context.Context, local string) error {
	j := jid.JID{Local: local, Domain: s.domain.Domain}
	rec, err := s.cfg.Store.GetRoom(ctx, j.String())
	var r *room
	switch {
	case err == nil:
		if r = s.roomFromRecord(rec); r == nil {
			return fmt.Errorf("muc: stored room %s is unusable", j)
		}
	case errors.Is(err, storage.ErrNotFound):
	default:
		return fmt.Errorf("muc: loading room %s: %w", j, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if r == nil {
		delete(s.rooms, local)
	} else {
		s.rooms[local] = r
	}
	return nil
}
