// Package cluster makes one minimix server of several nodes over NATS
// (docs/cluster.md). Each node runs (or joins) a NATS cluster with
// JetStream and keeps there, in key-value buckets:
//
//   - minimix_nodes: one key per live node, refreshed every third of the
//     node timeout and expiring after it (a TTL with markers, so every
//     node's watcher learns of a node that died);
//   - minimix_sessions: one key per bound session, full JID → node and
//     the session's presence state, written by its node.
//
// Every node watches both and mirrors the other nodes' sessions into its
// router.Registry as router.RemoteSessions, so the router's rules (bare
// JID delivery, presence broadcast, carbons, roster pushes) reach them
// unchanged; delivering to one publishes the serialised stanza on the
// NATS subject of its node. A single server has no cluster and pays
// nothing for it: the registry's Observer is nil.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/xml"
)

// Config is what a Node is built from.
type Config struct {
	// NodeID names the node, unique in the cluster.
	NodeID string
	// NATSURL is an external NATS cluster; "" runs Embedded.
	NATSURL  string
	Embedded Embedded
	// NodeTimeout is how long a silent node stays in the cluster.
	NodeTimeout time.Duration
	// Replicas of the buckets; 0: 1 for a lone embedded server, else 3.
	Replicas int
	Registry *router.Registry
	Router   *router.Router
	// SessionEnded is run for each session of a node that died, on one
	// surviving node: presence says unavailable for it, as its own node
	// would have.
	SessionEnded func(ctx context.Context, s router.Session)
	// RemoteSessionEnded is run on every node for each session of
	// another node that ended (or whose node died): account joins stop
	// forking rooms to it.
	RemoteSessionEnded func(ctx context.Context, full jid.JID)
	// RoomsLost is told, when a node died, of the rooms it ran: they
	// lost their occupants, and the accounts in them join again at once
	// (before what was sent to them meanwhile is sent again).
	RoomsLost func(rooms []jid.JID)
	// ResendToRoom sends again what account had sent to room, which went
	// to a node that died (rescue.go), through the account's joins (held
	// while the account rejoins); false if the account is not in the
	// room on this node.
	ResendToRoom func(room, account jid.JID, el *xml.Element) bool
	// NodeGone is told of a node that died, after its sessions ended:
	// the rooms it owned lost their occupants, whose accounts check
	// (self-ping) that they are still in them.
	NodeGone func(node string)
	// Acquired is told of each lease this node becomes the holder of.
	Acquired Acquired
	// Info is what the node tells the others about itself (addresses),
	// shown by cluster status.
	Info   map[string]string
	Logger *slog.Logger
}

// Bucket names and the subject prefix of node inboxes.
const (
	bucketNodes    = "minimix_nodes"
	bucketSessions = "minimix_sessions"
	bucketInfo     = "minimix_info" // node id -> its addresses, read when needed
	subjectPrefix  = "minimix.node."
)

// readyTimeout bounds how long Start waits for JetStream (a NATS cluster
// elects its leaders once a majority of its servers are up).
const readyTimeout = 2 * time.Minute

// Node is this server's membership in the cluster.
type Node struct {
	cfg Config
	id  string
	log *slog.Logger

	ns *server.Server // embedded, or nil
	nc *nats.Conn
	js jetstream.JetStream

	nodesKV    jetstream.KeyValue
	sessionsKV jetstream.KeyValue
	leasesKV   jetstream.KeyValue
	infoKV     jetstream.KeyValue
	sub        *nats.Subscription
	rescueSub  *nats.Subscription
	rescue     rescue

	leases        leases
	rooms         *Rooms     // nil without a MUC service
	accounts      *Accounts  // nil without account joins
	joinedMu      sync.Mutex // guards joinedPending
	joinedPending map[jid.JID]joinedUpdate
	joinedKick    chan struct{}

	started time.Time
	cancel  context.CancelFunc
	runDone <-chan struct{} // closed when the node stops
	wg      sync.WaitGroup

	mu      sync.Mutex
	nodes   map[string]nodeInfo // live nodes, this one included
	mine    map[string]uint64   // session key -> revision this node last wrote
	pending map[string]struct{} // session keys to write
	kick    chan struct{}       // wakes the session writer
	remote  map[string]*remoteSession
	running bool
	// unreachable are the nodes whose NATS server was found gone (a
	// message to them came back), with when; unreachableN counts them.
	unreachable  map[string]time.Time
	unreachableN atomic.Int32
	// alive is, per node ever seen, its newest heartbeat's time.
	alive map[string]time.Time

	Stats Stats
}

