package adminweb

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"minimix/internal/jid"
)

//go:embed static/admin.css
var styleSheet string

func (h *Handler) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET "+Prefix+"{$}", h.statusPage)
	m.HandleFunc("POST "+Prefix+"logout", h.logout)
	m.HandleFunc("GET "+Prefix+"accounts", h.accountsPage)
	m.HandleFunc("GET "+Prefix+"accounts/{name}", h.accountPage)
	m.HandleFunc("POST "+Prefix+"accounts/create", h.createAccount)
	m.HandleFunc("POST "+Prefix+"accounts/password", h.resetPassword)
	m.HandleFunc("POST "+Prefix+"accounts/delete", h.deleteAccount)
	m.HandleFunc("GET "+Prefix+"sessions", h.sessionsPage)
	m.HandleFunc("POST "+Prefix+"sessions/end", h.endSession)
	m.HandleFunc("GET "+Prefix+"joins", h.joinsPage)
	m.HandleFunc("POST "+Prefix+"joins/leave", h.leaveJoin)
	m.HandleFunc("GET "+Prefix+"rooms", h.roomsPage)
	m.HandleFunc("POST "+Prefix+"rooms/destroy", h.destroyRoom)
	m.HandleFunc("GET "+Prefix+"charts", h.chartsPage)
	m.HandleFunc("GET "+Prefix+"metrics.json", h.metricsJSON)
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", http.FileServerFS(static)))
	h.mux = m
}

