package muc

import "minimix/internal/jid"

// Defaults are the service's settings that a configuration reload
// changes while it runs: rooms already open keep their own
// configuration, and what is asked of the service from then on (a join,
// a new room, a configuration form) sees the new values.
type Defaults struct {
	// HistoryDefault, MaxOccupants, Creation: as in Config.
	HistoryDefault int
	MaxOccupants   int
	Creation       string
	// HistoryLength is a new room's history length (Limits.HistoryLength).
	HistoryLength int
	// Admins own every room.
	Admins []jid.JID
}

// live is Defaults resolved for readers.
type live struct {
	historyDefault, maxOccupants, historyLength int
	creation                                    string
	admins                                      map[jid.JID]bool
}

// SetDefaults replaces the service's defaults.
func (s *Service) SetDefaults(d Defaults) {
	l := &live{
		historyDefault: max(0, min(d.HistoryDefault, s.cfg.Limits.MaxHistoryLength)),
		maxOccupants:   d.MaxOccupants,
		historyLength:  max(0, min(d.HistoryLength, s.cfg.Limits.MaxHistoryLength)),
		creation:       d.Creation,
		admins:         make(map[jid.JID]bool, len(d.Admins)),
	}
	if l.maxOccupants <= 0 {
		l.maxOccupants = 1000
	}
	if l.creation == "" {
		l.creation = CreateLocal
	}
	for _, a := range d.Admins {
		l.admins[a.Bare()] = true
	}
	s.live.Store(l)
}

// defaults returns the settings in force: those of the last SetDefaults,
// else (a Service not made by New) the configuration's.
func (s *Service) defaults() *live {
	if l := s.live.Load(); l != nil {
		return l
	}
	return &live{
		historyDefault: s.cfg.HistoryDefault, maxOccupants: s.cfg.MaxOccupants,
		historyLength: s.cfg.Limits.HistoryLength, creation: s.cfg.Creation,
	}
}

func (s *Service) isAdmin(bare jid.JID) bool { return s.defaults().admins[bare] }
