package cluster

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// A message for a session on another node is published with a reply
// subject of this node's (rescuePrefix + node id + "." + a number) and
// kept, serialised, in a ring. Nothing ever replies; but when the other
// node's NATS server is gone (killed, or shut down) while its sessions
// are still in the registry, NATS answers at once on the reply subject
// with "no responders" (status 503) instead of dropping the message, and
// the message is taken back from the ring and delivered as if its
// session had ended: to the account's other sessions, else to offline
// storage (RFC 6121 8.5.3.2; Router.Reroute). Until that node is seen
// again (a heartbeat after the 503) or is declared gone, its sessions
// refuse deliveries, so that the router chooses others at once.
//
// What NATS had taken before the node's server died (in a route's
// buffers) is not rescued; it is in the accounts' archives (MAM).

// rescuePrefix starts the reply subjects of rescued messages.
const rescuePrefix = "minimix.rescue."

// rescueSlots bounds the messages kept: a 503 comes back within a
// round trip, long before so many more messages were sent.
const rescueSlots = 4096

// statusNoResponders is the status NATS sets on its answer to a message
// nobody subscribed to (the Status header).
const statusNoResponders = "503"

type rescueSlot struct {
	seq  uint64
	node string
	full jid.JID
	data []byte
}

// rescue is the ring of messages sent to other nodes' sessions.
type rescue struct {
	mu    sync.Mutex
	next  uint64
	slots [rescueSlots]rescueSlot
}

// keep stores b, sent to full on node, and returns the reply subject to
// publish it with.
func (n *Node) keep(node string, full jid.JID, b []byte) string {
	r := &n.rescue
	r.mu.Lock()
	r.next++
	seq := r.next
	s := &r.slots[seq%rescueSlots]
	s.seq, s.node, s.full = seq, node, full
	s.data = append(s.data[:0], b...)
	r.mu.Unlock()
	return rescuePrefix + n.id + "." + strconv.FormatUint(seq, 10)
}

// take returns the message kept under seq, if it is still there.
func (n *Node) take(seq uint64) (node string, full jid.JID, data []byte, ok bool) {
	r := &n.rescue
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.slots[seq%rescueSlots]
	if s.seq != seq {
		return "", jid.JID{}, nil, false
	}
	s.seq = 0
	return s.node, s.full, append([]byte(nil), s.data...), true
}

// noResponders handles NATS's answers on this node's rescue subjects.
func (n *Node) noResponders(m *nats.Msg) {
	if m.Header.Get("Status") != statusNoResponders {
		return
	}
	seq, err := strconv.ParseUint(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:], 10, 64)
	if err != nil {
		return
	}
	node, full, data, ok := n.take(seq)
	if !ok {
		n.log.Warn("cluster: a message sent to a node that is gone was no longer kept", "seq", seq)
		return
	}
	el, err := xml.Parse(data)
	if err != nil {
		n.log.Error("cluster: a kept message does not parse", "err", err)
		return
	}
	if n.answers(node) {
		// Alive after all (its subscription had not reached this
		// node's server yet, as when it has just started): sent again.
		_ = n.publish(node, nats.Header{hdrKind: {kindDeliver}, hdrTo: {full.String()}}, el, nil)
		return
	}
	n.setUnreachable(node)
	n.Stats.Rescued.Add(1)
	n.log.Warn("cluster: a node's NATS server is gone; its session's message goes elsewhere", "node", node, "to", full.String())
	n.cfg.Router.Reroute(context.Background(), el, &goneSession{full: full}, nil)
}

// setUnreachable marks node as unreachable from now until it is heard of
// again or declared gone.
func (n *Node) setUnreachable(node string) {
	n.mu.Lock()
	if n.unreachable == nil {
		n.unreachable = make(map[string]time.Time)
	}
	if _, ok := n.unreachable[node]; !ok {
		n.unreachableN.Add(1)
	}
	n.unreachable[node] = time.Now()
	n.mu.Unlock()
}

// reachable clears node's mark if it was set before seen (node's newest
// heartbeat), or unconditionally when seen is zero (node gone).
func (n *Node) reachable(node string, seen time.Time) {
	n.mu.Lock()
	if at, ok := n.unreachable[node]; ok && (seen.IsZero() || seen.After(at)) {
		delete(n.unreachable, node)
		n.unreachableN.Add(-1)
	}
	n.mu.Unlock()
}

// isUnreachable reports whether node's server was found gone and the
// node has not been heard of since. It costs an atomic load while no
// node is marked.
func (n *Node) isUnreachable(node string) bool {
	if n.unreachableN.Load() == 0 {
		return false
	}
	n.mu.Lock()
	_, ok := n.unreachable[node]
	n.mu.Unlock()
	return ok
}
