package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"minimix/internal/jid"
)

// A lease says which node acts for a room (the room's owner) or for an
// account's room memberships. It is a key of the minimix_leases bucket
// whose value names the node; it holds while that node is alive (its key
// in minimix_nodes), and passes to another node by a revision-checked
// update (compare and swap): of the nodes that try at once exactly one
// gets it.
const (
	bucketLeases = "minimix_leases"

	// LeaseRoom is the kind of a room's lease: its owner.
	LeaseRoom = "room"
	// LeaseAccount is the kind of an account's lease: the node acting
	// for its room memberships.
	LeaseAccount = "account"
)

// lease is a lease's value.
type lease struct {
	Node string `json:"node"`
	// Joined are, for an account, the sessions joined to each room
	// (room → full JIDs), kept by the holder so that a node taking over
	// forks the rooms' traffic to the same sessions.
	Joined map[string][]string `json:"joined,omitempty"`
}

// leaseEntry is a lease as this node last saw it.
type leaseEntry struct {
	lease
	rev uint64
}

// leaseKey is the bucket key of a lease: kind, a dot, the bare JID in
// base64url.
func leaseKey(kind string, j jid.JID) string {
	return kind + "." + base64.RawURLEncoding.EncodeToString([]byte(j.Bare().String()))
}

// parseLeaseKey is leaseKey's inverse.
func parseLeaseKey(key string) (kind string, j jid.JID, err error) {
	kind, b, ok := strings.Cut(key, ".")
	if !ok {
		return "", jid.JID{}, fmt.Errorf("lease key %q has no dot", key)
	}
	raw, err := base64.RawURLEncoding.DecodeString(b)
	if err != nil {
		return "", jid.JID{}, fmt.Errorf("lease key %q: %w", key, err)
	}
	j, err = jid.Parse(string(raw))
	if err != nil {
		return "", jid.JID{}, fmt.Errorf("lease key %q: %w", key, err)
	}
	return kind, j, nil
}

// leases is this node's view of minimix_leases and the acquisitions it
// is making.
type leases struct {
	mu       sync.Mutex
	byKey    map[string]leaseEntry
	inFlight map[string]chan struct{} // acquisitions under way on this node
}

// Acquired is told that this node became the holder of a lease: it loads
// what it now acts for (a room from storage, an account's memberships).
// joined are, for an account, the sessions joined to its rooms as the
// previous holder last published them (SetJoined); prevAlive is when the
// previous holder was last known alive (its newest heartbeat; zero if
// none or unknown): what was stored after it, that holder cannot have
// delivered.
type Acquired func(ctx context.Context, kind string, j jid.JID, joined map[string][]string, prevAlive time.Time) error

// errNoHolder is returned when no node could be made the holder.
var errNoHolder = errors.New("no node holds the lease")

// How Holder acquires a lease no live node holds.
type acquireMode int

const (
	// acquireTakeOver acquires a lease whose holder is gone, but none
	// that does not exist.
	acquireTakeOver acquireMode = iota
	// acquireAlways acquires a lease no live node holds.
	acquireAlways
	// acquireLookup acquires as acquireTakeOver does, and asks the
	// bucket about a lease this node has not seen (it may be on the
	// way).
	acquireLookup
)