// Stats are counters the metrics package exports.
type Stats struct {
	Sent       atomic.Uint64 // stanzas sent to other nodes
	Received   atomic.Uint64 // stanzas received from other nodes
	NodesGone  atomic.Uint64 // nodes seen to die
	SendErrors atomic.Uint64 // stanzas that could not be published
	NATSErrors atomic.Uint64 // asynchronous errors NATS reported (a slow consumer's lost messages)
	Rescued    atomic.Uint64 // messages for a gone node's sessions delivered elsewhere
}

// nodeInfo is a node's key in minimix_nodes.
type nodeInfo struct {
	ID      string            `json:"id"`
	Started time.Time         `json:"started"`
	Info    map[string]string `json:"info,omitempty"`
	Seen    time.Time         `json:"-"`
}

// New returns a node; nothing connects until Start. It sets itself as
// the registry's observer.
func New(cfg Config) *Node {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	n := &Node{
		cfg:     cfg,
		id:      cfg.NodeID,
		log:     log,
		nodes:   make(map[string]nodeInfo),
		mine:    make(map[string]uint64),
		pending: make(map[string]struct{}),
		kick:    make(chan struct{}, 1),
		remote:  make(map[string]*remoteSession),
		leases:  leases{byKey: make(map[string]leaseEntry), inFlight: make(map[string]chan struct{})},

		joinedPending: make(map[jid.JID]joinedUpdate),
		joinedKick:    make(chan struct{}, 1),
	}
	cfg.Registry.SetObserver(n)
	return n
}

// ID returns the node's id.
func (n *Node) ID() string { return n.id }

// Start connects to NATS (starting the embedded server first, if any),
// creates the buckets, announces the node, loads the other nodes'
// sessions and starts listening for stanzas. It returns once this node's
// registry mirrors the cluster's.
func (n *Node) Start(ctx context.Context) (err error) {
	n.started = time.Now()
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	var opts = []nats.Option{nats.Name("minimix " + n.id), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond), nats.DrainTimeout(5 * time.Second), nats.ErrorHandler(n.natsError)}
	url := n.cfg.NATSURL
	if url == "" {
		if n.ns, err = startEmbedded(n.id, n.cfg.Embedded, n.log.With("component", "nats")); err != nil {
			return err
		}
		opts = append(opts, nats.InProcessServer(n.ns))
	}
	if n.nc, err = nats.Connect(url, opts...); err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := n.createBuckets(ctx); err != nil {
		return err
	}
	if n.sub, err = n.nc.Subscribe(subjectPrefix+n.id, n.receive); err != nil {
		return fmt.Errorf("subscribe to %s: %w", subjectPrefix+n.id, err)
	}
	if n.rescueSub, err = n.nc.Subscribe(rescuePrefix+n.id+".*", n.noResponders); err != nil {
		return fmt.Errorf("subscribe to %s: %w", rescuePrefix+n.id+".*", err)
	}
	if err := n.heartbeat(ctx); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.runDone = rctx.Done()
	nodesLoaded, sessionsLoaded, leasesLoaded := make(chan struct{}), make(chan struct{}), make(chan struct{})
	nw, err := n.nodesKV.WatchAll(rctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", bucketNodes, err)
	}
	sw, err := n.sessionsKV.WatchAll(rctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", bucketSessions, err)
	}
	lw, err := n.leasesKV.WatchAll(rctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", bucketLeases, err)
	}
	n.mu.Lock()
	n.running = true
	n.mu.Unlock()
	n.wg.Go(func() { n.watchNodes(rctx, nw, nodesLoaded) })
	n.wg.Go(func() { n.watchSessions(rctx, sw, sessionsLoaded) })
	n.wg.Go(func() { n.watchLeases(rctx, lw, leasesLoaded) })
	n.wg.Go(func() { n.beat(rctx) })
	n.wg.Go(func() { n.writeSessions(rctx) })
	n.wg.Go(func() { n.writeJoined(rctx) })
	for _, ch := range []chan struct{}{nodesLoaded, sessionsLoaded, leasesLoaded} {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n.sweep(ctx)
	n.dropStaleLeases(ctx)
	n.log.Info("cluster node started", "node", n.id, "nodes", len(n.Nodes()))
	return nil
}

