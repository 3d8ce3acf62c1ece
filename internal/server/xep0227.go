package server

import (
	"errors"
	"net/http"
	"path/filepath"
	"time"

	"minimix/internal/xep0227"
)

// handleImport imports XEP-0227 files into the running server (POST
// /api/import/xep0227, form: path, the file or directory, absolute, which
// the server's user must be able to read). The server imports through its
// own PEP and bookmarks services, so that autojoin bookmarks make the
// accounts join at once, and through its own store, whose archive
// sequence a second process writing the same database would break. The
// answer is the summary as text.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) {
	path := r.FormValue("path")
	if path == "" || !filepath.IsAbs(path) {
		http.Error(w, "path must be an absolute file or directory name", http.StatusBadRequest)
		return
	}
	if s.features == nil || s.features.pep == nil || s.features.bookmarks == nil {
		http.Error(w, "the server has no PEP service to import into", http.StatusServiceUnavailable)
		return
	}
	// An import may take longer than the HTTP server's write timeout,
	// which suits metrics.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(24 * time.Hour))
	im := &xep0227.Importer{
		Domain: s.cfg.Domain, Store: s.store, PEP: s.features.pep, Bookmarks: s.features.bookmarks,
		Iters: s.Accounts.ScramIterations, Log: s.log.With("component", "xep0227"),
	}
	start := time.Now()
	sum, err := im.Import(r.Context(), path)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err != nil {
		s.log.Error("xep0227 import failed", "path", path, "err", err)
		status := http.StatusInternalServerError
		if errors.Is(err, r.Context().Err()) {
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		if sum != nil {
			sum.Write(w)
		}
		_, _ = w.Write([]byte("error: " + err.Error() + "\n"))
		return
	}
	s.log.Info("xep0227 import", "path", path, "accounts", sum.Users.Written, "took", time.Since(start).Round(time.Millisecond))
	sum.Write(w)
}
