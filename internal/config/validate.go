package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

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

	minShutdownGrace   = time.Second
	maxShutdownGrace   = time.Hour
	maxTicketLifetime  = 7 * 24 * time.Hour
	minPasswordLength  = 1
	maxPasswordLength  = 1024
	minScramIterations = 4096 // RFC 7677 section 4
	maxScramIterations = 10000000
	maxRosterItems     = 100000
	maxPEPNodes        = 100000
	maxPEPItems        = 100000
	minPEPPayload      = 1024
	maxMAMPageSize     = 10000
	minC2SRate         = 1024
	minC2SBurst        = 4096
)

var (
	drivers    = []string{"sqlite", "postgres"}
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
	c.S2S.validate(&is, c)
	c.Accounts.validate(&is)
	c.TLS.validate(&is)
	if c.TLS.ACME && (!strings.Contains(c.Domain, ".") || net.ParseIP(c.Domain) != nil) {
		is.add("tls.acme", "an ACME CA certifies DNS names it can reach; domain %q is not one (set domain first)", c.Domain)
	}
	c.HTTP.validate(&is)
	c.AdminPage.validate(&is)
	c.Storage.validate(&is)
	c.Limits.validate(&is)
	c.Log.validate(&is)
	c.Roster.validate(&is)
	c.PEP.validate(&is)
	c.MAM.validate(&is)
	c.MUC.validate(&is, c.Domain)
	c.AccountJoin.validate(&is)
	c.Adhoc.validate(&is)
	c.Blocking.validate(&is)
	c.ExternalServices.validate(&is)
	c.Components.validate(&is, c)
	c.Push.validate(&is)
	c.Upload.validate(&is, c)
	c.PubSub.validate(&is, c.Domain, c.MUC.Domain)
	c.Cluster.validate(&is, c)
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
	bareJIDs(is, "admins", c.Admins)
	if g := c.ShutdownGrace.Duration; g < minShutdownGrace || g > maxShutdownGrace {
		is.add("shutdown_grace", "%v is out of range [%v, %v]", c.ShutdownGrace, minShutdownGrace, maxShutdownGrace)
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
	if d := s.FASTTokenLifetime.Duration; d < 0 || d > 8760*time.Hour {
		is.add("c2s.fast_token_lifetime", "%v is out of range [0s, 8760h]", s.FASTTokenLifetime)
	} else if d > 0 && d < time.Minute {
		is.add("c2s.fast_token_lifetime", "%v is below 1m", s.FASTTokenLifetime)
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
	nonNegative(is, "c2s.address_login_failures_per_minute", s.AddressLoginFailuresPerMinute)
	nonNegative(is, "c2s.stanzas_per_second", s.StanzasPerSecond)
	nonNegative(is, "c2s.max_connections", s.MaxConnections)
	if s.NegotiateTimeout.Duration <= 0 {
		is.add("c2s.negotiate_timeout", "must be positive")
	}
	if s.WriteTimeout.Duration <= 0 {
		is.add("c2s.write_timeout", "must be positive")
	}
}

func (s *S2S) validate(is *issues, c *Config) {
	seen := map[string]string{}
	for i, a := range c.C2S.Listen {
		seen[a] = index("c2s.listen", i)
	}
	for i, a := range c.C2S.DirectTLSListen {
		seen[a] = index("c2s.direct_tls_listen", i)
	}
	checkAddrs(is, "s2s.listen", s.Listen, seen)
	checkAddrs(is, "s2s.direct_tls_listen", s.DirectTLSListen, seen)
	for domain, hp := range s.Hosts {
		key := "s2s.hosts." + domain
		switch d, err := jid.Parse(domain); {
		case err != nil || d.Localpart() != "" || d.Resourcepart() != "":
			is.add(key, "%q is not a domain", domain)
		case domain == c.Domain || domain == c.MUC.Domain:
			is.add(key, "%q is a domain of this server", domain)
		}
		if err := checkAddr(hp); err != nil {
			is.add(key, "%v", err)
		}
	}
	for key, d := range map[string]Duration{
		"s2s.connect_timeout": s.ConnectTimeout, "s2s.negotiate_timeout": s.NegotiateTimeout,
		"s2s.idle_timeout": s.IdleTimeout, "s2s.retry_initial": s.RetryInitial, "s2s.retry_max": s.RetryMax,
	} {
		if d.Duration <= 0 {
			is.add(key, "must be positive")
		}
	}
	if s.RetryMax.Duration < s.RetryInitial.Duration {
		is.addEither("s2s.retry_max", "s2s.retry_initial", "retry_max %v is below retry_initial %v", s.RetryMax, s.RetryInitial)
	}
	between(is, "s2s.queue_max", s.QueueMax, 1, 1000000)
	between(is, "s2s.preauth_stanza_bytes", s.PreAuthStanzaBytes, minHeaderBytes, max(c.Limits.MaxStanzaBytes, minStanzaBytes))
	nonNegative(is, "s2s.max_connections", s.MaxConnections)
}

func (a *Accounts) validate(is *issues) {
	between(is, "accounts.min_password_length", a.MinPasswordLength, minPasswordLength, maxPasswordLength)
	between(is, "accounts.scram_iterations", a.ScramIterations, minScramIterations, maxScramIterations)
}

func (t *TLS) validate(is *issues) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		is.addEither("tls.cert_file", "tls.key_file", "cert_file and key_file must be set together")
	}
	if d := t.SessionTicketLifetime.Duration; d < 0 || d > maxTicketLifetime {
		is.add("tls.session_ticket_lifetime", "%v is out of range [0s, %v]", t.SessionTicketLifetime, maxTicketLifetime)
	}
	if t.ACME && t.CertFile != "" {
		is.addEither("tls.acme", "tls.cert_file", "acme and cert_file exclude each other: the certificate comes from the CA or from the files")
	}
	if u, err := url.Parse(t.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
		is.add("tls.acme_directory", "%q is not an https:// URL", t.ACMEDirectory)
	}
	if !slices.Contains([]string{"http-01", "tls-alpn-01"}, t.ACMEChallenge) {
		is.add("tls.acme_challenge", "%q is not one of http-01, tls-alpn-01", t.ACMEChallenge)
	}
	if t.ACMEEmail != "" && !strings.Contains(t.ACMEEmail, "@") {
		is.add("tls.acme_email", "%q is not an email address", t.ACMEEmail)
	}
}