// natsError is told of what NATS reports asynchronously on this node's
// connection; a slow consumer (this node did not take its stanzas as
// fast as they came) means lost stanzas: logged and counted, never
// silent.
func (n *Node) natsError(_ *nats.Conn, sub *nats.Subscription, err error) {
	n.Stats.NATSErrors.Add(1)
	var subject string
	var dropped int
	if sub != nil {
		subject = sub.Subject
		dropped, _ = sub.Dropped()
	}
	n.log.Error("cluster: NATS reported an error", "subject", subject, "dropped", dropped, "err", err)
}

// sweep ends the sessions of nodes that were gone before this one
// started (the whole cluster was down, or they died while it started).
func (n *Node) sweep(ctx context.Context) {
	n.mu.Lock()
	dead := make(map[string]bool)
	for _, rs := range n.remote {
		if _, alive := n.nodes[rs.node]; !alive {
			dead[rs.node] = true
		}
	}
	n.mu.Unlock()
	for id := range dead {
		n.nodeGone(ctx, id)
	}
}

// SetInfo sets what the node tells the others about itself from its next
// heartbeat on (its listeners' addresses, known once they are open).
//
// They are also kept, without expiry, in minimix_info, which ResumeAt
// reads: the node keys' watchers can lag by seconds.
func (n *Node) SetInfo(info map[string]string) {
	n.mu.Lock()
	n.cfg.Info = info
	n.mu.Unlock()
	b, err := json.Marshal(info)
	if err == nil && n.infoKV != nil {
		ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
		_, err = n.infoKV.Put(ctx, n.id, b)
		cancel()
	}
	if err != nil {
		n.log.Warn("cluster: publishing this node's addresses", "err", err)
	}
}

// replicas is the number of copies of each bucket: as configured, else
// one per embedded server up to three (a bucket cannot have more copies
// than there are servers: two nodes get two), else three on an external
// NATS cluster.
func (n *Node) replicas() int {
	if n.cfg.Replicas > 0 {
		return n.cfg.Replicas
	}
	if n.cfg.NATSURL != "" {
		return 3
	}
	servers := len(n.cfg.Embedded.Routes)
	if !slices.ContainsFunc(n.cfg.Embedded.Routes, func(r string) bool {
		return strings.TrimPrefix(r, "nats://") == n.cfg.Embedded.ClusterListen
	}) {
		servers++ // its own server, not in its routes
	}
	return min(3, servers)
}

// createBuckets creates (or finds) the buckets.
func (n *Node) createBuckets(ctx context.Context) error {
	r := n.replicas()
	timeout := n.cfg.NodeTimeout
	specs := []jetstream.KeyValueConfig{
		{Bucket: bucketNodes, Description: "minimix cluster nodes", TTL: timeout, LimitMarkerTTL: max(timeout, time.Second), Replicas: r, Storage: jetstream.MemoryStorage},
		{Bucket: bucketSessions, Description: "minimix sessions: full JID -> node", Replicas: r, Storage: jetstream.FileStorage},
		{Bucket: bucketLeases, Description: "minimix leases: room or account -> node", Replicas: r, Storage: jetstream.FileStorage},
		{Bucket: bucketInfo, Description: "minimix nodes' addresses", Replicas: r, Storage: jetstream.FileStorage},
	}
	kvs := make([]jetstream.KeyValue, len(specs))
	for i, spec := range specs {
		kv, err := createBucket(ctx, n.js, spec, n.log)
		if err != nil {
			return err
		}
		kvs[i] = kv
	}
	n.nodesKV, n.sessionsKV, n.leasesKV, n.infoKV = kvs[0], kvs[1], kvs[2], kvs[3]
	return nil
}

// attemptTimeout bounds one JetStream API request while the cluster
// forms: a request sent before its servers elected a leader gets no
// answer at all, so it must be sent again rather than waited for.
const attemptTimeout = 5 * time.Second

// createBucket creates (or finds) a bucket, trying again for up to
// readyTimeout while JetStream has no leader yet: the servers of a new
// NATS cluster elect one once a majority of them are up.
func createBucket(ctx context.Context, js jetstream.JetStream, spec jetstream.KeyValueConfig, log *slog.Logger) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for try, wait := 0, 100*time.Millisecond; ; try, wait = try+1, min(2*wait, 2*time.Second) {
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		kv, err := js.CreateOrUpdateKeyValue(actx, spec)
		acancel()
		if err == nil {
			return kv, nil
		}
		if try >= 3 {
			log.Warn("JetStream not ready; trying again", "bucket", spec.Bucket, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("create %s bucket (is a majority of the NATS cluster up?): %w", spec.Bucket, err)
		case <-time.After(wait):
		}
	}
}

