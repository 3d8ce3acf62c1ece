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
	"os"
	"os/signal"
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
	if len(args) == 0 || args[0] != "xep0227" {
		fmt.Fprintf(stderr, "minimix %s: the only format is xep0227\n%s", op, usage)
		return 2
	}
	fset := flag.NewFlagSet("minimix "+op+" xep0227", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, usage) }
	subCfg := fset.String("config", "", "config file")
	dry := false
	if op == "import" {
		fset.BoolVar(&dry, "dry-run", false, "read the file and print what would be imported, writing nothing")
	}
	var positional []string
	rest := args[1:]
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
	// Export only reads; an import must not write under a running server.
	if op == "import" && !dry {
		if running(cfg) {
			fmt.Fprintf(stderr, "minimix %s: a server runs on this data_dir (its admin API answers on %s): stop it first, so that it does not keep stale state (-dry-run may run alongside)\n", op, cfg.HTTP.Listen)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
