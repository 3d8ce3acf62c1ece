package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"minimix/internal/bookmarks"
	"minimix/internal/config"
	"minimix/internal/pep"
	"minimix/internal/server"
	"minimix/internal/xep0227"
)

// portableCmd runs "minimix import xep0227 [-dry-run] PATH" and "minimix
// export xep0227 DIR" (XEP-0227, docs/migrating.md).
func portableCmd(op, cfgPath string, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("minimix "+op+" xep0227", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, usage) }
	subCfg := fset.String("config", "", "config file")
	dry := false
	if op == "import" {
		fset.BoolVar(&dry, "dry-run", false, "read the file and print what would be imported, writing nothing")
	}
	// Flags may come anywhere: before, between or after the format and
	// the path.
	var positional []string
	rest := args
	for {
		if err := fset.Parse(rest); err != nil {
			return 2
		}
		rest = fset.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	if len(positional) == 0 || positional[0] != "xep0227" {
		fmt.Fprintf(stderr, "minimix %s: the only format is xep0227\n%s", op, usage)
		return 2
	}
	positional = positional[1:]
	if len(positional) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if *subCfg != "" {
		cfgPath = *subCfg
	}
	cfg, ok := loadConfig(config.FromEnv(cfgPath), stderr)
	if !ok {
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// An import into a running server's data_dir goes through that
	// server: it must see the accounts' bookmarks (account joins) and
	// keep its own archive sequence. Export and dry runs only read.
	if op == "import" && !dry && running(cfg) {
		return importRunning(ctx, cfg, positional[0], stdout, stderr)
	}
	store, err := server.OpenStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "minimix %s: %v\n", op, err)
		return 1
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	p := pep.New(pep.Config{
		Domain: cfg.Domain, Store: store, MaxNodes: cfg.PEP.MaxNodes, MaxItems: cfg.PEP.MaxItems,
		MaxPayloadBytes: cfg.PEP.MaxPayloadBytes, Logger: log,
	})
	bm := bookmarks.New(cfg.Domain, p, log)
	switch op {
	case "import":
		im := &xep0227.Importer{
			Domain: cfg.Domain, Store: store, PEP: p, Bookmarks: bm, DryRun: dry, Log: log,
			Iters: server.NewAccountManager(cfg, store).ScramIterations,
		}
		sum, err := im.Import(ctx, positional[0])
		if sum != nil {
			sum.Write(stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "minimix import: %v\n", err)
			return 1
		}
		return 0
	case "export":
		ex := &xep0227.Exporter{Domain: cfg.Domain, Store: store, PEP: p}
		n, err := ex.Export(ctx, positional[0])
		if err != nil {
			fmt.Fprintf(stderr, "minimix export: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d accounts exported to %s (one file per account, user@%s.xml)\n", n, positional[0], cfg.Domain)
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

// running reports whether a server answers on the admin API of cfg's
// data_dir.
func running(cfg *config.Config) bool {
	if cfg.HTTP.Listen == "" {
		return false
	}
	if _, err := server.ReadAdminToken(cfg.DataDir); errors.Is(err, fs.ErrNotExist) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := adminCall(ctx, cfg, http.MethodGet, server.AdminAPIPrefix+"s2s", nil, http.StatusOK)
	return err == nil || !errors.Is(err, syscall.ECONNREFUSED)
}

// importRunning asks the running server to import path (POST
// /api/import/xep0227) and prints its summary.
func importRunning(ctx context.Context, cfg *config.Config, path string, stdout, stderr io.Writer) int {
	abs, err := filepath.Abs(path)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "minimix import: %v\n", err)
		return 1
	}
	body, err := adminCall(ctx, cfg, http.MethodPost, server.AdminAPIPrefix+"import/xep0227", url.Values{"path": {abs}}, http.StatusOK)
	if err != nil {
		fmt.Fprintf(stderr, "minimix import: the running server (which reads %s itself, as its own user): %v\n", abs, err)
		return 1
	}
	fmt.Fprint(stdout, string(body))
	fmt.Fprintln(stdout, "(imported by the running server)")
	return 0
}
