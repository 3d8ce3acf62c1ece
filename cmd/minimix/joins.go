package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"minimix/internal/config"
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

// adminURL is the running server's loopback admin API.
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
		u, err := adminURL(cfg, "/admin/joins?"+q.Encode())
		if err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintf(stderr, "minimix: is the server running? %v\n", err)
			return 1
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			fmt.Fprintf(stderr, "minimix: %s: %s", resp.Status, b)
			return 1
		}
		var infos []joinInfo
		if err := json.NewDecoder(resp.Body).Decode(&infos); err != nil {
			fmt.Fprintf(stderr, "minimix: bad answer from server: %v\n", err)
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
		u, err := adminURL(cfg, "/admin/joins/leave")
		if err != nil {
			fmt.Fprintf(stderr, "minimix: %v\n", err)
			return 1
		}
		form := url.Values{"account": {args[1]}, "room": {args[2]}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintf(stderr, "minimix: is the server running? %v\n", err)
			return 1
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			fmt.Fprintf(stderr, "minimix: %s: %s", resp.Status, b)
			return 1
		}
		fmt.Fprintf(stdout, "%s left %s\n", args[1], args[2])
		return 0
	}
	fmt.Fprint(stderr, usage)
	return 2
}
