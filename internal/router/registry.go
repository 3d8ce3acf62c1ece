package router

import (
	"context"
	"hash/maphash"
	"sync"

	"minimix/internal/jid"
)

// Registry holds the bound sessions of local accounts, keyed by bare JID,
// so that "all sessions of alice" is one lookup. It is sharded so that
// logins and logouts of different accounts do not contend.
type Registry struct {
	seed   maphash.Seed
	shards [registryShards]registryShard
	// obs, when set, learns of every session added and removed: on a
	// cluster node it publishes local sessions to the other nodes and
	// adds theirs here as RemoteSessions. A single server has none and
	// pays nothing for it.
	obs Observer
}

// Observer learns of the sessions a Registry adds and removes. It is
// called after the registry changed, outside its lock, on the goroutine
// that changed it, so it must be quick.
type Observer interface {
	SessionAdded(s Session)
	SessionRemoved(s Session)
}

// RemoteSession is a session bound on another node of a cluster, as its
// node's registry entry describes it: Deliver sends the stanza there,
// State mirrors the session's presence, priority and carbons.
type RemoteSession interface {
	Session
	// Node is the cluster node the session is bound on.
	Node() string
}

// Replaceable is a session a newer session of the same full JID, bound
// on another node of a cluster, replaces: it ends with a conflict stream
// error (RFC 6120 7.7.2.2).
type Replaceable interface {
	Replaced(ctx context.Context)
}

const registryShards = 64

type registryShard struct {
	mu       sync.RWMutex
	accounts map[jid.JID][]Session
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].accounts = make(map[jid.JID][]Session)
	}
	return r
}

func (r *Registry) shard(bare jid.JID) *registryShard {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(bare.Local)
	h.WriteByte('@')
	h.WriteString(bare.Domain)
	return &r.shards[h.Sum64()%registryShards]
}

// SetObserver sets who learns of added and removed sessions. It must be
// called before the registry is used.
func (r *Registry) SetObserver(o Observer) { r.obs = o }

// Add registers s. If a session with the same full JID exists it is
// replaced and returned, so the caller can close it with a conflict.
func (r *Registry) Add(s Session) (replaced Session) {
	replaced = r.add(s)
	if r.obs != nil {
		if replaced != nil {
			r.obs.SessionRemoved(replaced)
		}
		r.obs.SessionAdded(s)
	}
	return replaced
}

func (r *Registry) add(s Session) (replaced Session) {
	full := s.JID()
	bare := full.Bare()
	sh := r.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.accounts[bare]
	for i, old := range list {
		if old.JID() == full {
			// Copy on write: readers hold the old slice without a lock.
			nl := make([]Session, len(list))
			copy(nl, list)
			nl[i] = s
			sh.accounts[bare] = nl
			return old
		}
	}
	nl := make([]Session, len(list), len(list)+1)
	copy(nl, list)
	sh.accounts[bare] = append(nl, s)
	return nil
}

// Remove unregisters s if it is still the registered session for its
// full JID, and reports whether it was.
func (r *Registry) Remove(s Session) bool {
	if !r.remove(s) {
		return false
	}
	if r.obs != nil {
		r.obs.SessionRemoved(s)
	}
	return true
}

func (r *Registry) remove(s Session) bool {
	bare := s.JID().Bare()
	sh := r.shard(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	list := sh.accounts[bare]
	for i, old := range list {
		if old == s {
			if len(list) == 1 {
				delete(sh.accounts, bare)
				return true
			}
			nl := make([]Session, 0, len(list)-1)
			nl = append(nl, list[:i]...)
			nl = append(nl, list[i+1:]...)
			sh.accounts[bare] = nl
			return true
		}
	}
	return false
}

// Sessions returns the sessions of the account bare. The slice is shared
// and must not be modified.
func (r *Registry) Sessions(bare jid.JID) []Session {
	sh := r.shard(bare)
	sh.mu.RLock()
	list := sh.accounts[bare]
	sh.mu.RUnlock()
	return list
}

// Get returns the session bound to full, or nil.
func (r *Registry) Get(full jid.JID) Session {
	for _, s := range r.Sessions(full.Bare()) {
		if s.JID() == full {
			return s
		}
	}
	return nil
}

// Local reports whether s is bound on this node (not a RemoteSession).
func Local(s Session) bool {
	_, remote := s.(RemoteSession)
	return !remote
}

// Len returns the number of sessions, those of other cluster nodes
// included.
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, l := range sh.accounts {
			n += len(l)
		}
		sh.mu.RUnlock()
	}
	return n
}

// All calls f for every session until f returns false.
func (r *Registry) All(f func(Session) bool) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		var all []Session
		for _, l := range sh.accounts {
			all = append(all, l...)
		}
		sh.mu.RUnlock()
		for _, s := range all {
			if !f(s) {
				return
			}
		}
	}
}