func (h *HTTP) validate(is *issues) {
	for i, c := range h.MetricsAllow {
		if _, err := netip.ParsePrefix(c); err != nil {
			is.add(index("http.metrics_allow", i), "%q is not a CIDR like 10.0.0.0/8 or ::1/128", c)
		}
	}
	for i, c := range h.SecureNetworks {
		if _, err := netip.ParsePrefix(c); err != nil {
			is.add(index("http.secure_networks", i), "%q is not a CIDR like 10.0.0.0/8 or ::1/128", c)
		}
	}
	for i, o := range h.AllowedOrigins {
		bad := o == "" || strings.ContainsAny(o, " ")
		if scheme, rest, ok := strings.Cut(o, "://"); ok {
			// An origin has no path: a browser sends scheme://host[:port].
			bad = bad || scheme == "" || rest == "" || strings.ContainsAny(rest, "/?#")
		} else {
			bad = bad || strings.Contains(o, "/")
		}
		if bad {
			is.add(index("http.allowed_origins", i), "%q is not an origin (https://host[:port], no path), a host pattern or \"*\"", o)
		} else if _, err := path.Match(o, ""); err != nil {
			is.add(index("http.allowed_origins", i), "%q: %v", o, err)
		}
	}
	if h.PublicURL != "" {
		if u, err := url.Parse(h.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			is.add("http.public_url", "%q is not an http:// or https:// URL", h.PublicURL)
		}
	}
	if d := h.WebSocketPingInterval.Duration; d != 0 && (d < time.Second || d > time.Hour) {
		is.add("http.websocket_ping_interval", "%v is out of range [1s, 1h] (0s: never)", h.WebSocketPingInterval)
	}
	durationBetween(is, "http.bosh_max_wait", h.BOSHMaxWait, time.Second, 10*time.Minute)
	durationBetween(is, "http.bosh_inactivity", h.BOSHInactivity, time.Second, 10*time.Minute)
	durationBetween(is, "http.bosh_max_pause", h.BOSHMaxPause, 0, time.Hour)
	between(is, "http.bosh_max_hold", h.BOSHMaxHold, 1, 8)
	if h.TLSListen != "" {
		if err := checkAddr(h.TLSListen); err != nil {
			is.add("http.tls_listen", "%v", err)
		}
	}
	if h.Listen == "" {
		return // HTTP disabled.
	}
	if err := checkAddr(h.Listen); err != nil {
		is.add("http.listen", "%v", err)
	}
	if h.TLSListen == h.Listen && !strings.HasSuffix(h.Listen, ":0") {
		is.add("http.tls_listen", "%q is http.listen already", h.TLSListen)
	}
}

