package adminweb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"minimix/internal/jid"
)

// Cookie names: the login (session id) and the login form's CSRF token.
const (
	sessionCookie = "minimix_admin"
	loginCookie   = "minimix_admin_login"
)

// maxFormBytes bounds a POST's body.
const maxFormBytes = 64 << 10

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

type ctxKey struct{}

func sessionOf(r *http.Request) *session {
	se, _ := r.Context().Value(ctxKey{}).(*session)
	return se
}

// ServeHTTP implements http.Handler: security headers on everything, the
// login form open to all, everything else only with a login, and every
// POST checked for its CSRF token and origin.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: under no-referrer a browser sends
	// "Origin: null" with the page's own forms, which sameOrigin refuses.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	if r.URL.Path == Prefix+"login" {
		h.login(w, r)
		return
	}
	se := h.currentSession(r)
	if se == nil {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && h.isPage(r) {
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintln(w, "log in first: "+Prefix+"login")
		return
	}
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if !sameOrigin(r) || !tokenEqual(r.PostForm.Get("csrf"), se.csrf) {
			h.log.Warn("admin page: POST refused: CSRF token or origin wrong", "path", r.URL.Path, "user", se.user, "remote", r.RemoteAddr)
			http.Error(w, "the form's CSRF token is missing or wrong, or it came from another site; reload the page", http.StatusForbidden)
			return
		}
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, se)))
}

// isPage reports whether r asks for an HTML page (redirected to the login
// form) rather than an asset or data (answered 401).
func (h *Handler) isPage(r *http.Request) bool {
	p := r.URL.Path
	return !strings.HasPrefix(p, Prefix+"static/") && !strings.HasSuffix(p, ".json")
}

func (h *Handler) currentSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	return h.sessions.get(c.Value)
}

func tokenEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sameOrigin refuses a request a browser marks as coming from another
// site, or whose Origin is not this host: a second guard beside the
// token and SameSite=Strict.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// secureTransport reports whether a password may be sent over r's
// connection: HTTPS, or a loopback client (the default listener, or a
// reverse proxy on the same host that terminates TLS).
func secureTransport(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	a, ok := remoteAddr(r)
	return ok && a.IsLoopback()
}

func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     Prefix,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

type loginData struct {
	User    string
	Error   string
	CSRF    string
	Refused bool // plain HTTP from another host: no form
}

// login serves the login form and checks what it posts.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !secureTransport(r) {
		h.render(w, r, http.StatusForbidden, "login", "Log in", loginData{Refused: true,
			Error: "The admin page takes passwords only over HTTPS (or from this machine)."})
		return
	}
	if r.Method != http.MethodPost {
		if h.currentSession(r) != nil {
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return
		}
		h.loginForm(w, r, http.StatusOK, "", "")
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	user := strings.TrimSpace(r.PostForm.Get("user"))
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !tokenEqual(r.PostForm.Get("csrf"), c.Value) {
		h.loginForm(w, r, http.StatusForbidden, user, "The form expired or came from another site; try again.")
		return
	}
	addr, _ := remoteAddr(r)
	key := h.accountKey(user)
	if ok, retry := h.limiter.allow(addr, key); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(retry.Seconds())+1))
		h.log.Warn("admin page: login refused: too many failures", "user", key, "remote", addr.String())
		h.loginForm(w, r, http.StatusTooManyRequests, user,
			fmt.Sprintf("Too many failed logins; try again in %s.", retry.Round(time.Second)+time.Second))
		return
	}
	local, ok, err := h.cfg.Backend.CheckPassword(r.Context(), key, r.PostForm.Get("password"))
	if err != nil && local != "" {
		// The name was valid: storage failed.
		h.log.Error("admin page: checking a password", "user", local, "err", err)
		h.loginForm(w, r, http.StatusInternalServerError, user, "The server could not check the password; see its log.")
		return
	}
	if !ok {
		h.limiter.fail(addr, key)
		h.log.Warn("admin page: failed login", "user", key, "remote", addr.String())
		h.loginForm(w, r, http.StatusUnauthorized, user, "Wrong name or password.")
		return
	}
	if !h.admins[local] {
		h.log.Warn("admin page: login of an account that is not an admin", "user", local, "remote", addr.String())
		h.loginForm(w, r, http.StatusForbidden, user, "This account is not an administrator of this server (admins in the configuration).")
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		h.sessions.remove(old.Value) // a new login replaces the old one
	}
	se := h.sessions.create(local)
	h.setCookie(w, r, sessionCookie, se.id, 0)
	h.setCookie(w, r, loginCookie, "", -1)
	h.log.Info("admin page: login", "user", local, "remote", addr.String())
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// accountKey is the localpart a login names: "alice" or
// "alice@domain"; something else is kept as typed (it fails).
func (h *Handler) accountKey(user string) string {
	if strings.ContainsAny(user, "@/") {
		if j, err := jid.Parse(user); err == nil && j.Domain == h.cfg.Domain && j.Local != "" {
			return j.Local
		}
		return user
	}
	if j, err := jid.New(user, h.cfg.Domain, ""); err == nil {
		return j.Local
	}
	return user
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, code int, user, msg string) {
	tok := randomToken()
	h.setCookie(w, r, loginCookie, tok, 3600)
	h.render(w, r, code, "login", "Log in", loginData{User: user, Error: msg, CSRF: tok})
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	se := sessionOf(r)
	h.sessions.remove(se.id)
	h.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// csp allows nothing from elsewhere: the style sheet is inline (allowed
// by its hash, so that the login form needs no asset), the script is
// this page's own.
var csp = "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src '" + styleHash() +
	"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func styleHash() string {
	sum := sha256.Sum256([]byte(styleSheet))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