// Holder returns the node that acts for j (a room or an account),
// becoming it when no live node does and mode allows; then Acquired runs
// before Holder returns, and stanzas for j wait for it. When mode does
// not allow it and no live node holds the lease, Holder returns "".
func (n *Node) Holder(ctx context.Context, kind string, j jid.JID, mode acquireMode) (string, error) {
	key := leaseKey(kind, j)
	for attempt := 0; attempt < 8; attempt++ {
		n.leases.mu.Lock()
		if ch := n.leases.inFlight[key]; ch != nil {
			// Being acquired here: what it is for is being loaded
			// (Acquired), even if the bucket already names this node.
			n.leases.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		e, known := n.leases.byKey[key]
		if known && (e.Node == n.id || n.aliveLocked(e.Node)) {
			n.leases.mu.Unlock()
			return e.Node, nil
		}
		if !known && mode == acquireLookup && attempt == 0 {
			n.leases.mu.Unlock()
			gctx, cancel := context.WithTimeout(ctx, attemptTimeout)
			e, err := n.leasesKV.Get(gctx, key)
			cancel()
			if err == nil {
				n.leaseSeen(e)
			}
			continue
		}
		if !known && mode != acquireAlways {
			n.leases.mu.Unlock()
			return "", nil
		}
		ch := make(chan struct{})
		n.leases.inFlight[key] = ch
		n.leases.mu.Unlock()
		holder, err := n.acquire(ctx, kind, j, key, e, known)
		n.leases.mu.Lock()
		delete(n.leases.inFlight, key)
		n.leases.mu.Unlock()
		close(ch)
		if err != nil {
			return "", err
		}
		if holder != "" {
			return holder, nil
		}
	}
	return "", fmt.Errorf("%s lease of %s: %w", kind, j, errNoHolder)
}

// aliveLocked reports whether node is in the cluster. n.leases.mu is
// held; it takes n.mu after it, never the other way round.
func (n *Node) aliveLocked(node string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.nodes[node]
	return ok
}

// acquire makes this node the holder of key: it creates the key when
// there is none, or takes it from a gone holder at the revision it saw.
// It returns the holder ("" when the bucket changed meanwhile and the
// caller should look again).
func (n *Node) acquire(ctx context.Context, kind string, j jid.JID, key string, seen leaseEntry, known bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	b, err := json.Marshal(lease{Node: n.id})
	if err != nil {
		return "", err
	}
	var rev uint64
	if known {
		rev, err = n.leasesKV.Update(ctx, key, b, seen.rev)
	} else {
		rev, err = n.leasesKV.Create(ctx, key, b)
	}
	if err != nil {
		if !isWrongRevision(err) {
			return "", fmt.Errorf("acquire %s lease of %s: %w", kind, j, err)
		}
		// Someone was quicker: read what the bucket says now.
		e, gerr := n.leasesKV.Get(ctx, key)
		switch {
		case gerr == nil:
			n.leaseSeen(e)
		case errors.Is(gerr, jetstream.ErrKeyNotFound):
			n.leaseGone(key)
		default:
			return "", fmt.Errorf("read %s lease of %s: %w", kind, j, gerr)
		}
		return "", nil
	}
	n.leases.mu.Lock()
	n.leases.byKey[key] = leaseEntry{lease: lease{Node: n.id}, rev: rev}
	n.leases.mu.Unlock()
	prev := seen.lease
	if !known {
		prev = lease{}
	}
	n.log.Info("cluster: lease acquired", "kind", kind, "jid", j.String(), "from", prev.Node, "joined", prev.Joined)
	if n.cfg.Acquired != nil {
		if err := n.cfg.Acquired(context.WithoutCancel(ctx), kind, j, prev.Joined, n.lastAlive(prev.Node)); err != nil {
			n.log.Error("cluster: loading what a lease is for", "kind", kind, "jid", j.String(), "err", err)
		}
	}
	return n.id, nil
}

// leaseSeen records an entry of minimix_leases.
func (n *Node) leaseSeen(e jetstream.KeyValueEntry) {
	var l lease
	if e.Operation() != jetstream.KeyValuePut {
		n.leaseGone(e.Key())
		return
	}
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		n.log.Warn("cluster: bad lease entry", "key", e.Key(), "err", err)
		return
	}
	n.leases.mu.Lock()
	if old, ok := n.leases.byKey[e.Key()]; !ok || old.rev < e.Revision() {
		n.leases.byKey[e.Key()] = leaseEntry{lease: l, rev: e.Revision()}
	}
	n.leases.mu.Unlock()
}

// leaseGone forgets a deleted lease.
func (n *Node) leaseGone(key string) {
	n.leases.mu.Lock()
	delete(n.leases.byKey, key)
	n.leases.mu.Unlock()
}

// watchLeases keeps n.leases as the bucket says, and takes over the
// account leases whose holder left (rooms are taken over when a stanza
// needs them).
func (n *Node) watchLeases(ctx context.Context, w jetstream.KeyWatcher, loaded chan struct{}) {
	follow(ctx, w, loaded, nil, func(e jetstream.KeyValueEntry, initial bool) {
		n.leaseSeen(e)
		if e.Operation() != jetstream.KeyValuePut && !initial {
			if kind, j, err := parseLeaseKey(e.Key()); err == nil && kind == LeaseAccount {
				// Released by a node that stopped: someone must act
				// for the account's memberships.
				n.wg.Go(func() { n.takeOver(ctx, kind, j) })
			}
		}
	})
}

