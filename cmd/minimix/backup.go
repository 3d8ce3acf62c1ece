package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"minimix/internal/config"
	"minimix/internal/server"
	"minimix/internal/storage/sqlite"
)

// backupCmd runs "minimix backup FILE": it asks the running server for a
// consistent copy of its database (GET /api/backup), or, when no server
// answers, copies the database file itself. Either way the copy is
// checked before it is given its name.
func backupCmd(path string, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return 1
	}
	if cfg.Storage.Driver == "postgres" {
		fmt.Fprintln(stderr, "minimix backup: storage.driver is postgres: back it up with pg_dump (docs/backup.md)")
		return 1
	}
	dst := args[0]
	if _, err := os.Lstat(dst); err == nil {
		fmt.Fprintf(stderr, "minimix backup: %s exists; give a new file\n", dst)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp := dst + ".part"
	_ = os.Remove(tmp)
	how, err := backupOnline(ctx, cfg, tmp)
	if errors.Is(err, errNoServer) {
		how = "copied from " + cfg.DSN() + " (no running server answered on http.listen)"
		err = sqlite.BackupFile(ctx, cfg.DSN(), tmp)
	}
	if err == nil {
		err = sqlite.CheckBackup(ctx, tmp)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		fmt.Fprintf(stderr, "minimix backup: %v\n", err)
		return 1
	}
	fi, err := os.Stat(dst)
	if err != nil {
		fmt.Fprintf(stderr, "minimix backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d bytes, %s\n", dst, fi.Size(), how)
	return 0
}

// errNoServer means that no server runs on this configuration's data_dir
// (nothing listens on http.listen, or it never wrote its admin token).
var errNoServer = errors.New("no running server")

// backupOnline fetches the running server's backup into path.
func backupOnline(ctx context.Context, cfg *config.Config, path string) (string, error) {
	if cfg.HTTP.Listen == "" {
		return "", errNoServer
	}
	u, err := adminURL(cfg, server.AdminAPIPrefix+"backup")
	if err != nil {
		return "", err
	}
	token, err := server.ReadAdminToken(cfg.DataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", errNoServer
	}
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return "", errNoServer
	}
	if err != nil {
		return "", fmt.Errorf("ask the running server: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return "", fmt.Errorf("the running server answered %s: %s", resp.Status, b)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("the server sent %d of %d bytes", n, resp.ContentLength)
	}
	if err != nil {
		return "", fmt.Errorf("receive the backup: %w", err)
	}
	return "taken by the running server at " + cfg.HTTP.Listen, nil
}

// restoreCmd runs "minimix restore FILE": it checks that FILE is a minimix
// database and installs it as the database of an empty data_dir.
func restoreCmd(path string, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return 1
	}
	if cfg.Storage.Driver == "postgres" {
		fmt.Fprintln(stderr, "minimix restore: storage.driver is postgres: restore with pg_restore or psql (docs/backup.md)")
		return 1
	}
	src := args[0]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := restore(ctx, cfg, src); err != nil {
		fmt.Fprintf(stderr, "minimix restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s restored into %s\n", src, cfg.DSN())
	return 0
}

func restore(ctx context.Context, cfg *config.Config, src string) error {
	entries, err := os.ReadDir(cfg.DataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("data_dir %s is not empty: restore goes into an empty (or missing) one", cfg.DataDir)
	}
	dst := cfg.DSN()
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%s exists: restore does not overwrite a database", dst)
	}
	if err := sqlite.CheckBackup(ctx, src); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".restore"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	// Opening it brings its schema up to this version's, so that a
	// backup of an older minimix fails here rather than at start.
	db, err := sqlite.Open(ctx, dst)
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		// Leave data_dir as it was: empty.
		for _, f := range []string{dst, dst + "-wal", dst + "-shm"} {
			_ = os.Remove(f)
		}
		return err
	}
	return nil
}
