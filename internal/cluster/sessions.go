package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// sessionEntry is a session's value in minimix_sessions.
type sessionEntry struct {
	Node      string `json:"node"`
	Available bool   `json:"a,omitempty"`
	Priority  int    `json:"p,omitempty"`
	Presence  string `json:"pr,omitempty"`
	Carbons   bool   `json:"c,omitempty"`
	Roster    bool   `json:"r,omitempty"`
}

// sessionKey is the bucket key of a full JID: the bare JID and the
// resource, each base64url, joined by a dot (a key allows few
// characters; the dot keeps an account's sessions under one prefix).
func sessionKey(full jid.JID) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(full.Bare().String())) + "." + enc.EncodeToString([]byte(full.Resource))
}

// parseSessionKey is sessionKey's inverse.
func parseSessionKey(key string) (jid.JID, error) {
	b, r, ok := strings.Cut(key, ".")
	if !ok {
		return jid.JID{}, fmt.Errorf("session key %q has no dot", key)
	}
	enc := base64.RawURLEncoding
	bare, err := enc.DecodeString(b)
	if err != nil {
		return jid.JID{}, fmt.Errorf("session key %q: %w", key, err)
	}
	res, err := enc.DecodeString(r)
	if err != nil {
		return jid.JID{}, fmt.Errorf("session key %q: %w", key, err)
	}
	j, err := jid.Parse(string(bare))
	if err != nil {
		return jid.JID{}, fmt.Errorf("session key %q: %w", key, err)
	}
	return jid.New(j.Local, j.Domain, string(res))
}

// SessionAdded implements router.Observer: a local session is written to
// the bucket, with its state whenever that changes.
func (n *Node) SessionAdded(s router.Session) {
	if !router.Local(s) {
		return
	}
	full := s.JID()
	s.State().OnChange(func() { n.dirty(full) })
	n.dirty(full)
}

// SessionRemoved implements router.Observer: a local session's key is
// deleted (if no other node's session replaced it meanwhile).
func (n *Node) SessionRemoved(s router.Session) {
	if !router.Local(s) {
		return
	}
	n.dirty(s.JID())
}

// dirty queues the key of full for the writer, which writes what the
// registry holds for it when it gets there.
func (n *Node) dirty(full jid.JID) {
	n.mu.Lock()
	n.pending[sessionKey(full)] = struct{}{}
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// republish queues every local session again.
func (n *Node) republish() {
	n.cfg.Registry.All(func(s router.Session) bool {
		if router.Local(s) {
			n.dirty(s.JID())
		}
		return true
	})
}

// writeSessions writes queued session keys until ctx ends. A write that
// fails is tried again after a pause.
func (n *Node) writeSessions(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		}
		if !n.writePending(ctx) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			n.dirtyKick()
		}
	}
}

func (n *Node) dirtyKick() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// flushSessions writes what is queued, for a shutdown.
func (n *Node) flushSessions(ctx context.Context) {
	for range 3 {
		n.mu.Lock()
		empty := len(n.pending) == 0
		n.mu.Unlock()
		if empty || n.writePending(ctx) {
			return
		}
	}
}

// writePending writes every queued key once; it reports false when a
// write failed (the key is queued again).
func (n *Node) writePending(ctx context.Context) bool {
	n.mu.Lock()
	keys := n.pending
	n.pending = make(map[string]struct{})
	n.mu.Unlock()
	ok := true
	for key := range keys {
		if err := n.writeSession(ctx, key); err != nil {
			if ctx.Err() == nil {
				n.log.Warn("cluster: writing a session failed", "key", key, "err", err)
			}
			n.mu.Lock()
			n.pending[key] = struct{}{}
			n.mu.Unlock()
			ok = false
		}
	}
	return ok
}

