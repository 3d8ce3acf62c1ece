package muc

import (
	"context"
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
		j, err := jid.Parse(rec.JID)
		if err != nil || j.Local == "" || j.Domain != s.domain.Domain || j.Resource != "" {
			s.log.Warn("muc: skipping stored room with a bad JID", "room", rec.JID)
			continue
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
		s.rooms[j.Local] = r
	}
	return nil
}
