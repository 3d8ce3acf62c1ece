package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"minimix/internal/jid"
	"minimix/internal/s2s"
)

// AdminTokenFile is the name, in data_dir, of the file that holds the
// admin API's bearer token. The server creates it readable by its own
// user only; the command line (minimix joins ...) reads it, so only
// that user (and root) can use the API.
const AdminTokenFile = "admin.token"

// AdminAPIPrefix is where the token-protected operator API lives. /admin/
// is left for a web admin page.
const AdminAPIPrefix = "/api/"

// AdminTokenPath returns the token file of a data directory.
func AdminTokenPath(dataDir string) string { return filepath.Join(dataDir, AdminTokenFile) }

// ReadAdminToken returns the admin API token of a data directory, for
// clients of the API.
func ReadAdminToken(dataDir string) (string, error) {
	b, err := os.ReadFile(AdminTokenPath(dataDir))
	if err != nil {
		return "", fmt.Errorf("read the admin token (run as the server's user): %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin token file %s is empty", AdminTokenPath(dataDir))
	}
	return tok, nil
}

// loadAdminToken returns the admin API token, creating the file on first
// run. A token file that others than its owner may read is replaced: the
// old token may have leaked.
func loadAdminToken(dataDir string) (token string, replaced bool, err error) {
	path := AdminTokenPath(dataDir)
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.Mode().Perm()&0o077 == 0:
		if tok, err := ReadAdminToken(dataDir); err == nil && len(tok) >= 32 {
			return tok, false, nil
		}
	case err == nil:
		replaced = true
	case !errors.Is(err, os.ErrNotExist):
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false, fmt.Errorf("generate admin token: %w", err)
	}
	token = hex.EncodeToString(b[:])
	// Written to a private temporary file and renamed, so the token is
	// never readable by others, not even for a moment.
	f, err := os.CreateTemp(dataDir, ".admin.token-*")
	if err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	tmp := f.Name()
	_, err = f.WriteString(token + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", false, fmt.Errorf("write admin token %s: %w", path, err)
	}
	return token, replaced, nil
}

// adminHandler guards the operator API used by the command line. A
// request must come from a loopback address (the HTTP listener may be
// exposed for metrics, the admin API never is), name a loopback host in
// Host (a page on another site that resolves its name to 127.0.0.1, DNS
// rebinding, is refused), and carry the token from data_dir/admin.token
// as a bearer token (which a browser never sends on its own, so a page
// posting to the API gets nothing: no CSRF; and a local user or a
// same-host proxy without the file gets nothing either).
func (s *Server) adminHandler(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		addr, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !addr.Unmap().IsLoopback() {
			http.Error(w, "the admin API is loopback only", http.StatusForbidden)
			return
		}
		if !loopbackHost(r.Host) {
			http.Error(w, "the admin API answers only to a loopback Host", http.StatusForbidden)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.adminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="minimix admin"`)
			http.Error(w, "the admin API needs the token in data_dir/"+AdminTokenFile, http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		next(w, r)
	}
}

// loopbackHost reports whether a Host header names this machine by a
// loopback name or address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func (s *Server) registerAdmin(mux *http.ServeMux) {
	// Profiles of the running server (net/http/pprof), for operators
	// measuring it under their own load: behind the same guard, e.g.
	//   curl -H "Authorization: Bearer $(cat data/admin.token)" \
	//     http://127.0.0.1:5280/api/debug/pprof/profile?seconds=10 > cpu.prof
	mux.HandleFunc("GET "+AdminAPIPrefix+"debug/pprof/", s.adminHandler(func(w http.ResponseWriter, r *http.Request) {
		// pprof.Index serves the named profiles under its own prefix.
		r.URL.Path = strings.Replace(r.URL.Path, AdminAPIPrefix+"debug/pprof/", "/debug/pprof/", 1)
		pprof.Index(w, r)
	}))
	mux.HandleFunc("GET "+AdminAPIPrefix+"debug/pprof/profile", s.adminHandler(pprof.Profile))
	mux.HandleFunc("GET "+AdminAPIPrefix+"debug/pprof/trace", s.adminHandler(pprof.Trace))
	mux.HandleFunc("GET "+AdminAPIPrefix+"joins", s.adminHandler(func(w http.ResponseWriter, r *http.Request) {
		if s.features.joins == nil {
			http.Error(w, "account_join is disabled", http.StatusNotFound)
			return
		}
		var owner jid.JID
		if a := r.URL.Query().Get("account"); a != "" {
			j, err := jid.Parse(a)
			if err != nil {
				http.Error(w, "bad account: "+err.Error(), http.StatusBadRequest)
				return
			}
			owner = j.Bare()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.features.joins.List(owner))
	}))
	mux.HandleFunc("POST "+AdminAPIPrefix+"joins/leave", s.adminHandler(func(w http.ResponseWriter, r *http.Request) {
		if s.features.joins == nil {
			http.Error(w, "account_join is disabled", http.StatusNotFound)
			return
		}
		a, err1 := jid.Parse(r.FormValue("account"))
		if err1 == nil && r.FormValue("room") == "" {
			// Every room (the account was deleted): done when it is in
			// none, whether or not it was in any.
			s.features.joins.LeaveAll(r.Context(), a.Bare())
			w.WriteHeader(http.StatusNoContent)
			return
		}
		room, err2 := jid.Parse(r.FormValue("room"))
		if err1 != nil || err2 != nil {
			http.Error(w, "account and room must be JIDs", http.StatusBadRequest)
			return
		}
		if !s.features.joins.Leave(r.Context(), a.Bare(), room.Bare()) {
			http.Error(w, "no such join", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET "+AdminAPIPrefix+"backup", s.adminHandler(s.handleBackup))
	mux.HandleFunc("POST "+AdminAPIPrefix+"import/xep0227", s.adminHandler(s.handleImport))
	// Reload reads the configuration file again, as SIGHUP does, and
	// answers which keys changed live and which wait for a restart.
	mux.HandleFunc("POST "+AdminAPIPrefix+"reload", s.adminHandler(func(w http.ResponseWriter, r *http.Request) {
		res, err := s.ReloadFile()
		if err != nil && res.Applied == nil && res.Restart == nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		if res.Applied == nil {
			res.Applied = []string{}
		}
		if res.Restart == nil {
			res.Restart = []string{}
		}
		out := struct {
			ReloadResult
			Error string `json:"error,omitempty"`
		}{ReloadResult: res}
		if err != nil {
			out.Error = err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	mux.HandleFunc("GET "+AdminAPIPrefix+"cluster", s.adminHandler(func(w http.ResponseWriter, r *http.Request) {
		if s.Cluster == nil {
			http.Error(w, "this server is not a cluster node (cluster.enabled = false)", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Cluster.Status())
	}))
	mux.HandleFunc("GET "+AdminAPIPrefix+"s2s", s.adminHandler(func(w http.ResponseWriter, r *http.Request) {
		if s.S2S == nil {
			http.Error(w, "s2s is disabled (s2s.enabled = false)", http.StatusNotFound)
			return
		}
		list := s.S2S.List()
		if list == nil {
			list = []s2s.Info{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
}