// writeSession makes the bucket say what the registry says of key: this
// node's session and its state, or nothing when this node has none.
func (n *Node) writeSession(ctx context.Context, key string) error {
	full, err := parseSessionKey(key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s := n.cfg.Registry.Get(full)
	if s == nil || !router.Local(s) {
		n.mu.Lock()
		rev, ok := n.mine[key]
		delete(n.mine, key)
		n.mu.Unlock()
		if !ok {
			return nil
		}
		// Only this node's own write: a newer one is another node's
		// session of the same full JID.
		err := n.sessionsKV.Delete(ctx, key, jetstream.LastRevision(rev))
		if err != nil && !isWrongRevision(err) {
			n.mu.Lock()
			if _, again := n.mine[key]; !again {
				n.mine[key] = rev
			}
			n.mu.Unlock()
			return err
		}
		return nil
	}
	avail, prio, pres, carbons, roster := s.State().Snapshot()
	e := sessionEntry{Node: n.id, Available: avail, Priority: prio, Carbons: carbons, Roster: roster}
	if pres != nil {
		e.Presence = pres.String()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	rev, err := n.sessionsKV.Put(ctx, key, b)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.mine[key] = rev
	n.mu.Unlock()
	return nil
}

// isWrongRevision reports whether err says the key changed since.
func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound)
}

// watchSessions mirrors the other nodes' sessions into the registry.
func (n *Node) watchSessions(ctx context.Context, w jetstream.KeyWatcher, loaded chan struct{}) {
	var stale []jetstream.KeyValueEntry // this node's, from before it started
	follow(ctx, w, loaded, func() {
		n.endStale(ctx, stale)
		stale = nil
	}, func(e jetstream.KeyValueEntry, initial bool) {
		n.sessionUpdate(ctx, e, initial, &stale)
	})
}

// sessionUpdate applies one change of minimix_sessions.
func (n *Node) sessionUpdate(ctx context.Context, e jetstream.KeyValueEntry, initial bool, stale *[]jetstream.KeyValueEntry) {
	key := e.Key()
	full, err := parseSessionKey(key)
	if err != nil {
		n.log.Warn("cluster: bad session key", "err", err)
		return
	}
	reg := n.cfg.Registry
	if e.Operation() != jetstream.KeyValuePut {
		n.mu.Lock()
		rs := n.remote[key]
		if rs != nil && rs.rev <= e.Revision() {
			delete(n.remote, key)
		} else {
			rs = nil
		}
		n.mu.Unlock()
		if rs != nil {
			reg.Remove(rs)
			if n.cfg.RemoteSessionEnded != nil {
				n.cfg.RemoteSessionEnded(ctx, rs.full)
			}
		}
		return
	}
	var se sessionEntry
	if err := json.Unmarshal(e.Value(), &se); err != nil {
		n.log.Warn("cluster: bad session entry", "jid", full.String(), "err", err)
		return
	}
	if se.Node == n.id {
		if initial && reg.Get(full) == nil {
			// Left by this node's previous run, which ended without
			// deleting it (killed): its sessions are gone.
			*stale = append(*stale, e)
		}
		return
	}
	var pres *xml.Element
	if se.Presence != "" {
		if pres, err = xml.Parse([]byte(se.Presence)); err != nil {
			n.log.Warn("cluster: bad presence in session entry", "jid", full.String(), "err", err)
		}
	}
	n.mu.Lock()
	rs := n.remote[key]
	if rs != nil && rs.node == se.Node {
		// A state change of a session already mirrored.
		rs.rev = e.Revision()
		n.mu.Unlock()
		rs.state.Restore(se.Available, se.Priority, pres, se.Carbons, se.Roster)
		return
	}
	myRev, mine := n.mine[key]
	n.mu.Unlock()
	local := reg.Get(full)
	if local != nil && router.Local(local) {
		if !mine || myRev > e.Revision() {
			// This node's session is newer (or its write is on the
			// way): the other node's session is the one replaced.
			return
		}
	}
	rs = &remoteSession{n: n, full: full, node: se.Node, rev: e.Revision()}
	rs.state.Restore(se.Available, se.Priority, pres, se.Carbons, se.Roster)
	n.mu.Lock()
	n.remote[key] = rs
	n.mu.Unlock()
	if old := reg.Add(rs); old != nil && router.Local(old) {
		// RFC 6120 7.7.2.2: a session bound on another node after this
		// one replaces it.
		n.mu.Lock()
		delete(n.mine, key)
		n.mu.Unlock()
		if r, ok := old.(router.Replaceable); ok {
			go r.Replaced(context.WithoutCancel(ctx))
		}
	}
}

