package server

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"minimix/internal/c2s"
	"minimix/internal/config"
	"minimix/internal/jid"
	"minimix/internal/muc"
	"minimix/internal/push"
	"minimix/internal/xml"
)

// liveKeys are the configuration keys a reload applies to the running
// server without dropping a session. Every other key that changed is
// named in the log as needing a restart.
var liveKeys = []string{
	"log.level",
	"admins",
	"limits.max_stanza_bytes", "limits.max_depth", "limits.max_header_bytes",
	"limits.c2s_bytes_per_second", "limits.c2s_burst_bytes",
	"c2s.allow_registration", "c2s.stanzas_per_second", "c2s.max_connections",
	"tls.cert_file", "tls.key_file",
	"muc.history_default", "muc.max_occupants", "muc.restrict_room_creation", "muc.history_length", "muc.admins",
	"push.include_sender", "push.include_body", "push.rooms", "push.max_registrations", "push.max_failures",
	"s2s.hosts",
}

// LiveKeys returns the configuration keys a reload applies while the
// server runs (docs/operations.md lists them).
func LiveKeys() []string { return slices.Clone(liveKeys) }

// ReloadResult says what a reload did.
type ReloadResult struct {
	// Applied are the keys that changed and now have their new values.
	Applied []string `json:"applied"`
	// Restart are the keys that changed and keep their old values until
	// the server restarts.
	Restart []string `json:"restart"`
}

// adminSet is the server's admins ([admins]) for quick lookups.
type adminSet struct {
	bare   map[jid.JID]bool
	locals map[string]bool // of the served domain
	list   []jid.JID
}

func newAdminSet(domain string, admins []string) *adminSet {
	a := &adminSet{bare: make(map[jid.JID]bool), locals: make(map[string]bool)}
	for _, s := range admins {
		j, err := jid.Parse(s) // validated
		if err != nil {
			continue
		}
		a.bare[j.Bare()] = true
		a.list = append(a.list, j.Bare())
		if j.Domain == domain {
			a.locals[j.Local] = true
		}
	}
	return a
}

