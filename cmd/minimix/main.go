// Command minimix runs the minimix XMPP server and manages its accounts.
//
//	minimix [-config FILE]                 run the server (also: minimix serve)
//	minimix config check [-config FILE]    report problems in a config file
//	minimix config example                 print a commented config with every default
//	minimix user add|passwd|del NAME       manage accounts (password on stdin or prompted)
//	minimix user list
//	minimix joins list [ACCOUNT]           rooms joined by accounts (asks the running server)
//	minimix joins leave ACCOUNT ROOM       make an account leave a room
//	minimix s2s list                       streams with other servers (asks the running server)
//	minimix reload                         make the running server read its config again (as SIGHUP)
//	minimix cluster status                 nodes, their sessions, rooms and leases (asks the running node)
//	minimix storage copy -from sqlite:PATH -to postgres:DSN   move a deployment to PostgreSQL
//	minimix backup FILE                    a consistent copy of the database, server running or not
//	minimix restore FILE                   install a backup into an empty data_dir
//	minimix import xep0227 [-dry-run] PATH  move in from Prosody or ejabberd (XEP-0227)
//	minimix export xep0227 DIR             every account as XEP-0227 files
//	minimix version
//
// The config file is the -config flag, else $MINIMIX_CONFIG, else the
// built-in defaults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"minimix/internal/config"
	"minimix/internal/logctx"
	"minimix/internal/sdnotify"
	"minimix/internal/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage:
  minimix [-config FILE] [serve]             run the server
  minimix config check [-config FILE]        check a config file
  minimix config example                     print an example config with all defaults
  minimix user add NAME [-config FILE]       create an account (password from stdin or prompt)
  minimix user passwd NAME [-config FILE]    change a password
  minimix user del NAME [-config FILE]       delete an account and its data
  minimix user list [-config FILE]           list accounts
  minimix joins list [ACCOUNT]               rooms joined as an account (asks the running server)
  minimix joins leave ACCOUNT ROOM           make an account leave a room
  minimix s2s list                           streams with other servers (asks the running server)
  minimix reload [-config FILE]              make the running server read its config file again (as SIGHUP)
  minimix cluster status                     nodes, their sessions, rooms and leases (asks the running node)
  minimix storage copy -from sqlite:PATH -to postgres:DSN [-sample N]
                                             copy every table into an empty PostgreSQL database
                                             (server stopped), verified by counts and hashes
  minimix backup FILE [-config FILE]         a consistent copy of the database, taken while
                                             the server runs (SQLite; PostgreSQL: pg_dump)
  minimix restore FILE [-config FILE]        install a backup into an empty data_dir
  minimix import xep0227 [-dry-run] FILE|DIR  import accounts, rosters, vCards, private XML,
                                             PEP (bookmarks), offline messages and archives
                                             exported by Prosody or ejabberd (by the running
                                             server if one runs)
  minimix export xep0227 DIR                 write every account as XEP-0227, one file each
  minimix version                            print the version
