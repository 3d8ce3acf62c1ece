package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"
)

// Bounds enforced by Validate.
const (
	minStanzaBytes = 10000
	maxStanzaBytes = 64 << 20
	minDepth       = 8
	maxDepth       = 1024
	minHeaderBytes = 1024
	minSendQueue   = 16
)

var (
	drivers    = []string{"sqlite"}
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// issue is one bad value found by Validate. keys are the TOML keys it concerns,
// most specific first; the first one present in the file gives the line.
type issue struct {
	keys []string
	msg  string
}

// issues collects what Validate finds so that one run reports every problem.
type issues []issue

func (is *issues) add(key string, format string, args ...any) {
	*is = append(*is, issue{keys: []string{key}, msg: fmt.Sprintf(format, args...)})
}

// addEither reports a problem between two keys; the line is that of the first
// one present in the file.
func (is *issues) addEither(key, other string, format string, args ...any) {
	*is = append(*is, issue{keys: []string{key, other}, msg: fmt.Sprintf(format, args...)})
}

// Validate reports bad values. The error, when not nil, is a Problems listing
// every one, without line numbers (Check and Load add them).
func (c *Config) Validate() error {
	return c.issues().problems()
}

func (c *Config) issues() issues {
	var is issues
	c.validate(&is)
	c.C2S.validate(&is)
	c.TLS.validate(&is)
	c.HTTP.validate(&is)
	c.Storage.validate(&is)
	c.Limits.validate(&is)
	c.Log.validate(&is)
	c.MUC.validate(&is, c.Domain)
	c.AccountJoin.validate(&is)
	return is
}

func (c *Config) validate(is *issues) {
	switch d, err := jid.Parse(c.Domain); {
	case c.Domain == "":
		is.add("domain", "must be set")
	case err != nil:
		is.add("domain", "%q is not a valid JID domain: %v", c.Domain, err)
	case d.Localpart() != "" || d.Resourcepart() != "":
		is.add("domain", "%q must be a bare domain, without @ or /", c.Domain)
	case d.String() != c.Domain:
		// Addresses are compared in canonical form; a non-canonical domain
		// would never match its own users.
		is.add("domain", "%q is not in canonical form; use %q", c.Domain, d.String())
	}
	if c.DataDir == "" {
		is.add("data_dir", "must be set")
	}
	for i, a := range c.Admins {
		key := index("admins", i)
		j, err := jid.Parse(a)
		switch {
		case err != nil:
			is.add(key, "%q is not a valid JID: %v", a, err)
		case j.Localpart() == "" || j.Resourcepart() != "":
			is.add(key, "%q must be a bare JID like user@domain", a)
		}
	}
}

func (s *C2S) validate(is *issues) {
	seen := map[string]string{}
	checkAddrs(is, "c2s.listen", s.Listen, seen)
	checkAddrs(is, "c2s.direct_tls_listen", s.DirectTLSListen, seen)
	if s.ResumeTimeout.Duration < 0 {
		is.add("c2s.resume_timeout", "must not be negative")
	}
	if s.MaxResumeTimeout.Duration < 0 {
		is.add("c2s.max_resume_timeout", "must not be negative")
	}
	if s.ResumeTimeout.Duration > s.MaxResumeTimeout.Duration {
		is.addEither("c2s.resume_timeout", "c2s.max_resume_timeout",
			"resume_timeout %v exceeds max_resume_timeout %v", s.ResumeTimeout, s.MaxResumeTimeout)
	}
	if s.SendQueue < minSendQueue {
		is.add("c2s.send_queue", "%d is below the minimum of %d", s.SendQueue, minSendQueue)
	}
	nonNegative(is, "c2s.offline_max", s.OfflineMax)
	nonNegative(is, "c2s.login_failures_per_minute", s.LoginFailuresPerMinute)
	nonNegative(is, "c2s.stanzas_per_second", s.StanzasPerSecond)
	nonNegative(is, "c2s.max_connections", s.MaxConnections)
}

func (t *TLS) validate(is *issues) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		is.addEither("tls.cert_file", "tls.key_file", "cert_file and key_file must be set together")
	}
}

func (h *HTTP) validate(is *issues) {
	if h.Listen == "" {
		return // HTTP disabled.
	}
	if err := checkAddr(h.Listen); err != nil {
		is.add("http.listen", "%v", err)
	}
}

func (s *Storage) validate(is *issues) {
	oneOf(is, "storage.driver", s.Driver, drivers)
}

func (l *Limits) validate(is *issues) {
	between(is, "limits.max_stanza_bytes", l.MaxStanzaBytes, minStanzaBytes, maxStanzaBytes)
	between(is, "limits.max_depth", l.MaxDepth, minDepth, maxDepth)
	between(is, "limits.max_header_bytes", l.MaxHeaderBytes, minHeaderBytes, max(l.MaxStanzaBytes, minHeaderBytes))
}

