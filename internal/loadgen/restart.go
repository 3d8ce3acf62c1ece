package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// restartRoom returns the bare JID of the j-th room of the restart
// scenario. The names are stable across runs so that a run without
// -restart-setup finds the joins an earlier one stored.
func (b *bench) restartRoom(j int) string {
	return fmt.Sprintf("%s-restart-%d@%s", b.o.RoomPrefix, j, b.o.Target.MUCDomain)
}

func (b *bench) restartRooms() int {
	size := max(1, b.o.RoomSize)
	return (b.o.StoredJoins + size - 1) / size
}

// restart: o.StoredJoins accounts are joined to rooms of o.RoomSize
// (made by -restart-setup: each account joins with one session, which then
// ends without leaving, so the server keeps the account joined); the
// server is restarted with o.RestartCmd (or by someone else while the tool
// waits), and the time until every stored join is back is measured, as
// the admin API lists them (minimix) or as a probe occupant sees them.
func (b *bench) restart(ctx context.Context, r *Result) error {
	k := b.o.StoredJoins
	r.param("stored_joins", k)
	r.param("room_size", b.o.RoomSize)
	r.param("observe", b.o.Observe)
	if b.o.Observe != "admin" && b.o.Observe != "probe" {
		return fmt.Errorf("-observe must be admin or probe, not %q", b.o.Observe)
	}
	if b.o.Observe == "admin" && (b.o.AdminURL == "" || b.o.AdminTokenFile == "") {
		return errors.New("-observe admin needs -admin-url and -admin-token-file")
	}
	if b.o.RestartSetup {
		if err := b.restartSetup(ctx); err != nil {
			return err
		}
	}
	before, err := b.countJoins(ctx)
	if err != nil {
		return fmt.Errorf("counting joins before the restart: %w", err)
	}
	r.add("joins before", float64(before), "joins", "")
	if before < k {
		return fmt.Errorf("only %d of %d joins are stored before the restart (run with -restart-setup)", before, k)
	}

	// The server's pid changes with the restart; only the tool is metered.
	m := startMeter(0)
	t0 := time.Now()
	if b.o.RestartCmd != "" {
		c := exec.CommandContext(ctx, "sh", "-c", b.o.RestartCmd)
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("restart command: %w: %s", err, strings.TrimSpace(string(out)))
		}
	} else if err := b.waitDown(ctx); err != nil {
		return err
	}
	cmdDone := time.Since(t0)
	if err := b.waitListening(ctx); err != nil {
		return err
	}
	up := time.Since(t0)
	var back time.Duration
	deadline := time.Now().Add(max(b.o.Timeout, 2*time.Minute))
	stop := b.progress(func() string {
		return fmt.Sprintf("restart: waiting for %d joins (%v)", k, time.Since(t0).Round(time.Second))
	})
	for {
		n, err := b.countJoins(ctx)
		if err == nil && n >= k {
			back = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("only %d of %d joins back after %v (last error: %v)", n, k, time.Since(t0), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	m.stop(r)
	// Times count from the restart command's return (the new server
	// starting), or from the server going down when someone else restarts
	// it, so that a slow graceful stop does not count as a slow start.
	if b.o.RestartCmd != "" {
		r.ms("restart command (stop and start)", cmdDone)
	}
	r.ms("c2s listening after start", up-cmdDone)
	back -= cmdDone
	r.ms("joins back after start", back)
	r.rate("joins/s", float64(k)/max(back, time.Millisecond).Seconds(), "joins/s")
	return nil
}

// restartSetup joins account i (from 0) to room i/RoomSize, then ends
// every session without leaving.
func (b *bench) restartSetup(ctx context.Context) error {
	k, size := b.o.StoredJoins, max(1, b.o.RoomSize)
	for j := range b.restartRooms() {
		var accts []int
		for i := j * size; i < min(k, (j+1)*size); i++ {
			accts = append(accts, b.acct(i))
		}
		p, err := b.open(ctx, "restart setup", accts, repeat("setup", len(accts)))
		if err != nil {
			return err
		}
		err = b.fill(ctx, fmt.Sprintf("restart setup room %d", j), p, b.restartRoom(j),
			"muc#roomconfig_persistentroom", "1")
		p.close()
		if err != nil {
			return err
		}
	}
	return nil
}

// waitDown waits until the server refuses connections, for a restart
// done by someone else.
func (b *bench) waitDown(ctx context.Context) error {
	for {
		c, err := net.DialTimeout("tcp", b.o.Target.Addr, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitListening waits until the server accepts connections.
func (b *bench) waitListening(ctx context.Context) error {
	deadline := time.Now().Add(max(b.o.Timeout, 2*time.Minute))
	for {
		c, err := net.DialTimeout("tcp", b.o.Target.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not listening after the restart: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// countJoins counts the stored joins that are live.
func (b *bench) countJoins(ctx context.Context) (int, error) {
	if b.o.Observe == "admin" {
		return b.countAdmin(ctx)
	}
	return b.countProbe(ctx)
}

// adminJoin is one entry of minimix's GET /api/joins.
type adminJoin struct {
	Account string `json:"account"`
	Room    string `json:"room"`
	State   string `json:"state"`
}

// countAdmin counts the joined memberships of this scenario's rooms in
// minimix's admin API.
func (b *bench) countAdmin(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The token is read at every call: a restarted server may have made
	// a new one.
	tok, err := os.ReadFile(b.o.AdminTokenFile)
	if err != nil {
		return 0, fmt.Errorf("admin token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(b.o.AdminURL, "/")+"/api/joins", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	// No kept-alive connections: the tool polls rarely and leaves nothing
	// behind.
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("admin API: %s", resp.Status)
	}
	var joins []adminJoin
	if err := json.NewDecoder(resp.Body).Decode(&joins); err != nil {
		return 0, fmt.Errorf("admin API: %w", err)
	}
	return countJoined(joins, b.o.RoomPrefix+"-restart-"), nil
}

// countJoined counts the entries in state "joined" whose room's local
// part starts with prefix.
func countJoined(joins []adminJoin, prefix string) int {
	n := 0
	for _, j := range joins {
		if j.State == "joined" && strings.HasPrefix(j.Room, prefix) {
			n++
		}
	}
	return n
}

// countProbe joins every room of the scenario with a probe account (the
// one after the stored accounts) and counts the occupants it is told
// about whose nick is an account's.
func (b *bench) countProbe(ctx context.Context) (int, error) {
	probe := b.acct(b.o.StoredJoins)
	c, err := Login(ctx, &b.o.Target, b.creds, probe, "probe-"+b.token)
	if err != nil {
		return 0, err
	}
	s := &session{c: c, acct: probe, marker: b.marker(), epoch: b.epoch}
	s.start()
	defer s.close()
	want := map[string]bool{}
	for i := range b.o.StoredJoins {
		want[b.nick(b.acct(i))] = true
	}
	total := 0
	nick := "probe-" + b.token
	for j := range b.restartRooms() {
		room := b.restartRoom(j)
		seen := map[string]bool{}
		occ := room + "/" + nick
		self := selfPresence(occ, false)
		ch := s.await(func(raw []byte) bool {
			if self(raw) {
				return true
			}
			if n, ok := occupantNick(raw, room); ok && want[n] {
				seen[n] = true
			}
			return false
		})
		if err := c.SendNow(`<presence to='` + escapeAttr(occ) + `'><x xmlns='` + nsMUC +
			`'><history maxstanzas='0'/></x></presence>`); err != nil {
			return total, err
		}
		raw, err := b.wait(ctx, s, ch)
		if err != nil {
			return total, err
		}
		if Attr(raw, "type") == "error" {
			return total, fmt.Errorf("probe joining %s: %s", room, errorCondition(raw))
		}
		total += len(seen)
		if err := b.leaveRoom(ctx, s, room, nick); err != nil {
			return total, err
		}
	}
	return total, nil
}