`

// run is main without the exit, for tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("minimix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	cfgPath := fs.String("config", "", "config file (default $MINIMIX_CONFIG, else built-in defaults)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	cmd := "serve"
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	if cmd == "storage" {
		return storageCmd(rest, stdout, stderr)
	}
	if cmd == "import" || cmd == "export" {
		return portableCmd(cmd, *cfgPath, rest, stdout, stderr)
	}
	// Sub-commands accept -config after their own name too.
	sub := flag.NewFlagSet("minimix "+cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	sub.Usage = func() { fmt.Fprint(stderr, usage) }
	subCfg := sub.String("config", "", "config file")
	// Flags may come before, between or after positional arguments
	// ("user add bob -config f"): the flag package stops at the first
	// positional one, so parse again after each.
	var positional []string
	for {
		if err := sub.Parse(rest); err != nil {
			return 2
		}
		rest = sub.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	rest = positional
	path := *cfgPath
	if *subCfg != "" {
		path = *subCfg
	}
	path = config.FromEnv(path)

	switch cmd {
	case "serve":
		return serve(path, stderr)
	case "config":
		return configCmd(path, rest, stdout, stderr)
	case "user":
		return userCmd(path, rest, stdin, stdout, stderr)
	case "joins":
		return joinsCmd(path, rest, stdout, stderr)
	case "s2s":
		return s2sCmd(path, rest, stdout, stderr)
	case "backup":
		return backupCmd(path, rest, stdout, stderr)
	case "restore":
		return restoreCmd(path, rest, stdout, stderr)
	case "reload":
		return reloadCmd(path, stdout, stderr)
	case "cluster":
		return clusterCmd(path, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "minimix", server.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "minimix: unknown command %q\n%s", cmd, usage)
		return 2
	}
}

func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "minimix: %v\n", err)
		return nil, false
	}
	return cfg, true
}

// newLogger returns the server's logger and its level, which a reload
// changes.
func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	lv := new(slog.LevelVar)
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	// logctx adds the session id of the request a line is about.
	if cfg.Log.Format == "json" {
		return slog.New(logctx.NewHandler(slog.NewJSONHandler(w, opts))), lv
	}
	return slog.New(logctx.NewHandler(slog.NewTextHandler(w, opts))), lv
}

func serve(path string, stderr io.Writer) int {
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return 1
	}
	log, level := newLogger(cfg, stderr)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	srv.LogLevel = level
	notify := func(state string) {
		if _, err := sdnotify.Notify(state); err != nil {
			log.Warn("cannot notify the service manager", "err", err)
		}
	}
	srv.OnReady = func() { notify(sdnotify.Ready + "\nSTATUS=serving " + cfg.Domain) }
	srv.OnStopping = func() { notify(sdnotify.Stopping) }
	// SIGHUP reloads the configuration file (minimix reload does the
	// same through the admin API).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the configuration")
				notify(sdnotify.ReloadingState())
				_, _ = srv.ReloadFile() // it logs what it did and what failed
				notify(sdnotify.Ready + "\nSTATUS=serving " + cfg.Domain)
			}
		}
	}()
	if err := srv.Run(ctx); err != nil {
		log.Error("server stopped with error", "err", err)
		return 1
	}
	return 0
}

func configCmd(path string, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "example":
		fmt.Fprint(stdout, config.Example)
		return 0
	case "check":
		if path == "" {
			fmt.Fprintln(stderr, "minimix config check: give a file with -config or $MINIMIX_CONFIG")
			return 2
		}
		problems, err := config.Check(path)
		if err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		for _, p := range problems {
			if p.Line > 0 {
				fmt.Fprintf(stdout, "%s:%s\n", path, p.String())
			} else {
				fmt.Fprintf(stdout, "%s: %s\n", path, p.String())
			}
		}
		if len(problems) > 0 {
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", path)
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

func userCmd(path string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return 1
	}
	ctx := context.Background()
	store, err := server.OpenStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "minimix: %v\n", err)
		return 1
	}
	defer store.Close()
	m := server.NewAccountManager(cfg, store)
	op := args[0]
	if op == "list" {
		names, err := m.List(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
		return 0
	}
	if len(args) != 2 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name := args[1]
	switch op {
	case "add", "passwd":
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		if op == "add" {
			err = m.Add(ctx, name, pw)
		} else {
			err = m.SetPassword(ctx, name, pw)
		}
		if err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", name)
		return 0
	case "del":
		if err := m.Delete(ctx, name); err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: deleted\n", name)
		leaveAllRooms(cfg, name, stderr)
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

// readPassword prompts on a terminal (twice, without echo), or reads the
// first line of stdin when it is not a terminal (scripts).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stderr, "Password: ")
		a, err := readSecret(f)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := readSecret(f)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if a != b {
			return "", errors.New("passwords do not match")
		}
		return a, nil
	}
	data, err := io.ReadAll(io.LimitReader(stdin, 4096))
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw, _, _ := strings.Cut(string(data), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", errors.New("empty password on stdin")
	}
	return pw, nil
}