func (u *Upload) validate(is *issues, c *Config) {
	if u.Domain == "" {
		return // uploads disabled.
	}
	switch d, err := jid.Parse(u.Domain); {
	case err != nil || d.Localpart() != "" || d.Resourcepart() != "" || d.String() != u.Domain:
		is.add("upload.domain", "%q is not a domain", u.Domain)
	case u.Domain == c.Domain || u.Domain == c.MUC.Domain || u.Domain == c.PubSub.Domain:
		is.add("upload.domain", "%q is the domain of another service of this server", u.Domain)
	}
	if u.URL != "" {
		if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" || (pu.Path != "" && pu.Path != "/") || pu.RawQuery != "" {
			is.add("upload.url", "%q is not scheme://host[:port] with scheme http or https", u.URL)
		}
	}
	if u.MaxFileBytes < 1 || u.MaxFileBytes > 1<<40 {
		is.add("upload.max_file_bytes", "%d is out of range [1, %d]", u.MaxFileBytes, int64(1)<<40)
	}
	if u.QuotaBytes < 0 {
		is.add("upload.quota_bytes", "must not be negative")
	} else if u.QuotaBytes > 0 && u.QuotaBytes < u.MaxFileBytes {
		is.addEither("upload.quota_bytes", "upload.max_file_bytes", "quota_bytes %d is below max_file_bytes %d", u.QuotaBytes, u.MaxFileBytes)
	}
	if u.ExpireAfter.Duration < 0 {
		is.add("upload.expire_after", "must not be negative")
	} else if d := u.ExpireAfter.Duration; d > 0 && d < time.Minute {
		is.add("upload.expire_after", "%v is below 1m", u.ExpireAfter)
	}
	if d := u.TransferTimeout.Duration; d < time.Second || d > 24*time.Hour {
		is.add("upload.transfer_timeout", "%v is out of range [1s, 24h]", u.TransferTimeout)
	}
}

func (a *AdminPage) validate(is *issues) {
	if d := a.SessionTimeout.Duration; d < time.Minute || d > 720*time.Hour {
		is.add("admin_page.session_timeout", "%v is out of range [1m, 720h]", a.SessionTimeout)
	}
	between(is, "admin_page.login_failures_per_minute", a.LoginFailuresPerMinute, 1, 1000)
	between(is, "admin_page.address_login_failures_per_minute", a.AddressLoginFailuresPerMinute, 1, 1000)
}

// durationBetween checks that a duration key is within [lo, hi].
func durationBetween(is *issues, key string, d Duration, lo, hi time.Duration) {
	if d.Duration < lo || d.Duration > hi {
		is.add(key, "%v is out of range [%v, %v]", d, lo, hi)
	}
}

func (r *Roster) validate(is *issues) {
	between(is, "roster.max_items", r.MaxItems, 1, maxRosterItems)
}

func (p *PEP) validate(is *issues) {
	between(is, "pep.max_nodes", p.MaxNodes, 1, maxPEPNodes)
	between(is, "pep.max_items", p.MaxItems, 1, maxPEPItems)
	between(is, "pep.max_payload_bytes", p.MaxPayloadBytes, minPEPPayload, maxStanzaBytes)
}

