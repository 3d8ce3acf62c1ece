package c2s

import "minimix/internal/xml"

// Live are the settings a configuration reload changes while the server
// runs. A connection reads them when it starts (the read rates, the
// stanza rate) or when its stream (re)starts (the parser's limits), so
// sessions already open are never cut by a reload; registration and the
// connection limit apply from the next request.
type Live struct {
	Limits           xml.Limits
	StanzasPerSecond float64   // inbound rate per connection; 0 = unlimited
	ReadRate         float64   // bytes per second read per connection; 0 = unlimited
	ReadBurst        int       // bytes a connection may send at once above ReadRate
	Registrar        Registrar // nil: in-band registration off
	MaxConnections   int       // 0 = unlimited
}

// Live returns the settings in force.
func (s *Server) Live() Live { return *s.live.Load() }

// SetLive replaces the settings in force.
func (s *Server) SetLive(l Live) {
	if l.Limits.MaxStanzaBytes <= 0 {
		l.Limits.MaxStanzaBytes = 262144
	}
	if l.ReadRate > 0 && l.ReadBurst <= 0 {
		l.ReadBurst = 65536
	}
	s.live.Store(&l)
}

func (s *Server) settings() *Live { return s.live.Load() }
