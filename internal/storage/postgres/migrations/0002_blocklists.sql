-- 0002: the blocking command (XEP-0191), as the SQLite backend's 0006:
-- each account's blocked JIDs, one row per JID.
CREATE TABLE blocklists (
	username TEXT COLLATE "C" NOT NULL,
	jid      TEXT COLLATE "C" NOT NULL, -- canonical string form: domain, bare or full JID
	PRIMARY KEY (username, jid)
);