// MUC bounds enforced by Validate.
const (
	maxMUCHistory   = 10000
	maxMUCOccupants = 1000000
)

var roomCreation = []string{"anyone", "local", "admins"}

func (m *MUC) validate(is *issues, domain string) {
	if m.Domain != "" {
		switch d, err := jid.Parse(m.Domain); {
		case err != nil:
			is.add("muc.domain", "%q is not a valid JID domain: %v", m.Domain, err)
		case d.Localpart() != "" || d.Resourcepart() != "":
			is.add("muc.domain", "%q must be a bare domain, without @ or /", m.Domain)
		case d.String() != m.Domain:
			is.add("muc.domain", "%q is not in canonical form; use %q", m.Domain, d.String())
		case m.Domain == domain:
			is.addEither("muc.domain", "domain", "the MUC service needs a domain of its own, not %q", domain)
		}
	}
	between(is, "muc.max_history_length", m.MaxHistoryLength, 0, maxMUCHistory)
	between(is, "muc.history_length", m.HistoryLength, 0, m.MaxHistoryLength)
	between(is, "muc.history_default", m.HistoryDefault, 0, m.MaxHistoryLength)
	between(is, "muc.create_burst", m.CreateBurst, 0, 1000000)
	between(is, "muc.join_burst", m.JoinBurst, 0, 1000000)
	between(is, "muc.voice_request_burst", m.VoiceRequestBurst, 0, 1000)
	between(is, "muc.max_sessions_per_nick", m.MaxSessionsPerNick, 1, 1000)
	between(is, "muc.max_nick_length", m.MaxNickLength, 1, 1023)
	for key, d := range map[string]Duration{
		"muc.create_interval": m.CreateInterval, "muc.join_interval": m.JoinInterval,
		"muc.voice_request_interval": m.VoiceRequestInterval,
	} {
		if d.Duration <= 0 {
			is.add(key, "must be positive")
		}
	}
	between(is, "muc.max_occupants", m.MaxOccupants, 1, maxMUCOccupants)
	oneOf(is, "muc.restrict_room_creation", m.RestrictRoomCreation, roomCreation)
	for i, a := range m.Admins {
		key := index("muc.admins", i)
		j, err := jid.Parse(a)
		switch {
		case err != nil:
			is.add(key, "%q is not a valid JID: %v", a, err)
		case j.Localpart() == "" || j.Resourcepart() != "":
			is.add(key, "%q must be a bare JID like user@domain", a)
		}
	}
}

func (a *AccountJoin) validate(is *issues) {
	oneOf(is, "account_join.offline_show", a.OfflineShow, []string{"away", "xa", "dnd"})
	if a.IdleLeaveAfter.Duration < 0 {
		is.add("account_join.idle_leave_after", "must not be negative")
	}
}

func (l *Log) validate(is *issues) {
	oneOf(is, "log.level", l.Level, logLevels)
	oneOf(is, "log.format", l.Format, logFormats)
}

// checkAddrs checks a list of listen addresses; seen maps each address to the
// key that first used it, so one port is not given to two listeners.
func checkAddrs(is *issues, key string, addrs []string, seen map[string]string) {
	for i, a := range addrs {
		k := index(key, i)
		if err := checkAddr(a); err != nil {
			is.add(k, "%v", err)
			continue
		}
		if strings.HasSuffix(a, ":0") {
			continue // the kernel picks a distinct port each time
		}
		if prev, ok := seen[a]; ok {
			is.addEither(k, prev, "%q is used by both %s and %s", a, prev, k)
			continue
		}
		seen[a] = k
	}
}

func checkAddr(a string) error {
	if a == "" {
		return fmt.Errorf("empty address; want host:port or :port")
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		reason := err.Error()
		if ae, ok := errors.AsType[*net.AddrError](err); ok {
			reason = ae.Err
		}
		return fmt.Errorf("%q is not host:port: %s", a, reason)
	}
	if port == "" {
		return fmt.Errorf("%q has no port", a)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%q has a bad port %q", a, port)
	}
	return nil
}

func oneOf(is *issues, key, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		is.add(key, "unknown value %q; want one of %q", v, allowed)
	}
}

func between(is *issues, key string, v, lo, hi int) {
	if v < lo || v > hi {
		is.add(key, "%d is out of range [%d, %d]", v, lo, hi)
	}
}

func nonNegative(is *issues, key string, v int) {
	if v < 0 {
		is.add(key, "%d must not be negative", v)
	}
}

// index names one entry of a list the way Problems report it: "key[i]".
func index(key string, i int) string {
	return key + "[" + strconv.Itoa(i) + "]"
}
