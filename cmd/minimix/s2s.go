package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"minimix/internal/s2s"
)

// s2sCmd runs "minimix s2s list": the running server's streams with
// other servers, from its admin API.
func s2sCmd(path string, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] != "list" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var infos []s2s.Info
	if !showAdmin(path, "s2s", &infos, stderr) {
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIRECTION\tREMOTE\tLOCAL\tSTATE\tAUTH\tTLS\tCERT\tADDRESS\tIDLE\tQUEUED")
	for _, in := range infos {
		tlsv := orDash(in.TLS)
		if in.DirectTLS {
			tlsv += " (direct)"
		}
		state := in.State
		if in.Bidi {
			state += ",bidi"
		}
		cert := "invalid"
		if in.CertValid {
			cert = "valid"
		}
		if in.TLS == "" {
			cert = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", in.Direction, orDash(strings.Join(in.Remote, ",")),
			orDash(strings.Join(in.Local, ",")), state, orDash(in.Auth), tlsv, cert, orDash(in.Addr), in.Idle, in.Queued)
	}
	_ = tw.Flush()
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
