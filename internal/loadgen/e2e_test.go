package loadgen_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"minimix/internal/config"
	"minimix/internal/loadgen"
	"minimix/internal/server"
	"minimix/internal/xmpptest"
)

// TestMain fails the package if a session reader, a progress printer or
// a server outlives its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}

// start runs a minimix in this process with in-band registration and
// plaintext logins, and returns options aimed at it: small sizes, so
// that the scenarios' wiring is checked, not the server's speed.
func start(t *testing.T, accountJoin bool) (*xmpptest.Server, loadgen.Options) {
	t.Helper()
	srv := xmpptest.Start(t, xmpptest.WithPlaintext(), xmpptest.WithConfig(func(c *config.Config) {
		c.C2S.AllowRegistration = true
		c.C2S.LoginFailuresPerMinute = 0
		c.AccountJoin.Enabled = accountJoin
	}))
	o := loadgen.DefaultOptions()
	o.Target = loadgen.Target{
		Addr:       srv.C2SAddr().String(),
		Domain:     srv.Domain,
		MUCDomain:  srv.Config.MUC.Domain,
		UserFormat: "u%d",
		Password:   "bench-pw",
	}
	o.PID = os.Getpid()
	o.Timeout = 20 * time.Second
	o.SetupConcurrency = 4
	o.Accounts = 12
	o.Progress = testWriter{t}
	ctx := context.Background()
	if _, err := loadgen.Run(ctx, "accounts", o); err != nil {
		t.Fatal(err)
	}
	return srv, o
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func metric(t *testing.T, r *loadgen.Result, name string) float64 {
	t.Helper()
	m, ok := r.Metric(name)
	if !ok {
		t.Fatalf("%s: no metric %q in %+v", r.Scenario, name, r.Metrics)
	}
	return m.Value
}

// noLoss fails the test when a scenario reports missing or duplicate
// deliveries (warnings about the tool's CPU are the machine's business).
func noLoss(t *testing.T, r *loadgen.Result) {
	t.Helper()
	for _, w := range r.Warnings {
		if strings.Contains(w, "deliveries") {
			t.Errorf("%s: %s", r.Scenario, w)
		}
	}
}

func TestAccountsIdempotent(t *testing.T) {
	_, o := start(t, true)
	r, err := loadgen.Run(context.Background(), "accounts", o)
	if err != nil {
		t.Fatal(err)
	}
	if metric(t, r, "existed") != 12 || metric(t, r, "created") != 0 {
		t.Errorf("second registration: %+v", r.Metrics)
	}
	o.Target.Password = "wrong"
	o.Logins, o.Concurrency, o.Accounts = 1, 1, 1
	if _, err := loadgen.Run(context.Background(), "login", o); err == nil || !strings.Contains(err.Error(), "not-authorized") {
		t.Errorf("login with a wrong password: %v", err)
	}
}

func TestScenarios(t *testing.T) {
	for _, aj := range []bool{true, false} {
		t.Run(fmt.Sprintf("account_join=%v", aj), func(t *testing.T) {
			_, o := start(t, aj)
			ctx := context.Background()

			o.Occupants, o.Messages = 5, 200
			r, err := loadgen.Run(ctx, "muc", o)
			if err != nil {
				t.Fatal(err)
			}
			noLoss(t, r)
			if got := metric(t, r, "delivered"); got != 5*200 {
				t.Errorf("muc flood: %v deliveries, want %d", got, 5*200)
			}
			metric(t, r, "latency p99.9")

			o.Senders, o.Rate, o.Duration = 2, 200, 500*time.Millisecond
			r, err = loadgen.Run(ctx, "muc", o)
			if err != nil {
				t.Fatal(err)
			}
			noLoss(t, r)
			if sent := metric(t, r, "sent"); sent != 100 || metric(t, r, "delivered") != 5*sent {
				t.Errorf("muc rate: sent %v delivered %v", sent, metric(t, r, "delivered"))
			}
			if r.Params["mode"] != "rate" || r.Params["senders"] != "2" {
				t.Errorf("params %v", r.Params)
			}
			o.Senders, o.Rate = 1, 0

			o.Accounts, o.SessionsPerAccount, o.Messages = 3, 3, 50
			r, err = loadgen.Run(ctx, "accountjoin", o)
			if err != nil {
				t.Fatal(err)
			}
			noLoss(t, r)
			if got := metric(t, r, "delivered"); got != 3*3*50 {
				t.Errorf("accountjoin: %v deliveries, want %d", got, 3*3*50)
			}

			o.Pairs, o.Messages = 3, 100
			r, err = loadgen.Run(ctx, "chat", o)
			if err != nil {
				t.Fatal(err)
			}
			noLoss(t, r)
			if got := metric(t, r, "delivered"); got != 300 {
				t.Errorf("chat: %v delivered, want 300", got)
			}

			o.Occupants, o.Joins = 3, 4
			r, err = loadgen.Run(ctx, "join", o)
			if err != nil {
				t.Fatal(err)
			}
			metric(t, r, "join p99")
			others := metric(t, r, "stanzas to the joined session per join")
			if aj && others != 0 {
				// docs/account-join.md rule: a later session's join is
				// answered from the account's state; the others see nothing.
				t.Errorf("account join: the joined session received %v stanzas per join", others)
			}

			o.Logins, o.Concurrency, o.Accounts = 20, 3, 4
			r, err = loadgen.Run(ctx, "login", o)
			if err != nil {
				t.Fatal(err)
			}
			metric(t, r, "logins/s")
			metric(t, r, "login p50")
		})
	}
}

func TestIdle(t *testing.T) {
	_, o := start(t, true)
	o.Sessions, o.Settle = 10, 10*time.Millisecond
	for _, tls := range []bool{false, true} {
		o.Target.StartTLS = tls
		r, err := loadgen.Run(context.Background(), "idle", o)
		if err != nil {
			t.Fatal(err)
		}
		if metric(t, r, "RSS before") <= 0 || metric(t, r, "RSS after") <= 0 {
			t.Errorf("RSS %+v", r.Metrics)
		}
		metric(t, r, "RSS per session")
		if r.Params["tls"] != fmt.Sprint(tls) {
			t.Errorf("tls param %q", r.Params["tls"])
		}
	}
	o.PID = 0
	if _, err := loadgen.Run(context.Background(), "idle", o); err == nil {
		t.Error("idle without a pid ran")
	}
}

// TestRestartObservers sets up stored account joins and observes them
// through the admin API and through a probe occupant. The "restart" is a
// command that does nothing: the test checks the setup and both
// observers, not a restart's speed (bench/compare.sh restarts for real).
func TestRestartObservers(t *testing.T) {
	srv, o := start(t, true)
	o.StoredJoins, o.RoomSize = 7, 3
	o.RestartSetup = true
	o.RestartCmd = "true"
	o.Observe = "admin"
	o.AdminURL = "http://" + srv.HTTPAddr().String()
	o.AdminTokenFile = server.AdminTokenPath(srv.Config.DataDir)
	r, err := loadgen.Run(context.Background(), "restart", o)
	if err != nil {
		t.Fatal(err)
	}
	if metric(t, r, "joins before") != 7 {
		t.Errorf("admin API saw %v joins, want 7", metric(t, r, "joins before"))
	}
	metric(t, r, "joins back after start")

	o.RestartSetup = false
	o.Observe = "probe"
	r, err = loadgen.Run(context.Background(), "restart", o)
	if err != nil {
		t.Fatal(err)
	}
	if metric(t, r, "joins before") != 7 {
		t.Errorf("probe saw %v joins, want 7", metric(t, r, "joins before"))
	}

	o.StoredJoins = 9 // more than there are
	o.Timeout = time.Second
	if _, err := loadgen.Run(context.Background(), "restart", o); err == nil || !strings.Contains(err.Error(), "only 7 of 9") {
		t.Errorf("restart with too few joins: %v", err)
	}
}

func TestUnknownScenario(t *testing.T) {
	if _, err := loadgen.Run(context.Background(), "nope", loadgen.DefaultOptions()); err == nil {
		t.Error("unknown scenario accepted")
	}
}