// takeOver acquires a lease whose holder is gone, if no other node did.
// It tries again while JetStream answers nothing (its streams elect new
// leaders when a server dies).
func (n *Node) takeOver(ctx context.Context, kind string, j jid.JID) {
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		_, err := n.Holder(ctx, kind, j, acquireAlways)
		if err == nil || ctx.Err() != nil {
			return
		}
		n.log.Warn("cluster: taking over a lease; trying again", "kind", kind, "jid", j.String(), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// leasesOf returns the leases held by node.
func (n *Node) leasesOf(node string) []string {
	n.leases.mu.Lock()
	defer n.leases.mu.Unlock()
	var keys []string
	for k, e := range n.leases.byKey {
		if e.Node == node {
			keys = append(keys, k)
		}
	}
	return keys
}

// roomsOf returns the rooms whose lease node holds.
func (n *Node) roomsOf(node string) []jid.JID {
	var rooms []jid.JID
	for _, key := range n.leasesOf(node) {
		if kind, j, err := parseLeaseKey(key); err == nil && kind == LeaseRoom {
			rooms = append(rooms, j)
		}
	}
	return rooms
}

// nodeLeasesGone takes over the account leases of a node that died.
func (n *Node) nodeLeasesGone(ctx context.Context, node string) {
	for _, key := range n.leasesOf(node) {
		kind, j, err := parseLeaseKey(key)
		if err != nil || kind != LeaseAccount {
			continue
		}
		n.wg.Go(func() { n.takeOver(ctx, kind, j) })
	}
}

// releaseLeases deletes this node's leases, for a shutdown: the others
// take them over at once instead of waiting for the node to time out.
func (n *Node) releaseLeases(ctx context.Context) {
	n.leases.mu.Lock()
	mine := make(map[string]uint64)
	for k, e := range n.leases.byKey {
		if e.Node == n.id {
			mine[k] = e.rev
		}
	}
	n.leases.mu.Unlock()
	for k, rev := range mine {
		dctx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := n.leasesKV.Delete(dctx, k, jetstream.LastRevision(rev))
		cancel()
		if err != nil && !isWrongRevision(err) {
			n.log.Warn("cluster: releasing a lease", "key", k, "err", err)
		}
	}
}

// dropStaleLeases deletes the leases this node's previous run held (it
// was killed): nothing of them survived it.
func (n *Node) dropStaleLeases(ctx context.Context) {
	n.releaseLeases(ctx)
}

// Claim makes this node act for account's memberships if no live node
// does (account joins ask at start for each account with stored ones).
func (n *Node) Claim(ctx context.Context, account jid.JID) error {
	_, err := n.Holder(ctx, LeaseAccount, account, acquireAlways)
	return err
}

// joinedUpdate is what SetJoined queues for an account.
type joinedUpdate struct {
	gen    uint64
	joined map[string][]string
}

// SetJoined queues the sessions joined to account's rooms (room → full
// JIDs), as of change gen, to be kept in its lease while this node holds
// it.
func (n *Node) SetJoined(account jid.JID, gen uint64, joined map[string][]string) {
	n.joinedMu.Lock()
	if cur, ok := n.joinedPending[account]; !ok || cur.gen < gen {
		n.joinedPending[account] = joinedUpdate{gen: gen, joined: joined}
	}
	n.joinedMu.Unlock()
	select {
	case n.joinedKick <- struct{}{}:
	default:
	}
}

// writeJoined writes queued SetJoined updates until ctx ends.
func (n *Node) writeJoined(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.joinedKick:
		}
		n.joinedMu.Lock()
		pending := n.joinedPending
		n.joinedPending = make(map[jid.JID]joinedUpdate)
		n.joinedMu.Unlock()
		for account, u := range pending {
			if err := n.putJoined(ctx, account, u.joined); err != nil && ctx.Err() == nil {
				n.log.Warn("cluster: keeping an account's joined sessions", "account", account.String(), "err", err)
			}
		}
	}
}

// putJoined writes joined into the lease of account, if this node holds it.
func (n *Node) putJoined(ctx context.Context, account jid.JID, joined map[string][]string) error {
	key := leaseKey(LeaseAccount, account)
	for range 3 {
		n.leases.mu.Lock()
		e, ok := n.leases.byKey[key]
		n.leases.mu.Unlock()
		if !ok || e.Node != n.id {
			return nil
		}
		b, err := json.Marshal(lease{Node: n.id, Joined: joined})
		if err != nil {
			return err
		}
		uctx, cancel := context.WithTimeout(ctx, attemptTimeout)
		rev, err := n.leasesKV.Update(uctx, key, b, e.rev)
		cancel()
		if err == nil {
			n.leases.mu.Lock()
			if cur, ok := n.leases.byKey[key]; ok && cur.rev <= rev {
				n.leases.byKey[key] = leaseEntry{lease: lease{Node: n.id, Joined: joined}, rev: rev}
			}
			n.leases.mu.Unlock()
			return nil
		}
		if !isWrongRevision(err) {
			return fmt.Errorf("update the lease of %s: %w", account, err)
		}
		// The watcher has not caught up with this node's own last
		// write: read the lease again.
		uctx, cancel = context.WithTimeout(ctx, attemptTimeout)
		ge, gerr := n.leasesKV.Get(uctx, key)
		cancel()
		if gerr != nil {
			return fmt.Errorf("read the lease of %s: %w", account, gerr)
		}
		n.leaseSeen(ge)
	}
	return fmt.Errorf("update the lease of %s: it keeps changing", account)
}

// leaseStatus lists the leases.
func (n *Node) leaseStatus() []LeaseStatus {
	n.leases.mu.Lock()
	defer n.leases.mu.Unlock()
	out := make([]LeaseStatus, 0, len(n.leases.byKey))
	for k, e := range n.leases.byKey {
		kind, j, err := parseLeaseKey(k)
		if err != nil {
			continue
		}
		out = append(out, LeaseStatus{Kind: kind, Name: j.String(), Node: e.Node})
	}
	return out
}
