package blocking

import (
	"slices"
	"strings"

	"minimix/internal/jid"
)

// list is one account's blocklist. It is never changed once built: a
// change builds a new one, so that the delivery path reads it without a
// lock.
type list struct {
	set    map[jid.JID]struct{}
	sorted []string // the JIDs in lexical order, as the blocklist result lists them
}

func newList(jids []jid.JID) *list {
	l := &list{set: make(map[jid.JID]struct{}, len(jids))}
	for _, j := range jids {
		if _, ok := l.set[j]; !ok {
			l.set[j] = struct{}{}
			l.sorted = append(l.sorted, j.String())
		}
	}
	slices.Sort(l.sorted)
	return l
}

// with returns the list with add added and remove removed; removeAll
// empties it first.
func (l *list) with(add, remove []jid.JID, removeAll bool) *list {
	var keep []jid.JID
	if l != nil && !removeAll {
		for j := range l.set {
			if !slices.Contains(remove, j) {
				keep = append(keep, j)
			}
		}
	}
	return newList(append(keep, add...))
}

func (l *list) len() int {
	if l == nil {
		return 0
	}
	return len(l.set)
}

func (l *list) has(j jid.JID) bool {
	_, ok := l.set[j]
	return ok
}

// matches reports whether the list blocks j, by the JID matching rules of
// XEP-0191 section 6 (those of XEP-0016): a full JID item matches only
// that JID; a bare JID item the bare JID and any of its resources; a
// domain/resource item only that JID; a domain item the domain and every
// address at it or at a subdomain of it.
func (l *list) matches(j jid.JID) bool {
	if l == nil || len(l.set) == 0 {
		return false
	}
	if l.has(j) {
		return true
	}
	if j.Resource != "" && j.Local != "" && l.has(j.Bare()) {
		return true
	}
	for d := j.Domain; ; {
		if l.has(jid.JID{Domain: d}) {
			return true
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return false
		}
		d = d[i+1:]
	}
}
