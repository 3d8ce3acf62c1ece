package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"minimix/internal/server"
)

// reloadCmd asks the running server to read its configuration file again
// (as SIGHUP does) and prints which changed keys took effect and which
// wait for a restart.
func reloadCmd(path string, stdout, stderr io.Writer) int {
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		// The server would refuse the same file: say so here.
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := adminCall(ctx, cfg, http.MethodPost, server.AdminAPIPrefix+"reload", nil, http.StatusOK)
	if err != nil {
		fmt.Fprintf(stderr, "minimix: reload: %v\n", err)
		return 1
	}
	var res struct {
		server.ReloadResult
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		fmt.Fprintf(stderr, "minimix: reload: bad answer from server: %v\n", err)
		return 1
	}
	none := func(keys []string) string {
		if len(keys) == 0 {
			return "none"
		}
		return strings.Join(keys, ", ")
	}
	fmt.Fprintf(stdout, "reloaded %s\napplied: %s\nneeds a restart: %s\n", cfg.Path(), none(res.Applied), none(res.Restart))
	if res.Error != "" {
		fmt.Fprintf(stderr, "minimix: reload: %s\n", res.Error)
		return 1
	}
	return 0
}
