package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"minimix/internal/accounts"
	"minimix/internal/config"
	"minimix/internal/server"
)

// joinInfo mirrors accountjoin.Info as the admin API sends it.
type joinInfo struct {
	Account  string   `json:"account"`
	Room     string   `json:"room"`
	Nick     string   `json:"nick"`
	State    string   `json:"state"`
	Source   string   `json:"source"`
	Sessions []string `json:"sessions"`
}

// adminURL is the running server's loopback admin API. A listener on a
// wildcard address is reached on 127.0.0.1: the API answers loopback
// clients only.
func adminURL(cfg *config.Config, path string) (string, error) {
	if cfg.HTTP.Listen == "" {
		return "", fmt.Errorf("http.listen is empty: the running server has no admin API")
	}
	host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
	if err != nil {
		return "", fmt.Errorf("http.listen %q: %w", cfg.HTTP.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}

func joinsCmd(path string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch args[0] {
	case "list":
		q := url.Values{}
		if len(args) > 1 {
			q.Set("account", args[1])
		}
		var infos []joinInfo
		if err := adminGet(ctx, cfg, "joins?"+q.Encode(), &infos); err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tROOM\tNICK\tSTATE\tSOURCE\tSESSIONS")
		for _, in := range infos {
			sessions := strings.Join(in.Sessions, ",")
			if sessions == "" {
				sessions = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Account, in.Room, in.Nick, in.State, in.Source, sessions)
		}
		_ = tw.Flush()
		return 0
	case "leave":
		if len(args) != 3 {
			fmt.Fprint(stderr, usage)
			return 2
		}
		form := url.Values{"account": {args[1]}, "room": {args[2]}}
		if _, err := adminCall(ctx, cfg, http.MethodPost, server.AdminAPIPrefix+"joins/leave", form, http.StatusNoContent); err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s left %s\n", args[1], args[2])
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}

// adminGet reads path of the running server's admin API into v, as JSON.
// showAdmin loads the configuration at path, reads the admin API's
// resource into v and reports, on stderr, what failed: the read-only
// commands (cluster status, s2s list) are this and a printer.
func showAdmin(path, resource string, v any, stderr io.Writer) bool {
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := adminGet(ctx, cfg, resource, v); err != nil {
		fmt.Fprintf(stderr, "minimix: %v\n", err)
		return false
	}
	return true
}

func adminGet(ctx context.Context, cfg *config.Config, path string, v any) error {
	body, err := adminCall(ctx, cfg, http.MethodGet, server.AdminAPIPrefix+path, nil, http.StatusOK)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("bad answer from server: %w", err)
	}
	return nil
}

// adminCall makes one request to the running server's admin API (form,
// when not nil, is posted) and returns the body of an answer with status
// want; any other answer is an error carrying the server's text.
func adminCall(ctx context.Context, cfg *config.Config, method, path string, form url.Values, want int) ([]byte, error) {
	u, err := adminURL(cfg, path)
	if err != nil {
		return nil, err
	}
	token, err := server.ReadAdminToken(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is the server running? %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// leaveAllRooms tells a running server that the account name was deleted,
// so that it leaves every room at once (docs/account-join.md, rule 25)
// rather than keep its nick there for idle_leave_after. Without a running
// server (none listens, or none ever made its token in data_dir) there is
// nothing to tell: the stored memberships went with the account.
func leaveAllRooms(cfg *config.Config, name string, stderr io.Writer) {
	local, err := accounts.Prepare(name)
	if err != nil || cfg.HTTP.Listen == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	form := url.Values{"account": {local + "@" + cfg.Domain}}
	_, err = adminCall(ctx, cfg, http.MethodPost, server.AdminAPIPrefix+"joins/leave", form, http.StatusNoContent)
	if err != nil && !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "minimix: the running server was not told to leave the account's rooms (they keep it until idle_leave_after or a restart): %v\n", err)
	}
}