func (m *MAM) validate(is *issues) {
	between(is, "mam.max_page_size", m.MaxPageSize, 1, maxMAMPageSize)
	between(is, "mam.default_page_size", m.DefaultPageSize, 1, max(m.MaxPageSize, 1))
	if m.Retention.Duration < 0 {
		is.add("mam.retention", "must not be negative")
	} else if m.Retention.Duration > 0 && m.Retention.Duration < time.Hour {
		is.add("mam.retention", "must be at least an hour, or 0s to keep messages for ever")
	}
}

func (s *Storage) validate(is *issues) {
	oneOf(is, "storage.driver", s.Driver, drivers)
	if s.Driver == "postgres" {
		switch {
		case s.DSN == "":
			is.add("storage.dsn", `required with driver "postgres": "postgres://user@host:5432/database"`)
		case strings.Contains(s.DSN, "://") && !strings.HasPrefix(s.DSN, "postgres://") && !strings.HasPrefix(s.DSN, "postgresql://"):
			is.add("storage.dsn", "a PostgreSQL URL starts with postgres:// or postgresql://")
		}
	}
}

func (l *Limits) validate(is *issues) {
	between(is, "limits.max_stanza_bytes", l.MaxStanzaBytes, minStanzaBytes, maxStanzaBytes)
	between(is, "limits.max_depth", l.MaxDepth, minDepth, maxDepth)
	between(is, "limits.max_header_bytes", l.MaxHeaderBytes, minHeaderBytes, max(l.MaxStanzaBytes, minHeaderBytes))
	if l.C2SBytesPerSecond != 0 && l.C2SBytesPerSecond < minC2SRate {
		is.add("limits.c2s_bytes_per_second", "%d is below the minimum of %d (0 turns the limit off)", l.C2SBytesPerSecond, minC2SRate)
	}
	between(is, "limits.c2s_burst_bytes", l.C2SBurstBytes, minC2SBurst, maxStanzaBytes)
}

// MUC bounds enforced by Validate.
const (
	maxMUCHistory   = 10000
	maxMUCOccupants = 1000000
)

var roomCreation = []string{"anyone", "local", "admins"}

func (m *MUC) validate(is *issues, domain string) {
	serviceDomain(is, "muc.domain", m.Domain, "the MUC service", domain)
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
	bareJIDs(is, "muc.admins", m.Admins)
}

// serviceDomain checks the domain of a service (MUC, pubsub): "" (off),
// or a canonical domain other than the server's.
func serviceDomain(is *issues, key, v, what, domain string) {
	if v == "" {
		return
	}
	switch d, err := jid.Parse(v); {
	case err != nil:
		is.add(key, "%q is not a valid JID domain: %v", v, err)
	case d.Localpart() != "" || d.Resourcepart() != "":
		is.add(key, "%q must be a bare domain, without @ or /", v)
	case d.String() != v:
		is.add(key, "%q is not in canonical form; use %q", v, d.String())
	case v == domain:
		is.addEither(key, "domain", "%s needs a domain of its own, not %q", what, domain)
	}
}

func (p *PubSub) validate(is *issues, domain, mucDomain string) {
	serviceDomain(is, "pubsub.domain", p.Domain, "the pubsub service", domain)
	if p.Domain != "" && p.Domain == mucDomain {
		is.addEither("pubsub.domain", "muc.domain", "the pubsub and MUC services need domains of their own, not both %q", p.Domain)
	}
	oneOf(is, "pubsub.restrict_node_creation", p.RestrictNodeCreation, roomCreation)
	between(is, "pubsub.max_nodes", p.MaxNodes, 1, 1000000)
	between(is, "pubsub.max_nodes_per_owner", p.MaxNodesPerOwner, 1, 1000000)
	between(is, "pubsub.max_items", p.MaxItems, 1, maxPEPItems)
	between(is, "pubsub.max_payload_bytes", p.MaxPayloadBytes, minPEPPayload, maxStanzaBytes)
	between(is, "pubsub.max_subscriptions", p.MaxSubscriptions, 1, 100000)
}

// bareJIDs checks a list of bare JIDs (user@domain).
func bareJIDs(is *issues, key string, list []string) {
	for i, a := range list {
		k := index(key, i)
		j, err := jid.Parse(a)
		switch {
		case err != nil:
			is.add(k, "%q is not a valid JID: %v", a, err)
		case j.Localpart() == "" || j.Resourcepart() != "":
			is.add(k, "%q must be a bare JID like user@domain", a)
		}
	}
}

