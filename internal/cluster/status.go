package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"time"

	"minimix/internal/router"
)

// Status is the cluster as one node sees it, for minimix cluster status.
type Status struct {
	// Node is the node that answered.
	Node  string       `json:"node"`
	Nodes []NodeStatus `json:"nodes"`
	// Sessions are the bound sessions of every node.
	Sessions []SessionStatus `json:"sessions"`
	// Leases are the rooms and accounts each node acts for.
	Leases []LeaseStatus `json:"leases"`
}

// NodeStatus is one live node.
type NodeStatus struct {
	ID       string            `json:"id"`
	Started  time.Time         `json:"started"`
	LastSeen time.Time         `json:"last_seen"`
	Info     map[string]string `json:"info,omitempty"`
	Sessions int               `json:"sessions"`
}

// SessionStatus is one bound session.
type SessionStatus struct {
	JID       string `json:"jid"`
	Node      string `json:"node"`
	Available bool   `json:"available"`
	// Carbons says the session enabled carbons (XEP-0280) as this node
	// knows it: a node learns another's sessions' state from the
	// registry's watcher, some time after the change.
	Carbons bool `json:"carbons,omitempty"`
}

// LeaseStatus is one lease: the node acting for a room or an account.
type LeaseStatus struct {
	Kind string `json:"kind"` // "room" or "account"
	Name string `json:"name"` // the room's or the account's bare JID
	Node string `json:"node"`
}

// Status returns the cluster as this node sees it.
func (n *Node) Status() Status {
	st := Status{Node: n.id, Sessions: []SessionStatus{}, Leases: []LeaseStatus{}}
	count := make(map[string]int)
	n.cfg.Registry.All(func(s router.Session) bool {
		node := n.id
		if rs, ok := s.(router.RemoteSession); ok {
			node = rs.Node()
		}
		avail, _, _, carbons, _ := s.State().Snapshot()
		st.Sessions = append(st.Sessions, SessionStatus{JID: s.JID().String(), Node: node, Available: avail, Carbons: carbons})
		count[node]++
		return true
	})
	n.mu.Lock()
	for id, ni := range n.nodes {
		st.Nodes = append(st.Nodes, NodeStatus{ID: id, Started: ni.Started, LastSeen: ni.Seen, Info: ni.Info, Sessions: count[id]})
	}
	n.mu.Unlock()
	st.Leases = append(st.Leases, n.leaseStatus()...)
	slices.SortFunc(st.Nodes, func(a, b NodeStatus) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Sessions, func(a, b SessionStatus) int { return cmp.Compare(a.JID, b.JID) })
	slices.SortFunc(st.Leases, func(a, b LeaseStatus) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return st
}

// ResumeAt returns where a client should resume the XEP-0198 session
// previd (whose id starts with its node's id and a dot, c2s.Config's
// ResumeIDPrefix): the resume_location of that node if it is another
// live node, else its client listener if that names a host; "" when
// there is none (this node's own id, a gone node, or no usable address).
func (n *Node) ResumeAt(previd string) string {
	node, _, ok := strings.Cut(previd, ".")
	if !ok || node == n.id {
		return ""
	}
	n.mu.Lock()
	_, alive := n.nodes[node]
	n.mu.Unlock()
	if !alive {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	e, err := n.infoKV.Get(ctx, node)
	cancel()
	var info map[string]string
	if err != nil || json.Unmarshal(e.Value(), &info) != nil {
		return ""
	}
	if loc := info["resume_location"]; loc != "" {
		return loc
	}
	for _, k := range []string{"c2s", "c2s_direct_tls"} {
		host, _, err := net.SplitHostPort(info[k])
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			continue // listening everywhere: no address to give
		}
		return info[k]
	}
	return ""
}
