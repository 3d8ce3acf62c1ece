package storage

import "context"

// Blocklists keeps each account's blocked JIDs (XEP-0191, the blocking
// command). The JIDs are stored as the caller gives them, which is in
// canonical string form; the store does not interpret them.
type Blocklists interface {
	// Blocklist returns user's blocked JIDs in lexical order; none is an
	// empty list, not an error.
	Blocklist(ctx context.Context, user string) ([]string, error)
	// Block adds jids to user's blocklist; a JID already in it stays
	// once. All or none are added.
	Block(ctx context.Context, user string, jids []string) error
	// Unblock removes jids from user's blocklist; JIDs not in it are
	// ignored. No jids (nil or empty) empties the list.
	Unblock(ctx context.Context, user string, jids []string) error
	// Blocklists returns every account's non-empty blocklist, keyed by
	// user, each in lexical order: what the server holds in memory so
	// that delivery never reads storage.
	Blocklists(ctx context.Context) (map[string][]string, error)
}
