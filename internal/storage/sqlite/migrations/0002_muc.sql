-- 0002: persistent multi-user chat rooms (XEP-0045). Temporary rooms live
-- only in memory; a room's messages are in archive_messages under the
-- room's bare JID, like any archive.

-- muc_rooms holds one row per persistent room. config is the room
-- configuration as the MUC service serialises it (JSON), so that adding a
-- configuration field needs no migration.
CREATE TABLE muc_rooms (
	jid          TEXT NOT NULL PRIMARY KEY, -- bare JID of the room
	domain       TEXT NOT NULL,             -- the MUC service's domain
	config       BLOB NOT NULL,
	subject      TEXT NOT NULL,
	subject_nick TEXT NOT NULL
);
CREATE INDEX muc_rooms_domain ON muc_rooms (domain, jid);

-- muc_affiliations holds the owner, admin, member and outcast lists; no
-- row means "none".
CREATE TABLE muc_affiliations (
	room        TEXT NOT NULL REFERENCES muc_rooms (jid) ON DELETE CASCADE,
	jid         TEXT NOT NULL, -- bare JID
	affiliation TEXT NOT NULL, -- 'owner', 'admin', 'member', 'outcast'
	nick        TEXT NOT NULL,
	reason      TEXT NOT NULL,
	PRIMARY KEY (room, jid)
);
