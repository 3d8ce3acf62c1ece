package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"minimix/internal/cluster"
)

// clusterCmd runs "minimix cluster status": the cluster as the running
// node sees it, from its admin API.
func clusterCmd(path string, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] != "status" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var st cluster.Status
	if !showAdmin(path, "cluster", &st, stderr) {
		return 1
	}
	printClusterStatus(stdout, st)
	return 0
}

func printClusterStatus(w io.Writer, st cluster.Status) {
	fmt.Fprintf(w, "as seen by node %s\n\n", st.Node)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTARTED\tLAST SEEN\tSESSIONS\tADDRESSES")
	for _, n := range st.Nodes {
		var addrs []string
		for k, v := range n.Info {
			addrs = append(addrs, k+"="+v)
		}
		sort.Strings(addrs)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", n.ID, n.Started.Format(time.RFC3339), n.LastSeen.Format(time.RFC3339), n.Sessions, orDash(strings.Join(addrs, " ")))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tNODE\tAVAILABLE")
	for _, s := range st.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%v\n", s.JID, s.Node, s.Available)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LEASE\tNAME\tNODE")
	for _, l := range st.Leases {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", l.Kind, l.Name, l.Node)
	}
	_ = tw.Flush()
}