func (a *AccountJoin) validate(is *issues) {
	oneOf(is, "account_join.offline_show", a.OfflineShow, []string{"away", "xa", "dnd"})
	if a.IdleLeaveAfter.Duration < 0 {
		is.add("account_join.idle_leave_after", "must not be negative")
	}
	between(is, "account_join.history_max", a.HistoryMax, 1, 1000)
	if a.SelfPingAfter.Duration <= 0 {
		is.add("account_join.self_ping_after", "must be positive")
	}
}

func (a *Adhoc) validate(is *issues) {
	if d := a.SessionTimeout.Duration; d < 10*time.Second || d > 24*time.Hour {
		is.add("adhoc.session_timeout", "%v is out of range [10s, 24h]", a.SessionTimeout)
	}
	between(is, "adhoc.max_sessions", a.MaxSessions, 1, 1000)
}

func (b *Blocking) validate(is *issues) {
	between(is, "blocking.max_items", b.MaxItems, 1, 100000)
}

func (e *ExternalServices) validate(is *issues) {
	const key = "external_services"
	if e.Secret != "" && e.SecretFile != "" {
		is.addEither(key+".secret", key+".secret_file", "give the secret or a file holding it, not both")
	}
	if d := e.CredentialTTL.Duration; d < time.Minute || d > 720*time.Hour {
		is.add(key+".credential_ttl", "%v is out of range [1m, 720h]", e.CredentialTTL)
	}
	for i, s := range e.Services {
		k := func(field string) []string {
			return []string{index(key+".service", i) + "." + field, index(key+".service", i), key + ".service"}
		}
		add := func(field, format string, args ...any) {
			*is = append(*is, issue{keys: k(field), msg: fmt.Sprintf(format, args...)})
		}
		if !isNCName(s.Type) {
			add("type", "%q is not a service type such as \"stun\" or \"turn\"", s.Type)
		}
		if s.Host == "" {
			add("host", "a host must be set")
		} else if strings.ContainsAny(s.Host, " /:@") && net.ParseIP(s.Host) == nil {
			add("host", "%q is neither a DNS name nor an IP address", s.Host)
		}
		if s.Port < 1 || s.Port > 65535 {
			add("port", "%d is out of range [1, 65535]", s.Port)
		}
		if s.Transport != "" && s.Transport != "udp" && s.Transport != "tcp" {
			add("transport", "unknown value %q; want \"udp\", \"tcp\" or \"\"", s.Transport)
		}
		if (s.Username == "") != (s.Password == "") {
			add("username", "give both username and password, or neither")
		}
		if s.Secret && s.Username != "" {
			add("secret", "credentials come from the secret or from username and password, not both")
		}
		if s.Secret && e.Secret == "" && e.SecretFile == "" {
			add("secret", "needs external_services.secret or external_services.secret_file")
		}
	}
}

func (cs *Components) validate(is *issues, c *Config) {
	const key = "components"
	checkAddrs(is, key+".listen", cs.Listen, map[string]string{})
	if d := cs.NegotiateTimeout.Duration; d < time.Second || d > 10*time.Minute {
		is.add(key+".negotiate_timeout", "%v is out of range [1s, 10m]", cs.NegotiateTimeout)
	}
	if cs.SendQueue < minSendQueue {
		is.add(key+".send_queue", "%d is below the minimum of %d", cs.SendQueue, minSendQueue)
	}
	taken := map[string]string{c.Domain: "domain", c.MUC.Domain: "muc.domain", c.PubSub.Domain: "pubsub.domain"}
	delete(taken, "")
	for i, e := range cs.External {
		k := func(field string) []string {
			return []string{index(key+".external", i) + "." + field, index(key+".external", i), key + ".external"}
		}
		add := func(field, format string, args ...any) {
			*is = append(*is, issue{keys: k(field), msg: fmt.Sprintf(format, args...)})
		}
		switch d, err := jid.Parse(e.Domain); {
		case e.Domain == "":
			add("domain", "a domain must be set")
		case err != nil || d.Localpart() != "" || d.Resourcepart() != "":
			add("domain", "%q is not a domain", e.Domain)
		case d.String() != e.Domain:
			add("domain", "%q is not in canonical form; use %q", e.Domain, d.String())
		case taken[e.Domain] != "":
			add("domain", "%q is %s already", e.Domain, taken[e.Domain])
		default:
			taken[e.Domain] = index(key+".external", i) + ".domain"
		}
		if e.Secret == "" {
			add("secret", "a secret must be set")
		}
	}
}

