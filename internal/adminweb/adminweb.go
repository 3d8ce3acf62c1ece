// Package adminweb is the server's web admin page, /admin/ on the HTTP
// listener: server-rendered pages (html/template, assets embedded, a
// little JavaScript for confirmations and live charts, nothing fetched
// from elsewhere) for the accounts listed in admins, who log in with
// their XMPP password.
//
// Security: the password is checked against the account's stored SCRAM
// keys (Backend.CheckPassword); failed logins are limited per account and
// per client address; a login is a random session id in an HttpOnly,
// SameSite=Strict cookie (Secure over TLS) that ends after the configured
// idle time; every POST carries the session's CSRF token and must not
// come from another origin; and before login every path but the login
// form redirects to it (pages) or answers 401 (assets, JSON, POSTs).
// Clients other than loopback ones may log in only over HTTPS.
//
// The package sees the server through Backend; internal/server
// implements it.
package adminweb

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"minimix/internal/accountjoin"
	"minimix/internal/jid"
	"minimix/internal/muc"
)

// Prefix is where the page lives on the HTTP listener.
const Prefix = "/admin/"

// Backend is what the page shows and changes of the server.
type Backend interface {
	// CheckPassword checks an account's password against its stored
	// credentials and returns the prepared localpart.
	CheckPassword(ctx context.Context, user, password string) (local string, ok bool, err error)
	Status() Status
	Accounts(ctx context.Context) ([]string, error)
	AccountExists(ctx context.Context, local string) (bool, error)
	AddAccount(ctx context.Context, name, password string) error
	SetPassword(ctx context.Context, name, password string) error
	DeleteAccount(ctx context.Context, name string) error
	// Sessions lists the sessions of account (zero: all).
	Sessions(account jid.JID) []Session
	// EndSession ends the session full with a stream error and reports
	// how many it ended (0 or 1).
	EndSession(full jid.JID) int
	// Joins lists the rooms joined as account (zero: all); nil when
	// account joins are disabled.
	Joins(account jid.JID) []Join
	// Leave makes account leave room; false when it was not in it.
	Leave(ctx context.Context, account, room jid.JID) bool
	// Rooms lists the rooms of the MUC service; ok is false when it is off.
	Rooms() (rooms []Room, ok bool)
	DestroyRoom(ctx context.Context, room jid.JID, reason string) bool
	// MetricValues returns the current values of exported metrics.
	MetricValues(names ...string) (map[string]float64, error)
}

// Status is what the status page shows of the server.
type Status struct {
	Version   string
	Domain    string
	Started   time.Time
	Listeners []Listener
	// Sessions are bound client sessions (hibernated ones included),
	// Connections open client connections.
	Sessions, Connections, Hibernated int64
	// ArchiveQueue is the archive writes not yet committed; -1 unknown.
	ArchiveQueue int
	AccountJoins int64 // rooms joined as an account; -1 when disabled
	Rooms        int   // rooms of the MUC service; -1 when it is off
	S2S          int   // server-to-server streams; -1 when disabled
}

// Listener is one listening socket.
type Listener struct {
	Kind string // "c2s STARTTLS", "c2s direct TLS", "s2s", "http", ...
	Addr string
}

// Session is one client session.
type Session struct {
	JID        jid.JID
	Transport  string
	Remote     string
	Client     string // the client's software, from its capabilities (XEP-0115) node
	Inactive   bool   // CSI (XEP-0352)
	SM         bool
	Hibernated bool
	Bound      time.Time
}

// Join is one room joined as an account.
type Join = accountjoin.Info

// Room is one room of the MUC service.
type Room = muc.RoomInfo

// Config configures the page.
type Config struct {
	Backend Backend
	Domain  string
	// Admins are the bare JIDs that may log in (those on Domain count).
	Admins []string
	// SessionTimeout ends a login after this long without a request.
	SessionTimeout time.Duration
	// LoginFailuresPerMinute and AddressLoginFailuresPerMinute limit
	// failed logins per account and per client address.
	LoginFailuresPerMinute, AddressLoginFailuresPerMinute int
	// Errors are the server's recent warnings and errors.
	Errors *ErrorRing
	// SampleInterval is how often the charts' metrics are sampled in the
	// background; 0 is 5 s.
	SampleInterval time.Duration
	Logger         *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Handler serves the page. Run samples the charts' metrics.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	admins   map[string]bool // localparts on Domain
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessionStore
	limiter  *loginLimiter
	samples  *sampler
}