// heartbeat puts this node's key in minimix_nodes.
func (n *Node) heartbeat(ctx context.Context) error {
	n.mu.Lock()
	info := n.cfg.Info
	n.mu.Unlock()
	b, err := json.Marshal(nodeInfo{ID: n.id, Started: n.started, Info: info})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.NodeTimeout/2)
	defer cancel()
	if _, err := n.nodesKV.Put(ctx, n.id, b); err != nil {
		return fmt.Errorf("announce node %s: %w", n.id, err)
	}
	return nil
}

// beat refreshes the node's key every third of the node timeout.
func (n *Node) beat(ctx context.Context) {
	t := time.NewTicker(n.cfg.NodeTimeout / 3)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.expireSilent(ctx)
		if err := n.heartbeat(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				n.log.Warn("cluster heartbeat failed", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			n.log.Info("cluster heartbeat works again")
			failing = false
		}
	}
}

// expireSilent takes for gone the nodes whose key was not refreshed for
// half as long again as the node timeout. Normally the bucket's TTL
// marker says so first; this is for a watcher that missed the marker
// (JetStream does not promise to deliver it to every watcher).
func (n *Node) expireSilent(ctx context.Context) {
	limit := n.cfg.NodeTimeout + n.cfg.NodeTimeout/2
	var candidates []string
	n.mu.Lock()
	for id, ni := range n.nodes {
		// Refreshed every third of the timeout: older than that means
		// this node's watcher missed updates (JetStream's ordered
		// consumers pause for seconds when they reset).
		if id != n.id && !ni.Seen.IsZero() && time.Since(ni.Seen) > n.cfg.NodeTimeout/2 {
			candidates = append(candidates, id)
		}
	}
	n.mu.Unlock()
	var silent []string
	for _, id := range candidates {
		// The bucket, not this node's watcher, has the last word.
		gctx, cancel := context.WithTimeout(ctx, attemptTimeout)
		e, err := n.nodesKV.Get(gctx, id)
		cancel()
		switch {
		case err == nil && time.Since(e.Created()) <= limit:
			var ni nodeInfo
			if json.Unmarshal(e.Value(), &ni) == nil {
				ni.Seen = e.Created()
				n.mu.Lock()
				if _, ok := n.nodes[id]; ok {
					n.nodes[id] = ni
				}
				n.aliveAtLocked(id, ni.Seen)
				n.mu.Unlock()
			}
			continue
		case err == nil || errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			continue // cannot tell now
		}
		if n.answers(id) {
			continue
		}
		n.mu.Lock()
		if _, ok := n.nodes[id]; ok {
			delete(n.nodes, id)
			silent = append(silent, id)
		}
		n.mu.Unlock()
	}
	for _, id := range silent {
		n.nodeLost(ctx, id, "silent")
	}
}

// watchNodes keeps the set of live nodes, and cleans up after those that
// die.
func (n *Node) watchNodes(ctx context.Context, w jetstream.KeyWatcher, loaded chan struct{}) {
	follow(ctx, w, loaded, nil, func(e jetstream.KeyValueEntry, _ bool) { n.nodeUpdate(ctx, e) })
}

// nodeUpdate applies one change of minimix_nodes.
func (n *Node) nodeUpdate(ctx context.Context, e jetstream.KeyValueEntry) {
	id := e.Key()
	switch e.Operation() {
	case jetstream.KeyValuePut:
		var ni nodeInfo
		if err := json.Unmarshal(e.Value(), &ni); err != nil {
			n.log.Warn("bad node entry", "node", id, "err", err)
			return
		}
		ni.Seen = e.Created()
		n.mu.Lock()
		_, known := n.nodes[id]
		n.nodes[id] = ni
		n.aliveAtLocked(id, ni.Seen)
		n.mu.Unlock()
		n.reachable(id, ni.Seen)
		if !known && id != n.id {
			n.log.Info("cluster node joined", "node", id)
		}
	default: // deleted, purged, or expired
		if id != n.id && n.answers(id) {
			// Its key expired while JetStream could not take its
			// heartbeats (a leader election after another server
			// died): it is alive, and announces itself again.
			n.log.Info("cluster node's key expired but it answers", "node", id)
			return
		}
		n.mu.Lock()
		_, known := n.nodes[id]
		delete(n.nodes, id)
		n.mu.Unlock()
		if id == n.id {
			// The others took this node for dead (it was paused,
			// or cut off from NATS longer than the node timeout):
			// they ended its sessions there. Announce it and its
			// sessions again.
			n.log.Warn("this node was taken for gone by the cluster; announcing it again")
			if err := n.heartbeat(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("cluster heartbeat failed", "err", err)
			}
			n.republish()
			return
		}
		if !known {
			return // taken for gone already (expireSilent)
		}
		n.nodeLost(ctx, id, "its key is gone")
	}
}