// ReloadFile reads the configuration file the server was started with
// again and applies it (SIGHUP, minimix reload). A file with problems
// changes nothing.
func (s *Server) ReloadFile() (ReloadResult, error) {
	path := s.cfg.Path()
	if path == "" {
		return ReloadResult{}, errors.New("reload: the server was started without a configuration file")
	}
	cfg, err := config.Load(path)
	if err != nil {
		s.log.Error("configuration not reloaded: the file has problems; nothing changed", "file", path, "err", err)
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	return s.Reload(cfg)
}

// Reload applies a new configuration: the keys in LiveKeys take their new
// values at once, without dropping a session; every other key that
// changed keeps its old value and is named in one log line per key. The
// TLS certificate is read again from its files even when their names did
// not change.
func (s *Server) Reload(cfg *config.Config) (ReloadResult, error) {
	if err := cfg.Validate(); err != nil {
		return ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.loaded
	if old == nil {
		old = s.cfg
	}
	var res ReloadResult
	for _, k := range config.Changed(old, cfg) {
		if slices.Contains(liveKeys, k) && (k != "log.level" || s.LogLevel != nil) {
			res.Applied = append(res.Applied, k)
		} else {
			res.Restart = append(res.Restart, k)
		}
	}
	// What is in force now: the old configuration with the live keys'
	// new values, so that a later reload names the restart keys again.
	merged := *old
	applyLive(&merged, cfg)
	s.loaded = &merged

	if s.LogLevel != nil {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(cfg.Log.Level)); err == nil {
			s.LogLevel.Set(lv)
		}
	}
	s.admins.Store(newAdminSet(s.cfg.Domain, cfg.Admins))
	s.C2S.SetLive(s.c2sLive(cfg))
	if m := s.features.muc; m != nil {
		m.SetDefaults(mucDefaults(cfg))
	}
	if p := s.features.pubsub; p != nil {
		p.SetAdmins(s.admins.Load().list)
	}
	if p := s.features.push; p != nil {
		p.SetSettings(pushSettings(cfg))
	}
	if s.S2S != nil {
		for remote := range old.S2S.Hosts {
			if _, ok := cfg.S2S.Hosts[remote]; !ok {
				s.S2S.SetHost(remote, "")
			}
		}
		for _, remote := range slices.Sorted(maps.Keys(cfg.S2S.Hosts)) {
			if cfg.S2S.Hosts[remote] != old.S2S.Hosts[remote] {
				s.S2S.SetHost(remote, cfg.S2S.Hosts[remote])
			}
		}
	}
	certErr := s.certs.reload(cfg)
	for _, k := range res.Restart {
		s.log.Warn("configuration key changed; it keeps its old value until the server restarts", "key", k)
	}
	s.log.Info("configuration reloaded", "file", cfg.Path(), "applied", res.Applied, "needs_restart", res.Restart)
	if certErr != nil {
		s.log.Error("TLS certificate not reloaded", "err", certErr)
		return res, certErr
	}
	return res, nil
}

// applyLive copies the live keys' values from src into dst.
func applyLive(dst, src *config.Config) {
	dst.Log.Level = src.Log.Level
	dst.Admins = src.Admins
	dst.Limits.MaxStanzaBytes, dst.Limits.MaxDepth, dst.Limits.MaxHeaderBytes = src.Limits.MaxStanzaBytes, src.Limits.MaxDepth, src.Limits.MaxHeaderBytes
	dst.Limits.C2SBytesPerSecond, dst.Limits.C2SBurstBytes = src.Limits.C2SBytesPerSecond, src.Limits.C2SBurstBytes
	dst.C2S.AllowRegistration, dst.C2S.StanzasPerSecond, dst.C2S.MaxConnections = src.C2S.AllowRegistration, src.C2S.StanzasPerSecond, src.C2S.MaxConnections
	dst.TLS.CertFile, dst.TLS.KeyFile = src.TLS.CertFile, src.TLS.KeyFile
	dst.MUC.HistoryDefault, dst.MUC.MaxOccupants, dst.MUC.RestrictRoomCreation = src.MUC.HistoryDefault, src.MUC.MaxOccupants, src.MUC.RestrictRoomCreation
	dst.MUC.HistoryLength, dst.MUC.Admins = src.MUC.HistoryLength, src.MUC.Admins
	dst.Push.IncludeSender, dst.Push.IncludeBody, dst.Push.Rooms = src.Push.IncludeSender, src.Push.IncludeBody, src.Push.Rooms
	dst.Push.MaxRegistrations, dst.Push.MaxFailures = src.Push.MaxRegistrations, src.Push.MaxFailures
	dst.S2S.Hosts = src.S2S.Hosts
}

// c2sLive is the c2s part of cfg that a reload changes.
func (s *Server) c2sLive(cfg *config.Config) c2s.Live {
	l := c2s.Live{
		Limits: xml.Limits{
			MaxStanzaBytes: cfg.Limits.MaxStanzaBytes,
			MaxDepth:       cfg.Limits.MaxDepth,
			MaxHeaderBytes: cfg.Limits.MaxHeaderBytes,
		},
		StanzasPerSecond: float64(cfg.C2S.StanzasPerSecond),
		ReadRate:         float64(cfg.Limits.C2SBytesPerSecond),
		ReadBurst:        cfg.Limits.C2SBurstBytes,
		MaxConnections:   cfg.C2S.MaxConnections,
	}
	if cfg.C2S.AllowRegistration {
		l.Registrar = registrar{s.Accounts}
	}
	return l
}

// mucDefaults is the MUC part of cfg that a reload changes.
func mucDefaults(cfg *config.Config) muc.Defaults {
	d := muc.Defaults{
		HistoryDefault: cfg.MUC.HistoryDefault,
		MaxOccupants:   cfg.MUC.MaxOccupants,
		Creation:       cfg.MUC.RestrictRoomCreation,
		HistoryLength:  cfg.MUC.HistoryLength,
	}
	for _, a := range append(slices.Clone(cfg.Admins), cfg.MUC.Admins...) {
		if j, err := jid.Parse(a); err == nil {
			d.Admins = append(d.Admins, j)
		}
	}
	return d
}

// pushSettings is the push part of cfg that a reload changes.
func pushSettings(cfg *config.Config) push.Settings {
	rooms, _ := push.ParseSetting(cfg.Push.Rooms) // validated
	return push.Settings{
		RoomDefault:      rooms,
		IncludeSender:    cfg.Push.IncludeSender,
		IncludeBody:      cfg.Push.IncludeBody,
		MaxRegistrations: cfg.Push.MaxRegistrations,
		MaxFailures:      cfg.Push.MaxFailures,
	}
}