// New returns the page's handler, to be mounted at Prefix.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg, log: cfg.Logger, now: cfg.Now, admins: make(map[string]bool)}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.cfg.Errors == nil {
		h.cfg.Errors = NewErrorRing(1)
	}
	for _, a := range cfg.Admins {
		if j, err := jid.Parse(a); err == nil && j.Domain == cfg.Domain && j.Local != "" {
			h.admins[j.Local] = true
		}
	}
	h.sessions = newSessionStore(cmpOr(cfg.SessionTimeout, time.Hour), h.now)
	h.limiter = newLoginLimiter(max(cfg.LoginFailuresPerMinute, 1), max(cfg.AddressLoginFailuresPerMinute, 1), h.now)
	h.samples = newSampler(cfg.Backend, h.now)
	h.pages = parsePages()
	h.routes()
	return h
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// AccountDeleted ends the logins of the deleted account local, however it
// was deleted (this page, the command line, XEP-0133, XEP-0077).
func (h *Handler) AccountDeleted(local string) { h.sessions.removeUser(local) }

// Run samples the metrics the charts show until ctx is done.
func (h *Handler) Run(ctx context.Context) {
	t := time.NewTicker(cmpOr(h.cfg.SampleInterval, 5*time.Second))
	defer t.Stop()
	h.samples.take()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.samples.take()
		}
	}
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates with a page each, beside the layout.
var pageNames = []string{"login", "status", "accounts", "account", "sessions", "joins", "rooms", "charts"}

var funcs = template.FuncMap{
	"since": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return humanDuration(time.Since(t))
	},
	"join": strings.Join,
	"bytes": func(v float64) string {
		return humanBytes(v)
	},
}

func parsePages() map[string]*template.Template {
	out := make(map[string]*template.Template, len(pageNames))
	for _, n := range pageNames {
		out[n] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/tables.html", "templates/"+n+".html"))
	}
	return out
}

// humanDuration writes d as "3d 4h", "5h 6m", "7m 8s" or "9s".
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd %dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm %ds", d/time.Minute, d%time.Minute/time.Second)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// sessionStore holds the logins.
type sessionStore struct {
	mu      sync.Mutex
	m       map[string]*session
	timeout time.Duration
	now     func() time.Time
}

// maxSessions bounds the logins kept; the oldest goes first.
const maxSessions = 1000

type session struct {
	id      string
	user    string // localpart
	csrf    string
	expires time.Time
	created time.Time
	flash   *flash
}

type flash struct {
	Kind string // "ok" or "error"
	Text string
}

func newSessionStore(timeout time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{m: make(map[string]*session), timeout: timeout, now: now}
}

func (s *sessionStore) create(user string) *session {
	now := s.now()
	se := &session{id: randomToken(), user: user, csrf: randomToken(), created: now, expires: now.Add(s.timeout)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, o := range s.m {
		if !now.Before(o.expires) {
			delete(s.m, id)
		}
	}
	if len(s.m) >= maxSessions {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.created.Before(oldest.created) {
				oldest = o
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[se.id] = se
	return se
}

// get returns the live session id and extends it.
func (s *sessionStore) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[id]
	if se == nil {
		return nil
	}
	now := s.now()
	if !now.Before(se.expires) {
		delete(s.m, id)
		return nil
	}
	se.expires = now.Add(s.timeout)
	return se
}

func (s *sessionStore) remove(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// removeUser ends every login of user (the account was deleted).
func (s *sessionStore) removeUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, se := range s.m {
		if se.user == user {
			delete(s.m, id)
		}
	}
}

// removeUserExcept ends every login of user but the one with id keep.
func (s *sessionStore) removeUserExcept(user, keep string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, se := range s.m {
		if se.user == user && id != keep {
			delete(s.m, id)
		}
	}
}

func (s *sessionStore) setFlash(se *session, kind, text string) {
	s.mu.Lock()
	se.flash = &flash{Kind: kind, Text: text}
	s.mu.Unlock()
}

func (s *sessionStore) takeFlash(se *session) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := se.flash
	se.flash = nil
	return f
}
