package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Backupper is a store that can copy itself consistently while the server
// runs (the SQLite backend; PostgreSQL is backed up with pg_dump).
type Backupper interface {
	BackupTo(ctx context.Context, path string) error
}

// ErrNoOnlineBackup says that a store cannot copy itself.
var ErrNoOnlineBackup = errors.New("this storage driver has no online backup (PostgreSQL: use pg_dump, docs/backup.md)")

// handleBackup streams a backup (GET /api/backup). The size is sent
// ahead (Content-Length) so that a client can tell a complete copy from
// one cut short.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	b, ok := s.store.(Backupper)
	if !ok {
		http.Error(w, ErrNoOnlineBackup.Error(), http.StatusNotImplemented)
		return
	}
	dir, err := os.MkdirTemp(s.cfg.DataDir, ".backup-")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "minimix.db")
	start := time.Now()
	if err := b.BackupTo(r.Context(), path); err != nil {
		s.log.Error("backup failed", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// The HTTP server's write timeout suits metrics, not a database of
	// gigabytes: allow a generous rate instead (1 MiB/s at least).
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(time.Minute + time.Duration(fi.Size()>>20)*time.Second))
	w.Header().Set("Content-Type", "application/vnd.sqlite3")
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	n, err := io.Copy(w, f)
	if err != nil {
		s.log.Error("backup not sent in full", "bytes", n, "of", fi.Size(), "err", err)
		return
	}
	s.log.Info("backup taken", "bytes", n, "took", time.Since(start).Round(time.Millisecond))
}