// pageData is what the layout needs besides the page's own data.
type pageData struct {
	Title  string
	Page   string
	Domain string
	User   string
	CSRF   string
	CSS    template.CSS
	Flash  *flash
	Data   any
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, page, title string, data any) {
	pd := pageData{Title: title, Page: page, Domain: h.cfg.Domain, CSS: template.CSS(styleSheet), Data: data}
	if se := sessionOf(r); se != nil {
		pd.User, pd.CSRF = se.user, se.csrf
		pd.Flash = h.sessions.takeFlash(se)
	}
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", pd); err != nil {
		h.log.Error("admin page: rendering", "page", page, "err", err)
		http.Error(w, "rendering the page failed; see the server's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// done ends a POST: the outcome is shown on the page it redirects to.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, to string, err error, ok string) {
	se := sessionOf(r)
	if err != nil {
		h.sessions.setFlash(se, "error", err.Error())
	} else {
		h.sessions.setFlash(se, "ok", ok)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// withQuery returns path with the query key=value when value is set.
func withQuery(path, key, value string) string {
	if value == "" {
		return path
	}
	return path + "?" + url.Values{key: {value}}.Encode()
}

type statusData struct {
	Status
	Uptime       string
	StanzasPerS  string
	DeliveriesPS string
	Errors       []ErrorRecord
	Admins       []string
}

func (h *Handler) statusPage(w http.ResponseWriter, r *http.Request) {
	h.samples.take()
	st := h.cfg.Backend.Status()
	d := statusData{Status: st, Uptime: humanDuration(h.now().Sub(st.Started)), Errors: h.cfg.Errors.Records(), StanzasPerS: "…", DeliveriesPS: "…"}
	if p, ok := h.samples.latest(); ok {
		d.StanzasPerS = fmt.Sprintf("%.1f", p.Stanzas)
		d.DeliveriesPS = fmt.Sprintf("%.1f", p.Deliveries)
	}
	for a := range h.admins {
		d.Admins = append(d.Admins, a)
	}
	slices.Sort(d.Admins)
	h.render(w, r, http.StatusOK, "status", "Status", d)
}

// maxRows bounds a page's table: a server with many accounts or sessions
// shows the first ones and says how many more a search or filter would
// find.
const maxRows = 500

// firstRows cuts list to maxRows and returns how many it left out.
func firstRows[T any](list []T) ([]T, int) {
	if len(list) <= maxRows {
		return list, 0
	}
	return list[:maxRows], len(list) - maxRows
}

type accountRow struct {
	Name     string
	Admin    bool
	Sessions int
	Joins    int
}

type accountsData struct {
	Query    string
	Total    int
	Accounts []accountRow
	More     int
	Error    string
}

func (h *Handler) accountsPage(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := accountsData{Query: q}
	names, err := h.cfg.Backend.Accounts(r.Context())
	if err != nil {
		h.log.Error("admin page: listing accounts", "err", err)
		d.Error = "Listing the accounts failed; see the server's log."
	}
	d.Total = len(names)
	sessions := make(map[string]int)
	for _, s := range h.cfg.Backend.Sessions(jid.JID{}) {
		sessions[s.JID.Local]++
	}
	joins := make(map[string]int)
	for _, j := range h.cfg.Backend.Joins(jid.JID{}) {
		if a, err := jid.Parse(j.Account); err == nil {
			joins[a.Local]++
		}
	}
	lq := strings.ToLower(q)
	for _, n := range names {
		if lq != "" && !strings.Contains(strings.ToLower(n), lq) {
			continue
		}
		d.Accounts = append(d.Accounts, accountRow{Name: n, Admin: h.admins[n], Sessions: sessions[n], Joins: joins[n]})
	}
	d.Accounts, d.More = firstRows(d.Accounts)
	h.render(w, r, http.StatusOK, "accounts", "Accounts", d)
}

func (h *Handler) createAccount(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	err := h.cfg.Backend.AddAccount(r.Context(), name, r.PostForm.Get("password"))
	if err == nil {
		h.log.Info("admin page: account created", "account", name, "by", sessionOf(r).user)
	}
	h.done(w, r, withQuery(Prefix+"accounts", "q", name), accountErr("create", name, err), fmt.Sprintf("Account %s created.", name))
}

func (h *Handler) resetPassword(w http.ResponseWriter, r *http.Request) {
	name := r.PostForm.Get("name")
	err := h.cfg.Backend.SetPassword(r.Context(), name, r.PostForm.Get("password"))
	if err == nil {
		h.log.Info("admin page: password reset", "account", name, "by", sessionOf(r).user)
		// Whoever knew the old password is logged out; so are the
		// account's other logins when an admin resets their own.
		h.sessions.removeUserExcept(h.accountKey(name), sessionOf(r).id)
	}
	h.done(w, r, backTo(r, withQuery(Prefix+"accounts", "q", r.PostForm.Get("q"))), accountErr("reset the password of", name, err), fmt.Sprintf("Password of %s reset.", name))
}

func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request) {
	name := r.PostForm.Get("name")
	err := h.cfg.Backend.DeleteAccount(r.Context(), name)
	if err == nil {
		// The server ends the account's logins here (AccountDeleted).
		h.log.Info("admin page: account deleted", "account", name, "by", sessionOf(r).user)
		if h.accountKey(name) == sessionOf(r).user {
			h.setCookie(w, r, sessionCookie, "", -1)
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
	}
	h.done(w, r, withQuery(Prefix+"accounts", "q", r.PostForm.Get("q")), accountErr("delete", name, err), fmt.Sprintf("Account %s deleted.", name))
}

func accountErr(what, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("could not %s account %q: %w", what, name, err)
}

// backTo returns the page a form names in its "back" field, if it is one
// of this page's (never another site: no open redirect), or def.
func backTo(r *http.Request, def string) string {
	b := r.PostForm.Get("back")
	if strings.HasPrefix(b, Prefix) && !strings.ContainsAny(b, "\\\r\n") {
		return b
	}
	return def
}

type accountData struct {
	Name          string
	Exists, Admin bool
	JoinsDisabled bool
	Sessions      sessionsTable
	Joins         joinsTable
}

// accountPage shows one account: its sessions and its account joins.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request) {
	j, err := jid.New(h.accountKey(r.PathValue("name")), h.cfg.Domain, "")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	back := Prefix + "accounts/" + url.PathEscape(j.Local)
	d := accountData{Name: j.Local, Admin: h.admins[j.Local]}
	d.Exists, err = h.cfg.Backend.AccountExists(r.Context(), j.Local)
	if err != nil {
		h.log.Error("admin page: looking up an account", "account", j.Local, "err", err)
	}
	d.Sessions = sessionsTable{CSRF: sessionOf(r).csrf, Back: back, Sessions: h.cfg.Backend.Sessions(j)}
	joins := h.cfg.Backend.Joins(j)
	d.JoinsDisabled = joins == nil && !h.joinsEnabled()
	d.Joins = joinsTable{CSRF: sessionOf(r).csrf, Back: back, Joins: joins}
	code := http.StatusOK
	if !d.Exists {
		code = http.StatusNotFound
	}
	h.render(w, r, code, "account", j.Local, d)
}

// accountFilter reads the optional account filter of a page.
func (h *Handler) accountFilter(r *http.Request) (jid.JID, string, error) {
	a := strings.TrimSpace(r.URL.Query().Get("account"))
	if a == "" {
		return jid.JID{}, "", nil
	}
	local := h.accountKey(a)
	j, err := jid.New(local, h.cfg.Domain, "")
	if err != nil {
		return jid.JID{}, a, fmt.Errorf("%q is not an account of %s", a, h.cfg.Domain)
	}
	return j, j.Local, nil
}

// sessionsTable and joinsTable are what the tables of tables.html need:
// the rows, the session's CSRF token and the page an action returns to.
type sessionsTable struct {
	CSRF, Back string
	Sessions   []Session
}

type joinsTable struct {
	CSRF, Back string
	Joins      []Join
}

type sessionsData struct {
	Account string
	Error   string
	Table   sessionsTable
	More    int
}

func (h *Handler) sessionsPage(w http.ResponseWriter, r *http.Request) {
	acc, name, err := h.accountFilter(r)
	d := sessionsData{Account: name, Table: sessionsTable{CSRF: sessionOf(r).csrf, Back: withQuery(Prefix+"sessions", "account", name)}}
	if err != nil {
		d.Error = err.Error()
	} else {
		d.Table.Sessions, d.More = firstRows(h.cfg.Backend.Sessions(acc))
	}
	h.render(w, r, http.StatusOK, "sessions", "Sessions", d)
}

func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	back := backTo(r, Prefix+"sessions")
	full, err := jid.Parse(r.PostForm.Get("jid"))
	if err != nil || full.Resource == "" || full.Domain != h.cfg.Domain {
		h.done(w, r, back, errors.New("not a session of this server: "+r.PostForm.Get("jid")), "")
		return
	}
	if h.cfg.Backend.EndSession(full) == 0 {
		h.done(w, r, back, fmt.Errorf("session %s is gone already", full), "")
		return
	}
	h.log.Info("admin page: session ended", "session", full.String(), "by", sessionOf(r).user)
	h.done(w, r, back, nil, fmt.Sprintf("Session %s disconnected.", full))
}

type joinsData struct {
	Account  string
	Error    string
	Disabled bool
	Table    joinsTable
	More     int
}

func (h *Handler) joinsPage(w http.ResponseWriter, r *http.Request) {
	acc, name, err := h.accountFilter(r)
	d := joinsData{Account: name, Table: joinsTable{CSRF: sessionOf(r).csrf, Back: withQuery(Prefix+"joins", "account", name)}}
	if err != nil {
		d.Error = err.Error()
	} else {
		joins := h.cfg.Backend.Joins(acc)
		d.Disabled = joins == nil && !h.joinsEnabled()
		d.Table.Joins, d.More = firstRows(joins)
	}
	h.render(w, r, http.StatusOK, "joins", "Account joins", d)
}

func (h *Handler) joinsEnabled() bool { return h.cfg.Backend.Status().AccountJoins >= 0 }

func (h *Handler) leaveJoin(w http.ResponseWriter, r *http.Request) {
	back := backTo(r, Prefix+"joins")
	acc, err1 := jid.Parse(r.PostForm.Get("account"))
	room, err2 := jid.Parse(r.PostForm.Get("room"))
	if err1 != nil || err2 != nil {
		h.done(w, r, back, errors.New("account and room must be JIDs"), "")
		return
	}
	if !h.cfg.Backend.Leave(r.Context(), acc.Bare(), room.Bare()) {
		h.done(w, r, back, fmt.Errorf("%s is not in %s", acc.Bare(), room.Bare()), "")
		return
	}
	h.log.Info("admin page: account made to leave a room", "account", acc.Bare().String(), "room", room.Bare().String(), "by", sessionOf(r).user)
	h.done(w, r, back, nil, fmt.Sprintf("%s left %s.", acc.Bare(), room.Bare()))
}

type roomsData struct {
	Disabled bool
	Rooms    []Room
	More     int
}

func (h *Handler) roomsPage(w http.ResponseWriter, r *http.Request) {
	rooms, ok := h.cfg.Backend.Rooms()
	d := roomsData{Disabled: !ok}
	d.Rooms, d.More = firstRows(rooms)
	h.render(w, r, http.StatusOK, "rooms", "Rooms", d)
}

func (h *Handler) destroyRoom(w http.ResponseWriter, r *http.Request) {
	back := Prefix + "rooms"
	room, err := jid.Parse(r.PostForm.Get("room"))
	if err != nil {
		h.done(w, r, back, errors.New("not a room: "+r.PostForm.Get("room")), "")
		return
	}
	if !h.cfg.Backend.DestroyRoom(r.Context(), room.Bare(), strings.TrimSpace(r.PostForm.Get("reason"))) {
		h.done(w, r, back, fmt.Errorf("there is no room %s", room.Bare()), "")
		return
	}
	h.log.Info("admin page: room destroyed", "room", room.Bare().String(), "by", sessionOf(r).user)
	h.done(w, r, back, nil, fmt.Sprintf("Room %s destroyed.", room.Bare()))
}

type chartsData struct {
	Interval time.Duration
}

func (h *Handler) chartsPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "charts", "Charts", chartsData{Interval: cmpOr(h.cfg.SampleInterval, 5*time.Second)})
}
