package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"minimix/internal/config"
	"minimix/internal/server"
	"minimix/internal/storage"
	"minimix/internal/storage/sqlite"
)

// BenchmarkRejoinAtStart measures what a restart costs a server whose
// accounts are in many rooms: the time from starting the server until
// every stored account membership is joined again (the room answered
// the account's join). The rooms are persistent rooms of the server's own
// MUC service. One op is one start; joins/s is the rate.
func BenchmarkRejoinAtStart(b *testing.B) {
	for _, tc := range []struct{ accounts, rooms, perAccount int }{
		{1000, 1000, 10},   // 10 000 memberships, 10 accounts per room
		{10000, 10000, 10}, // 100 000 memberships, 10 accounts per room
		{1000, 100, 10},    // 10 000 memberships, 100 accounts per room
	} {
		total := tc.accounts * tc.perAccount
		b.Run(fmt.Sprintf("%d/%dperroom", total, total/tc.rooms), func(b *testing.B) {
			cfg := config.Default()
			cfg.DataDir = filepath.Join(b.TempDir(), "data")
			cfg.C2S.Listen = []string{"127.0.0.1:0"}
			cfg.C2S.DirectTLSListen = []string{"127.0.0.1:0"}
			cfg.HTTP.Listen = ""
			seedJoins(b, cfg, tc.accounts, tc.rooms, tc.perAccount)
			log := slog.New(slog.DiscardHandler)
			b.ResetTimer()
			for range b.N {
				ctx := context.Background()
				start, cpu0 := time.Now(), cpuTime()
				srv, err := server.New(ctx, cfg, log)
				if err != nil {
					b.Fatal(err)
				}
				if err := srv.Start(ctx); err != nil {
					b.Fatal(err)
				}
				stats := &srv.AccountJoins().Stats
				deadline := time.Now().Add(5 * time.Minute)
				for stats.Joined.Load() < int64(total) {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d memberships joined after 5 minutes", stats.Joined.Load(), total)
					}
					time.Sleep(time.Millisecond)
				}
				elapsed, cpu := time.Since(start), cpuTime()-cpu0
				b.ReportMetric(float64(total)/elapsed.Seconds(), "joins/s")
				b.ReportMetric(elapsed.Seconds(), "s/start")
				// CPU time is what carries over from a shared machine: on
				// one dedicated core, wall time approaches it.
				b.ReportMetric(cpu.Seconds(), "cpu-s/start")
				b.StopTimer()
				sctx, cancel := context.WithTimeout(ctx, time.Minute)
				if err := srv.Shutdown(sctx); err != nil {
					b.Fatal(err)
				}
				cancel()
				b.StartTimer()
			}
		})
	}
}

// cpuTime returns the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// seedJoins stores rooms persistent rooms and accounts accounts, each a
// member of perAccount of them, as a server that ran before would have
// (with its archive's memberships open).
func seedJoins(b *testing.B, cfg *config.Config, accounts, rooms, perAccount int) {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, cfg.DSN())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for r := range rooms {
		err := db.PutRoom(ctx, storage.RoomRecord{
			JID:    fmt.Sprintf("room%d@%s", r, cfg.MUC.Domain),
			Config: []byte(`{"persistent":true,"public":true,"logging":true,"history_length":20,"allow_pm":"anyone","whois":"moderators"}`),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for a := range accounts {
		for k := range perAccount {
			r := (a*perAccount + k) % rooms
			err := db.PutJoin(ctx, storage.JoinRecord{
				Account: fmt.Sprintf("user%d@%s", a, cfg.Domain), Room: fmt.Sprintf("room%d@%s", r, cfg.MUC.Domain),
				Nick: fmt.Sprintf("user%d", a), LastActive: time.Now(),
			})
			if err != nil {
				b.Fatal(err)
			}
			// Open, as the archive of the run before left it.
			if err := db.OpenMembership(ctx, fmt.Sprintf("user%d@%s", a, cfg.Domain), fmt.Sprintf("room%d@%s", r, cfg.MUC.Domain)); err != nil {
				b.Fatal(err)
			}
		}
	}
}