func (p *Push) validate(is *issues) {
	oneOf(is, "push.rooms", p.Rooms, []string{"all", "mentions", "never"})
	between(is, "push.max_registrations", p.MaxRegistrations, 1, 1000)
	between(is, "push.queue", p.Queue, 16, 1000000)
	if d := p.Timeout.Duration; d < time.Second || d > time.Hour {
		is.add("push.timeout", "%v is out of range [1s, 1h]", p.Timeout)
	}
	between(is, "push.max_failures", p.MaxFailures, 1, 100)
}

// isNCName reports whether s is a non-empty XML name without a colon,
// as XEP-0215's service types are.
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
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

// Cluster bounds enforced by Validate.
const (
	minNodeTimeout = time.Second
	maxNodeTimeout = 5 * time.Minute
	maxReplicas    = 5
	maxNodeIDLen   = 64
)

func (cl *Cluster) validate(is *issues, c *Config) {
	if g := cl.NodeTimeout.Duration; g < minNodeTimeout || g > maxNodeTimeout {
		is.add("cluster.node_timeout", "%v is out of range [%v, %v]", cl.NodeTimeout, minNodeTimeout, maxNodeTimeout)
	}
	between(is, "cluster.replicas", cl.Replicas, 0, maxReplicas)
	if cl.ResumeLocation != "" {
		if err := checkAddr(cl.ResumeLocation); err != nil {
			is.add("cluster.resume_location", "%v", err)
		}
	}
	for _, u := range splitURLs(cl.NATSURL) {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			is.add("cluster.nats_url", "%q: a NATS URL starts with nats:// or tls://", u)
		}
	}
	n := &cl.NATS
	if n.Listen != "" {
		if err := checkAddr(n.Listen); err != nil {
			is.add("cluster.nats.listen", "%v", err)
		}
	}
	if n.ClusterListen != "" {
		if err := checkAddr(n.ClusterListen); err != nil {
			is.add("cluster.nats.cluster_listen", "%v", err)
		}
	}
	for i, r := range n.Routes {
		host, ok := strings.CutPrefix(r, "nats://")
		if !ok {
			is.add(index("cluster.nats.routes", i), "%q: a route is nats://host:port", r)
			continue
		}
		if err := checkAddr(host); err != nil {
			is.add(index("cluster.nats.routes", i), "%v", err)
		}
	}
	if len(n.Routes) > 0 && n.ClusterListen == "" {
		is.addEither("cluster.nats.cluster_listen", "cluster.nats.routes", "routes need a cluster_listen address for the other nodes to connect to")
	}
	if n.ClusterName == "" || strings.ContainsAny(n.ClusterName, " \t.*>") {
		is.add("cluster.nats.cluster_name", "%q: want a name without spaces, dots or wildcards", n.ClusterName)
	}
	if !cl.Enabled {
		return
	}
	switch {
	case cl.NodeID == "":
		is.add("cluster.node_id", "required with cluster.enabled: a name unique among the nodes")
	case len(cl.NodeID) > maxNodeIDLen || strings.IndexFunc(cl.NodeID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0:
		is.add("cluster.node_id", "%q: want 1 to %d letters, digits, '-' or '_'", cl.NodeID, maxNodeIDLen)
	}
	if c.Storage.Driver != "postgres" {
		is.addEither("cluster.enabled", "storage.driver", `a cluster needs [storage] driver = "postgres": every node reads and writes the same database`)
	}
}

// splitURLs splits a comma-separated list of URLs, dropping blanks.
func splitURLs(s string) []string {
	var out []string
	for u := range strings.SplitSeq(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}
