package cluster

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"minimix/internal/jid"
)

// What this node publishes to another node for a session, a room or an
// account is published with a reply subject of this node's
// (rescuePrefix + node id + "." + a number) and kept, serialised, in a
// ring. Nothing ever replies; but when the other node's NATS server is
// gone (killed, or shut down) while the others still take it for alive
// (until node_timeout), NATS answers at once on the reply subject with
// "no responders" (status 503) instead of dropping the message silently.
// The message is then taken back from the ring and, once a ping confirms
// the node does not answer:
//
//   - a message for one of its sessions is delivered as if the session
//     had ended (the account's other sessions, else offline storage:
//     RFC 6121 8.5.3.2, Router.Reroute), a request answered with
//     service-unavailable;
//   - a stanza for a room it owned, or for an account it acted for,
//     waits until the node is taken for dead (its leases are free then)
//     or is heard of again, and is routed again from here, in the order
//     it was sent: to the room's or the account's new node. A room
//     loaded anew has no occupants until the accounts in it rejoin: the
//     accounts of this node rejoin the dead node's rooms at once
//     (Config.RoomsLost), and what an account had said there is sent
//     again through its joins (Config.ResendToRoom), held until the
//     room has the account back.
//
// Until then the node's sessions refuse deliveries, so that the router
// chooses others at once, and what is sent to it meanwhile waits with
// the rest. What NATS had taken before the node's server died (in a
// route's buffers) is lost with it; it is in the accounts' archives.

// rescuePrefix starts the reply subjects of kept stanzas.
const rescuePrefix = "minimix.rescue."

// rescueSlots bounds the stanzas kept: a 503 comes back within a round
// trip, long before so many more were sent.
const rescueSlots = 4096

// statusNoResponders is the status NATS sets on its answer to a message
// nobody subscribed to (the Status header).
const statusNoResponders = "503"

// kept is a stanza sent to node, with the headers it went with.
type kept struct {
	node string
	h    nats.Header
	data []byte
}

type rescueSlot struct {
	seq uint64
	kept
}

// rescue is the ring of stanzas sent to other nodes, and the stanzas
// waiting for a gone node's successor.
type rescue struct {
	mu      sync.Mutex
	next    uint64
	slots   [rescueSlots]rescueSlot
	waiting map[string][]kept        // node -> stanzas to route again, in order
	settled map[string]chan struct{} // node -> closed when it is gone or back
}

// keep stores b, sent to node with h, and returns the reply subject to
// publish it with. h must not change afterwards.
func (n *Node) keep(node string, h nats.Header, b []byte) string {
	r := &n.rescue
	r.mu.Lock()
	r.next++
	seq := r.next
	s := &r.slots[seq%rescueSlots]
	s.seq, s.node, s.h = seq, node, h
	s.data = append(s.data[:0], b...)
	r.mu.Unlock()
	return rescuePrefix + n.id + "." + strconv.FormatUint(seq, 10)
}

// take returns the stanza kept under seq, if it is still there.
func (n *Node) take(seq uint64) (kept, bool) {
	r := &n.rescue
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.slots[seq%rescueSlots]
	if s.seq != seq {
		return kept{}, false
	}
	s.seq = 0
	k := s.kept
	k.data = append([]byte(nil), s.data...)
	return k, true
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
	k, ok := n.take(seq)
	if !ok {
		n.log.Warn("cluster: a stanza sent to a node that is gone was no longer kept", "seq", seq)
		return
	}
	if !n.isUnreachable(k.node) && n.answers(k.node) {
		// Alive after all (its subscription had not reached this
		// node's server yet, as when it has just started): sent again.
		n.resend(k)
		return
	}
	n.setUnreachable(k.node)
	n.rescueKept(k)
}