// follow passes each update of w to apply until ctx ends (initial: the
// entry was in the bucket when the watch began), then stops w. Once the
// initial entries are read it runs onLoaded, if any, and closes loaded.
func follow(ctx context.Context, w jetstream.KeyWatcher, loaded chan struct{}, onLoaded func(), apply func(e jetstream.KeyValueEntry, initial bool)) {
	defer func() { _ = w.Stop() }()
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return
		case e = <-w.Updates():
		}
		if e == nil {
			if loaded != nil {
				if onLoaded != nil {
					onLoaded()
				}
				close(loaded)
				loaded = nil
			}
			continue
		}
		apply(e, loaded != nil)
	}
}

// nodeLost handles a node taken for dead (why says how it was found):
// its sessions end, its account leases are taken over, what was kept
// for it (rescue.go) goes elsewhere.
func (n *Node) nodeLost(ctx context.Context, id, why string) {
	n.Stats.NodesGone.Add(1)
	n.log.Warn("cluster node gone", "node", id, "why", why)
	rooms := n.roomsOf(id)
	n.nodeGone(ctx, id)
	n.nodeLeasesGone(ctx, id)
	if n.cfg.RoomsLost != nil {
		n.cfg.RoomsLost(rooms)
	}
	n.reachable(id, time.Time{})
	if n.cfg.NodeGone != nil {
		n.cfg.NodeGone(id)
	}
}

// aliveAtLocked records a heartbeat of node at t. n.mu is held.
func (n *Node) aliveAtLocked(node string, t time.Time) {
	if n.alive == nil {
		n.alive = make(map[string]time.Time)
	}
	if t.After(n.alive[node]) {
		n.alive[node] = t
	}
}

// lastAlive returns when node was last known alive (its newest
// heartbeat this node saw), zero if never.
func (n *Node) lastAlive(node string) time.Time {
	if node == "" {
		return time.Time{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.alive[node]
}

// done is closed when the node stops.
func (n *Node) done() <-chan struct{} { return n.runDone }

// Nodes returns the live nodes' ids, this one included.
func (n *Node) Nodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.nodes))
	for id := range n.nodes {
		out = append(out, id)
	}
	return out
}

// Alive reports whether the node id is in the cluster.
func (n *Node) Alive(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.nodes[id]
	return ok
}

// Shutdown leaves the cluster: the sessions this node still has are
// written (the server ended them before), its key is deleted so that
// the others know at once, and NATS is closed.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	running := n.running
	n.running = false
	n.mu.Unlock()
	if !running {
		n.close()
		return nil
	}
	n.flushSessions(ctx)
	n.releaseLeases(ctx)
	var errs []error
	// No more pings answered: the others take the deleted key for the
	// node's end at once (watchNodes).
	if err := n.sub.Unsubscribe(); err != nil {
		errs = append(errs, fmt.Errorf("unsubscribe: %w", err))
	}
	if err := n.nodesKV.Delete(ctx, n.id); err != nil {
		errs = append(errs, fmt.Errorf("delete node key: %w", err))
	}
	n.cancel()
	n.wg.Wait()
	n.close()
	return errors.Join(errs...)
}

// close closes NATS and the embedded server.
func (n *Node) close() {
	if n.cancel != nil {
		n.cancel()
		n.wg.Wait()
	}
	if n.nc != nil {
		// Drain delivers what was received before closing; it gives up
		// after DrainTimeout.
		closed := make(chan struct{})
		n.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err := n.nc.Drain(); err != nil {
			n.nc.Close()
		} else {
			<-closed
		}
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
}
