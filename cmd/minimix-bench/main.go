// Command minimix-bench is an XMPP load generator for any server
// (minimix, Prosody, ejabberd). Scenarios and flags: minimix-bench -h;
// docs/benchmarks.md shows how bench/compare.sh uses it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"minimix/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: minimix-bench [flags] SCENARIO...
       minimix-bench compare [-base LABEL] [-columns A,B] RESULTS.jsonl

Scenarios (run in the order given):
  accounts     create -accounts accounts (in-band registration, or -create-cmd)
  idle         -sessions logins with initial presence; server RSS growth per session (-pid)
  login        -logins SCRAM logins, -concurrency at a time, over -accounts accounts
  chat         -pairs pairs chat: a flood of -messages per pair, or -rate msgs/s in all
  muc          a room of -occupants (one session each); -senders flood -messages or send -rate msgs/s
  accountjoin  -accounts accounts x -sessions-per-account sessions in one room, one nick per account
  join         extra sessions of a joined account join -joins times: latency, stanzas to the joined session
  restart      time until -stored-joins account joins are back after -restart-cmd

compare reads -json results (one per line, labelled with -label) and prints
the medians side by side with ratios against -base.

Flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "compare" {
		return compare(args[1:], stdout, stderr)
	}
	d := loadgen.DefaultOptions()
	o := d
	fs := flag.NewFlagSet("minimix-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	t := &o.Target
	fs.StringVar(&t.Addr, "addr", "127.0.0.1:5222", "client listener `host:port`; several, comma-separated (a cluster's nodes), take connections in turn")
	fs.StringVar(&t.Domain, "domain", "localhost", "the server's XMPP domain")
	fs.StringVar(&t.MUCDomain, "muc", "", "group chat service domain (default conference.DOMAIN)")
	fs.StringVar(&t.UserFormat, "user", "user%d", "account name pattern, numbered from -first")
	fs.StringVar(&t.Password, "password", "bench-password", "every account's password")
	fs.BoolVar(&t.StartTLS, "starttls", false, "use STARTTLS (certificates are not verified)")
	fs.StringVar(&t.Mechanism, "mech", "", "SASL mechanism: SCRAM-SHA-256 or SCRAM-SHA-1 (default: the best offered)")
	fs.IntVar(&o.PID, "pid", 0, "the server's process id, for its RSS and CPU")
	fs.IntVar(&o.FirstAccount, "first", d.FirstAccount, "number of the first account")
	fs.IntVar(&o.SetupConcurrency, "setup-concurrency", d.SetupConcurrency, "logins and joins at a time while setting up")
	fs.DurationVar(&o.Timeout, "timeout", d.Timeout, "give up waiting for answers or deliveries after this long without progress")
	fs.IntVar(&o.Sessions, "sessions", d.Sessions, "idle: sessions")
	fs.DurationVar(&o.Settle, "settle", d.Settle, "idle: wait before reading the RSS again")
	fs.IntVar(&o.Logins, "logins", d.Logins, "login: logins")
	fs.IntVar(&o.Concurrency, "concurrency", d.Concurrency, "login: logins at a time")
	fs.IntVar(&o.Accounts, "accounts", d.Accounts, "accounts, login and accountjoin: accounts used")
	fs.IntVar(&o.Pairs, "pairs", d.Pairs, "chat: pairs")
	fs.IntVar(&o.Occupants, "occupants", d.Occupants, "muc, join: occupants")
	fs.IntVar(&o.Senders, "senders", d.Senders, "muc, accountjoin: sending sessions")
	fs.IntVar(&o.Messages, "messages", d.Messages, "chat (per pair), muc, accountjoin: messages in a flood")
	fs.Float64Var(&o.Rate, "rate", 0, "chat, muc, accountjoin: send this many msgs/s in all for -duration instead of flooding")
	fs.DurationVar(&o.Duration, "duration", d.Duration, "with -rate: how long to send")
	fs.IntVar(&o.SessionsPerAccount, "sessions-per-account", d.SessionsPerAccount, "accountjoin: sessions per account")
	fs.IntVar(&o.Joins, "joins", d.Joins, "join: extra-session joins")
	fs.StringVar(&o.RestartCmd, "restart-cmd", "", "restart: shell command that restarts the server (empty: wait for someone else to)")
	fs.BoolVar(&o.RestartSetup, "restart-setup", false, "restart: first join the accounts and end their sessions")
	fs.IntVar(&o.StoredJoins, "stored-joins", d.StoredJoins, "restart: account joins to wait for")
	fs.IntVar(&o.RoomSize, "room-size", d.RoomSize, "restart: accounts per room")
	fs.StringVar(&o.Observe, "observe", d.Observe, "restart: how to see the joins: admin (minimix's admin API) or probe (a probe occupant)")
	fs.StringVar(&o.AdminURL, "admin-url", "", "restart: minimix's HTTP listener, e.g. http://127.0.0.1:5280")
	fs.StringVar(&o.AdminTokenFile, "admin-token-file", "", "restart: minimix's admin API token (DATA_DIR/admin.token)")
	fs.StringVar(&o.RoomPrefix, "room-prefix", d.RoomPrefix, "rooms are named PREFIX-SCENARIO-RUN")
	fs.StringVar(&o.CreateCmd, "create-cmd", "", "accounts: shell command creating {user} at {domain} with {password} (also on stdin); empty: in-band registration")
	label := fs.String("label", "", "label results with this server name (a compare column)")
	cse := fs.String("case", "", "name this measurement in a comparison (default: the scenario)")
	asJSON := fs.Bool("json", false, "print results as JSON, one per line")
	quiet := fs.Bool("q", false, "no progress line")
	cpuProfile := fs.String("cpuprofile", "", "write the tool's own CPU profile to `file`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if t.MUCDomain == "" {
		t.MUCDomain = "conference." + t.Domain
	}
	if !strings.Contains(t.UserFormat, "%d") {
		fmt.Fprintf(stderr, "minimix-bench: -user must contain %%d for the account number\n")
		return 2
	}
	if !*quiet {
		o.Progress = stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "minimix-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "minimix-bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	code := 0
	for _, sc := range fs.Args() {
		r, err := loadgen.Run(ctx, sc, o)
		if r != nil {
			r.Label = *label
			if *cse != "" {
				if r.Params == nil {
					r.Params = map[string]string{}
				}
				r.Params["case"] = *cse
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "minimix-bench: %v\n", err)
			code = 1
			break
		}
		if *asJSON {
			if err := r.WriteJSON(stdout); err != nil {
				fmt.Fprintf(stderr, "minimix-bench: %v\n", err)
				return 1
			}
		} else {
			r.WriteTable(stdout)
		}
		for _, w := range r.Warnings {
			if *asJSON {
				fmt.Fprintf(stderr, "minimix-bench: %s: WARNING: %s\n", sc, w)
			}
		}
	}
	return code
}

func compare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("minimix-bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("base", "", "column the ratios divide by (default: the last)")
	cols := fs.String("columns", "", "comma-separated column order")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var results []loadgen.Result
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "minimix-bench: %v\n", err)
			return 1
		}
		rs, err := loadgen.ReadResults(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "minimix-bench: %s: %v\n", name, err)
			return 1
		}
		results = append(results, rs...)
	}
	var order []string
	if *cols != "" {
		order = strings.Split(*cols, ",")
	}
	loadgen.Compare(results, order, *base).WriteMarkdown(stdout)
	return 0
}