// endStale deletes the keys this node's previous run left and ends
// those sessions for the cluster (presence says unavailable for them).
func (n *Node) endStale(ctx context.Context, stale []jetstream.KeyValueEntry) {
	for _, e := range stale {
		full, err := parseSessionKey(e.Key())
		if err != nil {
			continue
		}
		n.endDead(ctx, e.Key(), full, e.Revision(), e.Value())
	}
}

// nodeGone removes the sessions of a node that died from the registry;
// the node that deletes each one's key ends it for the cluster.
func (n *Node) nodeGone(ctx context.Context, id string) {
	n.mu.Lock()
	var gone []*remoteSession
	for key, rs := range n.remote {
		if rs.node == id {
			gone = append(gone, rs)
			delete(n.remote, key)
		}
	}
	n.mu.Unlock()
	for _, rs := range gone {
		n.cfg.Registry.Remove(rs)
		if n.cfg.RemoteSessionEnded != nil {
			n.cfg.RemoteSessionEnded(ctx, rs.full)
		}
		if n.deleteKey(ctx, sessionKey(rs.full), rs.rev) && n.cfg.SessionEnded != nil {
			n.cfg.SessionEnded(ctx, rs)
		}
	}
	n.log.Info("cluster: sessions of a gone node ended", "node", id, "sessions", len(gone))
}

// endDead deletes a dead session's key and, if this node deleted it,
// ends the session for the cluster.
func (n *Node) endDead(ctx context.Context, key string, full jid.JID, rev uint64, value []byte) {
	if !n.deleteKey(ctx, key, rev) || n.cfg.SessionEnded == nil {
		return
	}
	rs := &remoteSession{n: n, full: full, rev: rev}
	var se sessionEntry
	if json.Unmarshal(value, &se) == nil {
		var pres *xml.Element
		if se.Presence != "" {
			pres, _ = xml.Parse([]byte(se.Presence))
		}
		rs.node = se.Node
		rs.state.Restore(se.Available, se.Priority, pres, se.Carbons, se.Roster)
	}
	n.cfg.SessionEnded(ctx, rs)
}

// deleteKey deletes a session key at revision rev, and reports whether
// this call deleted it.
func (n *Node) deleteKey(ctx context.Context, key string, rev uint64) bool {
	for try := 0; ; try++ {
		dctx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := n.sessionsKV.Delete(dctx, key, jetstream.LastRevision(rev))
		cancel()
		switch {
		case err == nil:
			return true
		case isWrongRevision(err) || ctx.Err() != nil:
			return false
		case try >= 5:
			n.log.Warn("cluster: deleting a gone session failed", "key", key, "err", err)
			return false
		}
		// No answer while the stream elects a new leader.
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// provisional mirrors the session full of node before its registry entry
// arrives; the entry, when it comes, takes it over (sessionUpdate).
func (n *Node) provisional(full jid.JID, node string) router.Session {
	key := sessionKey(full)
	n.mu.Lock()
	if rs := n.remote[key]; rs != nil {
		n.mu.Unlock()
		return rs
	}
	if s := n.cfg.Registry.Get(full); s != nil {
		n.mu.Unlock()
		return s // bound here meanwhile: the entries decide
	}
	rs := &remoteSession{n: n, full: full, node: node}
	n.remote[key] = rs
	n.mu.Unlock()
	n.cfg.Registry.Add(rs)
	return rs
}

// remoteSession is a session bound on another node.
type remoteSession struct {
	n     *Node
	full  jid.JID
	node  string
	rev   uint64
	state router.State
}

// JID implements router.Session.
func (rs *remoteSession) JID() jid.JID { return rs.full }

// State implements router.Session: the state its node published.
func (rs *remoteSession) State() *router.State { return &rs.state }

// Node implements router.RemoteSession.
func (rs *remoteSession) Node() string { return rs.node }

// Deliver implements router.Session: it sends el to the session's node.
func (rs *remoteSession) Deliver(el *xml.Element) bool {
	return rs.n.sendDeliver(rs.node, rs.full, el) == nil
}
