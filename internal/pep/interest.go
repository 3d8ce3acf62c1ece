package pep

import (
	"context"
	"sync"

	"minimix/internal/jid"
	"minimix/internal/router"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// Bounds of the interest table: sessions known to be available to one
// account's service (its own and its contacts'), and in all.
const (
	maxSubscribersPerOwner = 4096
	maxSubscribers         = 1 << 20
)

// subscriber is a session that gets an account's notifications when its
// capabilities ask for them.
type subscriber struct {
	jid  jid.JID // full JID
	caps string  // capabilities key, "" when it sent none
}

// interest is, for each account, the available sessions that may want its
// notifications: the account's own and those of contacts whose presence
// reached the account, with their capabilities. It lives in memory only:
// after a restart, presence fills it again.
type interest struct {
	mu    sync.Mutex
	owner map[jid.JID]*subscribers
	total int
}

// subscribers are one owner's: most accounts have a few, kept in a slice
// (a map per account would cost far more than its one or two entries);
// past smallSubscribers they move to a map.
type subscribers struct {
	few  []subscriber
	many map[jid.JID]string
}

const smallSubscribers = 16

func (s *subscribers) len() int {
	if s.many != nil {
		return len(s.many)
	}
	return len(s.few)
}

func (s *subscribers) get(full jid.JID) (string, bool) {
	if s.many != nil {
		k, ok := s.many[full]
		return k, ok
	}
	for _, sub := range s.few {
		if sub.jid == full {
			return sub.caps, true
		}
	}
	return "", false
}

// put records full with key; the caller checked the bounds.
func (s *subscribers) put(full jid.JID, key string) {
	if s.many != nil {
		s.many[full] = key
		return
	}
	for i := range s.few {
		if s.few[i].jid == full {
			s.few[i].caps = key
			return
		}
	}
	if len(s.few) < smallSubscribers {
		s.few = append(s.few, subscriber{full, key})
		return
	}
	s.many = make(map[jid.JID]string, 2*smallSubscribers)
	for _, sub := range s.few {
		s.many[sub.jid] = sub.caps
	}
	s.few = nil
	s.many[full] = key
}

// del forgets the subscribers del selects and returns how many.
func (s *subscribers) del(match func(jid.JID) bool) int {
	n := 0
	if s.many != nil {
		for full := range s.many {
			if match(full) {
				delete(s.many, full)
				n++
			}
		}
		return n
	}
	kept := s.few[:0]
	for _, sub := range s.few {
		if match(sub.jid) {
			n++
			continue
		}
		kept = append(kept, sub)
	}
	clear(s.few[len(kept):])
	s.few = kept
	return n
}

func (s *subscribers) all() []subscriber {
	if s.many == nil {
		return append([]subscriber(nil), s.few...)
	}
	out := make([]subscriber, 0, len(s.many))
	for full, key := range s.many {
		out = append(out, subscriber{full, key})
	}
	return out
}

func newInterest() *interest {
	return &interest{owner: make(map[jid.JID]*subscribers)}
}

// set records that full is available to owner with capabilities key and
// returns the key it had, if it was known.
func (in *interest) set(owner, full jid.JID, key string) (prev string, had bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.owner[owner]
	if m != nil {
		if prev, had = m.get(full); had {
			m.put(full, key)
			return prev, true
		}
	}
	if (m != nil && m.len() >= maxSubscribersPerOwner) || in.total >= maxSubscribers {
		return "", false
	}
	if m == nil {
		m = new(subscribers)
		in.owner[owner] = m
	}
	m.put(full, key)
	in.total++
	return "", false
}

// get returns the key recorded for full at owner.
func (in *interest) get(owner, full jid.JID) (string, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if m := in.owner[owner]; m != nil {
		return m.get(full)
	}
	return "", false
}

// remove forgets full at owner; a bare JID forgets all of its sessions.
func (in *interest) remove(owner, j jid.JID) {
	in.mu.Lock()
	defer in.mu.Unlock()
	m := in.owner[owner]
	if m == nil {
		return
	}
	if j.IsBare() {
		in.total -= m.del(func(full jid.JID) bool { return full.Bare() == j })
	} else {
		in.total -= m.del(func(full jid.JID) bool { return full == j })
	}
	if m.len() == 0 {
		delete(in.owner, owner)
	}
}

// subscribers returns the sessions recorded for owner.
func (in *interest) subscribers(owner jid.JID) []subscriber {
	in.mu.Lock()
	defer in.mu.Unlock()
	if m := in.owner[owner]; m != nil {
		return m.all()
	}
	return nil
}

// SessionAvailable handles the broadcast available presence p of one of
// the account's own sessions (presence.Config.OnAvailable): it learns the
// session's capabilities and sends the last items of the nodes the
// session newly wants (XEP-0163 section 4.3.2).
func (s *Service) SessionAvailable(ctx context.Context, sess router.Session, p *xml.Element, initial bool) {
	full := sess.JID()
	s.available(ctx, full.Bare(), full, p)
}

// SessionUnavailable forgets a session of the account that became
// unavailable or ended (presence.Config.OnUnavailable).
func (s *Service) SessionUnavailable(ctx context.Context, sess router.Session) {
	full := sess.JID()
	s.interest.remove(full.Bare(), full)
}

// ContactPresence handles available and unavailable presence addressed to
// a local account by another entity (presence.Config.OnInbound): a
// contact's session that comes online gets the last items of the
// account's nodes it wants and may see, and later notifications.
func (s *Service) ContactPresence(ctx context.Context, el *xml.Element, from, to jid.JID) {
	owner := to.Bare()
	if from.IsZero() || from.Bare() == owner || owner.Local == "" {
		return
	}
	switch el.Attr("type") {
	case "":
		if from.IsBare() {
			// Availability of a bare JID (a server speaking for an
			// account) names no session to notify.
			return
		}
		s.available(ctx, owner, from, el)
	case "unavailable", "error":
		s.interest.remove(owner, from)
	}
}

// available records that full is available to owner's service with the
// capabilities in p and acts on what changed. It holds owner's lock, as
// Update does, so that an item published meanwhile reaches full exactly
// once: as a notification if full was recorded first, as the last item
// otherwise.
func (s *Service) available(ctx context.Context, owner, full jid.JID, p *xml.Element) {
	mu := s.lock(owner)
	mu.Lock()
	defer mu.Unlock()
	c := p.Child(NSCaps, "c")
	key, query := capsKey(c)
	prev, had := s.interest.set(owner, full, key)
	if had && prev == key {
		return
	}
	if _, recorded := s.interest.get(owner, full); !recorded {
		return // the table is full
	}
	var before map[string]struct{}
	if had {
		before, _ = s.caps.lookup(prev)
	}
	if key == "" {
		return
	}
	nodes, known := s.caps.lookup(key)
	if !known {
		s.queryCaps(ctx, owner, full, key, query, before)
		return
	}
	s.sendLast(ctx, owner, full, nodes, before)
}

// sendLast sends full the last item of each of owner's nodes that full
// wants (in nodes, not already in before), may see, and whose
// configuration sends the last item. The caller holds owner's lock.
func (s *Service) sendLast(ctx context.Context, owner, full jid.JID, nodes, before map[string]struct{}) {
	news := false
	for n := range nodes {
		if _, old := before[n]; !old {
			news = true
			break
		}
	}
	if !news {
		return
	}
	stored, err := s.store.PEPNodes(ctx, owner.Local)
	if err != nil {
		s.log.Error("pep: last items not sent", "owner", owner.String(), "to", full.String(), "err", err)
		return
	}
	access := s.newAccess(ctx, owner)
	for _, sn := range stored {
		if _, ok := nodes[sn.Name]; !ok {
			continue
		}
		if _, old := before[sn.Name]; old {
			continue
		}
		cfg, err := unmarshalConfig(sn.Config)
		if err != nil {
			s.log.Error("pep: node unreadable", "owner", owner.String(), "node", sn.Name, "err", err)
			continue
		}
		if cfg.SendLastPublishedItem == SendLastNever || !cfg.DeliverNotifications || access.check(full, &cfg) != nil {
			continue
		}
		items, err := s.store.PEPItems(ctx, owner.Local, sn.Name, 1)
		if err != nil {
			s.log.Error("pep: last item not sent", "owner", owner.String(), "node", sn.Name, "err", err)
			continue
		}
		if len(items) == 0 {
			continue
		}
		it := s.decodeItems(owner, sn.Name, items)[0]
		e := event{kind: eventPublish, node: sn.Name, cfg: cfg, item: it}
		m := message(owner, &cfg, e.payload(owner))
		// XEP-0060 section 6.1.7: the last item is an old one; say when
		// it was published.
		m.Append(stanza.Delay(owner.String(), stamp(it.Stamp)))
		s.send(ctx, owner, full, m)
	}
}