// rescueKept delivers a deliverable message elsewhere at once and queues
// anything else for the gone node's successor.
func (n *Node) rescueKept(k kept) {
	n.Stats.Rescued.Add(1)
	if k.h.Get(hdrKind) == kindDeliver {
		bs, err := decode(k.h, k.data)
		if err != nil {
			n.log.Error("cluster: a kept stanza", "err", err)
			return
		}
		n.log.Warn("cluster: a node's NATS server is gone; a stanza for its session goes elsewhere", "node", k.node, "to", bs.to.String())
		n.cfg.Router.Reroute(context.Background(), bs.el, &goneSession{full: bs.to}, nil)
		return
	}
	r := &n.rescue
	r.mu.Lock()
	if r.waiting == nil {
		r.waiting = make(map[string][]kept)
		r.settled = make(map[string]chan struct{})
	}
	r.waiting[k.node] = append(r.waiting[k.node], k)
	start := len(r.waiting[k.node]) == 1
	if start && r.settled[k.node] == nil {
		r.settled[k.node] = make(chan struct{})
	}
	ch := r.settled[k.node]
	r.mu.Unlock()
	if start {
		n.log.Warn("cluster: a node's NATS server is gone; what was sent to it waits for its successor", "node", k.node)
		n.wg.Go(func() { n.rerouteWhenSettled(k.node, ch) })
	}
}

// rerouteWhenSettled routes again what waits for node, once node is
// taken for dead or heard of again (or after three node timeouts, if
// neither: then routing finds out).
func (n *Node) rerouteWhenSettled(node string, settled chan struct{}) {
	tm := time.NewTimer(3 * max(n.cfg.NodeTimeout, time.Second))
	defer tm.Stop()
	select {
	case <-settled:
	case <-tm.C:
	case <-n.done():
		return
	}
	for {
		r := &n.rescue
		r.mu.Lock()
		batch := r.waiting[node]
		delete(r.waiting, node)
		if len(batch) == 0 {
			if r.settled[node] == settled {
				delete(r.settled, node)
			}
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		n.roomsLostWith(batch)
		for _, k := range batch {
			n.reroute(k)
		}
	}
}

// roomsLostWith tells Config.RoomsLost of the rooms batch has stanzas
// for: the gone node ran them when they were sent, so they lost their
// occupants, whoever holds their leases now (this node's view of the
// leases may have moved on before it took the node for dead). The
// accounts here join them again before what they said is sent again.
func (n *Node) roomsLostWith(batch []kept) {
	if n.cfg.RoomsLost == nil {
		return
	}
	var rooms []jid.JID
	seen := make(map[jid.JID]bool)
	for _, k := range batch {
		if k.h.Get(hdrKind) != kindRoom {
			continue
		}
		if to, err := jid.Parse(k.h.Get(hdrTo)); err == nil && !seen[to.Bare()] {
			seen[to.Bare()] = true
			rooms = append(rooms, to.Bare())
		}
	}
	if len(rooms) > 0 {
		n.cfg.RoomsLost(rooms)
	}
}

// reroute routes k again on this node, as its receiver would have: to
// the room's or the account's node as the leases say now.
func (n *Node) reroute(k kept) {
	bs, err := decode(k.h, k.data)
	if err != nil {
		n.log.Error("cluster: a kept stanza", "err", err)
		return
	}
	if bs.kind == kindRoom && bs.from.Resource == "" && n.cfg.ResendToRoom != nil && n.cfg.ResendToRoom(bs.to, bs.from, bs.el) {
		return // an account's: through its joins, after its rejoin
	}
	n.dispatch(context.Background(), bs)
}

// resend publishes k again, as it was.
func (n *Node) resend(k kept) {
	_ = n.publishMsg(k.node, &nats.Msg{Subject: subjectPrefix + k.node, Header: k.h, Data: k.data})
}

// setUnreachable marks node as unreachable from now until it is heard of
// again or taken for dead.
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
// heartbeat), or unconditionally when seen is zero (node taken for
// dead), and releases what waits for the node.
func (n *Node) reachable(node string, seen time.Time) {
	n.mu.Lock()
	at, ok := n.unreachable[node]
	cleared := ok && (seen.IsZero() || seen.After(at))
	if cleared {
		delete(n.unreachable, node)
		n.unreachableN.Add(-1)
	}
	n.mu.Unlock()
	if !cleared && !seen.IsZero() {
		return
	}
	r := &n.rescue
	r.mu.Lock()
	if ch := r.settled[node]; ch != nil {
		close(ch)
		delete(r.settled, node)
	}
	r.mu.Unlock()
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
