package pep

import (
	"context"
	"strings"
	"sync"
	"time"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// Bounds of capabilities discovery.
const (
	// maxPendingQueries bounds the disco#info queries awaiting an answer;
	// past it, an unknown version is not asked about until one is
	// answered or expires.
	maxPendingQueries = 1024
	// maxWaiters bounds the sessions waiting for one version's answer.
	maxWaiters = 256
	// queryTimeout is how long an unanswered query blocks asking again.
	queryTimeout = 30 * time.Second
	// maxNotifyPerVersion bounds the +notify features kept per version.
	maxNotifyPerVersion = 512
	// maxCapsString bounds the node and ver attributes accepted.
	maxCapsString = 1024
)

// capsIDPrefix starts the id of every disco#info query the service sends,
// so that answers are told apart from other iqs cheaply.
const capsIDPrefix = "pepcaps-"

// capsKey returns the cache key of a <c xmlns=caps/> element and the node
// to ask disco#info about (XEP-0115 section 6.2), or "" when c is nil or
// unusable. With a hash the version string alone names the features;
// legacy caps (no hash) are only meaningful with their node. The hash is
// not verified: a client lying about its own features only changes what
// it is sent.
func capsKey(c *xml.Element) (key, query string) {
	if c == nil {
		return "", ""
	}
	node, ver := c.Attr("node"), c.Attr("ver")
	if ver == "" || len(ver) > maxCapsString || len(node) > maxCapsString {
		return "", ""
	}
	query = node + "#" + ver
	if h := c.Attr("hash"); h != "" {
		return h + " " + ver, query
	}
	return "legacy " + query, query
}

// capsCache maps capabilities keys to the nodes their +notify features
// name, and tracks the queries that will fill it.
type capsCache struct {
	mu      sync.Mutex
	size    int
	entries map[string]map[string]struct{}
	order   []string // insertion order, for eviction
	next    int

	pending map[string]*capsQuery // by iq id
	byKey   map[string]*capsQuery
}

type capsQuery struct {
	id      string
	key     string
	to      jid.JID // the session asked
	from    jid.JID // the account that asked
	sent    time.Time
	waiters []capsWaiter
}

// capsWaiter is a session whose notifications wait for a version's
// features.
type capsWaiter struct {
	owner, full jid.JID
	before      map[string]struct{} // what it wanted before
}

func newCapsCache(size int) *capsCache {
	return &capsCache{
		size:    size,
		entries: make(map[string]map[string]struct{}),
		pending: make(map[string]*capsQuery),
		byKey:   make(map[string]*capsQuery),
	}
}

// lookup returns the nodes key wants notifications of, and whether key is
// known. The empty key (no capabilities) wants nothing and is known.
func (c *capsCache) lookup(key string) (map[string]struct{}, bool) {
	if key == "" {
		return nil, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	nodes, ok := c.entries[key]
	return nodes, ok
}

// wants reports whether key is known to want node's notifications.
func (c *capsCache) wants(key, node string) bool {
	nodes, _ := c.lookup(key)
	_, ok := nodes[node]
	return ok
}

// store records the nodes of key, evicting the oldest entry when full.
func (c *capsCache) store(key string, nodes map[string]struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		c.entries[key] = nodes
		return
	}
	if len(c.order) < c.size {
		c.order = append(c.order, key)
	} else {
		delete(c.entries, c.order[c.next])
		c.order[c.next] = key
		c.next = (c.next + 1) % c.size
	}
	c.entries[key] = nodes
}

// wait adds w to the query for key, or starts one to send from from to to
// and returns it; it returns nil when no query is to be sent (one is
// under way, or too many are).
func (c *capsCache) wait(key string, from, to jid.JID, w capsWaiter, now time.Time) *capsQuery {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, q := range c.pending {
		if now.Sub(q.sent) > queryTimeout {
			delete(c.pending, id)
			delete(c.byKey, q.key)
		}
	}
	if q := c.byKey[key]; q != nil {
		if len(q.waiters) < maxWaiters {
			q.waiters = append(q.waiters, w)
		}
		return nil
	}
	if len(c.pending) >= maxPendingQueries {
		return nil
	}
	q := &capsQuery{id: capsIDPrefix + newID(), key: key, to: to, from: from, sent: now, waiters: []capsWaiter{w}}
	c.pending[q.id] = q
	c.byKey[key] = q
	return q
}

// take removes and returns the query id if from is the session it was
// sent to and to the account that sent it.
func (c *capsCache) take(id string, from, to jid.JID) *capsQuery {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.pending[id]
	if q == nil || q.to != from || q.from != to.Bare() {
		return nil
	}
	delete(c.pending, id)
	delete(c.byKey, q.key)
	return q
}

// queryCaps asks full what the capabilities version key means, on behalf
// of owner's service, unless a query for it is under way; the last items
// full wants are sent when the answer comes.
func (s *Service) queryCaps(ctx context.Context, owner, full jid.JID, key, node string, before map[string]struct{}) {
	q := s.caps.wait(key, owner, full, capsWaiter{owner: owner, full: full, before: before}, s.now())
	if q == nil {
		return
	}
	iq := stanza.NewIQ("get", q.id, owner.String(), full.String(),
		xml.New(stanza.NSDiscoInfo, "query", "node", node))
	s.send(ctx, owner, full, iq)
}

// capsAnswer consumes the answer to one of the service's disco#info
// queries: from is who sent it, to whom.
func (s *Service) capsAnswer(ctx context.Context, el *xml.Element, from, to jid.JID) bool {
	if el.Local != stanza.IQ {
		return false
	}
	typ := el.Attr("type")
	if (typ != "result" && typ != "error") || !strings.HasPrefix(el.Attr("id"), capsIDPrefix) {
		return false
	}
	q := s.caps.take(el.Attr("id"), from, to)
	if q == nil {
		return false
	}
	if typ == "error" {
		// Not cached: another session with the same version may answer.
		return true
	}
	nodes := make(map[string]struct{})
	if res := el.Child(stanza.NSDiscoInfo, "query"); res != nil {
		for _, f := range res.Elements() {
			if f.Space != stanza.NSDiscoInfo || f.Local != "feature" {
				continue
			}
			if n, ok := strings.CutSuffix(f.Attr("var"), "+notify"); ok && n != "" && len(nodes) < maxNotifyPerVersion {
				nodes[n] = struct{}{}
			}
		}
	}
	s.caps.store(q.key, nodes)
	for _, w := range q.waiters {
		mu := s.lock(w.owner)
		mu.Lock()
		if key, ok := s.interest.get(w.owner, w.full); ok && key == q.key {
			s.sendLast(ctx, w.owner, w.full, nodes, w.before)
		}
		mu.Unlock()
	}
	return true
}

// FromSession implements router.Interceptor: it takes the answers of
// local sessions to the service's capabilities queries.
func (s *Service) FromSession(ctx context.Context, sess router.Session, el *xml.Element, to jid.JID) bool {
	if to.IsZero() {
		// An iq without to goes to the sender's own account (RFC 6120
		// 10.3.3), which is who asks a session about itself.
		to = sess.JID().Bare()
	}
	return s.capsAnswer(ctx, el, sess.JID(), to)
}

// ToLocal implements router.Interceptor: it takes the answers of remote
// sessions to the service's capabilities queries.
func (s *Service) ToLocal(ctx context.Context, el *xml.Element, from, to jid.JID) bool {
	return s.capsAnswer(ctx, el, from, to)
}
