package server

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"

	"minimix/internal/jid"
)

// adminHandler serves the operator API used by the command line
// (minimix joins ...). It answers only loopback clients: the HTTP
// listener may be exposed for metrics, the admin API never is.
func (s *Server) adminHandler(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		addr, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !addr.Unmap().IsLoopback() {
			http.Error(w, "admin API is loopback only", http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

func (s *Server) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/joins", s.adminHandler(func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("POST /admin/joins/leave", s.adminHandler(func(w http.ResponseWriter, r *http.Request) {
		if s.features.joins == nil {
			http.Error(w, "account_join is disabled", http.StatusNotFound)
			return
		}
		a, err1 := jid.Parse(r.FormValue("account"))
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
}
