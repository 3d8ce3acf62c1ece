-- 0006: the blocking command (XEP-0191): each account's blocked JIDs, one
-- row per JID, keyed by username like the other per-account tables.
CREATE TABLE blocklists (
	username TEXT NOT NULL,
	jid      TEXT NOT NULL, -- canonical string form: domain, bare or full JID
	PRIMARY KEY (username, jid)
);
