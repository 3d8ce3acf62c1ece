-- 0001: accounts, rosters, offline messages, archives, private XML, vCards.
--
-- Portability: only TEXT, INTEGER and BLOB, so a PostgreSQL backend can
-- mirror this file with TEXT, BIGINT and BYTEA. Times are INTEGER
-- microseconds since the Unix epoch (UTC), the precision PostgreSQL keeps.
-- Booleans are INTEGER 0/1.
--
-- Extensibility: per-account tables are keyed by username and carry no
-- foreign key to accounts, because the storage interfaces do not require
-- an account row before a roster item or offline message exists; later
-- tables (MUC rooms, account joins, PEP) are new tables keyed the same
-- way, so nothing here needs to change. DeleteAccount deletes from each
-- table explicitly, in one transaction.

-- accounts holds one row per local account, keyed by localpart.
CREATE TABLE accounts (
	username   TEXT    NOT NULL PRIMARY KEY,
	created_at INTEGER NOT NULL
);

-- scram_credentials holds one SCRAM credential per hash, so that adding a
-- hash (SCRAM-SHA-512) is new rows, not new columns.
CREATE TABLE scram_credentials (
	username   TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
	hash       TEXT    NOT NULL, -- 'SHA-1', 'SHA-256'
	salt       BLOB,
	iterations INTEGER NOT NULL,
	stored_key BLOB,
	server_key BLOB,
	PRIMARY KEY (username, hash)
);

-- roster_versions is the XEP-0237 counter of each roster, bumped by every
-- change, so a version never repeats while the roster exists.
CREATE TABLE roster_versions (
	username TEXT    NOT NULL PRIMARY KEY,
	version  INTEGER NOT NULL
);

CREATE TABLE roster_items (
	username          TEXT    NOT NULL,
	contact           TEXT    NOT NULL, -- bare JID
	name              TEXT    NOT NULL,
	subscription      TEXT    NOT NULL, -- 'none', 'to', 'from', 'both'
	pending_out       INTEGER NOT NULL,
	pending_in        INTEGER NOT NULL,
	approved          INTEGER NOT NULL,
	hidden            INTEGER NOT NULL,
	pending_in_stanza BLOB,
	PRIMARY KEY (username, contact)
);

-- roster_groups keeps the groups of an item in the order the client gave.
CREATE TABLE roster_groups (
	username TEXT    NOT NULL,
	contact  TEXT    NOT NULL,
	position INTEGER NOT NULL,
	name     TEXT    NOT NULL,
	PRIMARY KEY (username, contact, position),
	FOREIGN KEY (username, contact) REFERENCES roster_items (username, contact) ON DELETE CASCADE
);

-- offline_messages ids only grow (AUTOINCREMENT), so an id handed to a
-- session is never reused for another message before it is deleted.
CREATE TABLE offline_messages (
	id       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	username TEXT    NOT NULL,
	stamp    INTEGER NOT NULL,
	stanza   BLOB    NOT NULL
);
CREATE INDEX offline_messages_username ON offline_messages (username, id);

-- archive_messages is the XEP-0313 archive of accounts and rooms. seq gives
-- the archive order (insertion order), independent of the caller-chosen id.
CREATE TABLE archive_messages (
	seq              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	owner            TEXT    NOT NULL, -- bare JID of the account or room
	id               TEXT    NOT NULL,
	stamp            INTEGER NOT NULL,
	with_jid         TEXT    NOT NULL,
	from_nick        TEXT    NOT NULL,
	groupchat        INTEGER NOT NULL,
	origin_stanza_id TEXT    NOT NULL,
	stanza           BLOB    NOT NULL,
	UNIQUE (owner, id)
);
CREATE INDEX archive_messages_owner ON archive_messages (owner, seq);
CREATE INDEX archive_messages_owner_with ON archive_messages (owner, with_jid, seq);
-- (owner, stamp) answers XEP-0313 start/end: it bounds the seq range a
-- page walks and counts the matches without visiting the table.
CREATE INDEX archive_messages_owner_stamp ON archive_messages (owner, stamp);
CREATE INDEX archive_messages_origin ON archive_messages (owner, with_jid, origin_stanza_id)
	WHERE origin_stanza_id <> '';

-- archive_counts holds the number of records of each archive, kept by
-- triggers so that every path that adds or removes records (including a
-- future retention job) keeps it right. It answers the count an
-- unfiltered query returns without counting the whole archive. The store
-- deletes a row when it deletes the whole archive, before the messages,
-- so the delete trigger then finds nothing to update.
CREATE TABLE archive_counts (
	owner   TEXT    NOT NULL PRIMARY KEY,
	records INTEGER NOT NULL
);

CREATE TRIGGER archive_messages_counted AFTER INSERT ON archive_messages
BEGIN
	INSERT INTO archive_counts (owner, records) VALUES (NEW.owner, 1)
	ON CONFLICT (owner) DO UPDATE SET records = records + 1;
END;

CREATE TRIGGER archive_messages_uncounted AFTER DELETE ON archive_messages
BEGIN
	UPDATE archive_counts SET records = records - 1 WHERE owner = OLD.owner;
END;

-- archive_prefs holds XEP-0313 preferences; no row means the defaults.
CREATE TABLE archive_prefs (
	owner        TEXT NOT NULL PRIMARY KEY,
	default_mode TEXT NOT NULL -- 'always', 'never', 'roster'
);

CREATE TABLE archive_prefs_jids (
	owner    TEXT    NOT NULL REFERENCES archive_prefs (owner) ON DELETE CASCADE,
	list     TEXT    NOT NULL, -- 'always' or 'never'
	position INTEGER NOT NULL,
	jid      TEXT    NOT NULL,
	PRIMARY KEY (owner, list, position)
);

-- private_storage holds XEP-0049 fragments; key is the caller's
-- combination of element name and namespace.
CREATE TABLE private_storage (
	username TEXT NOT NULL,
	key      TEXT NOT NULL,
	data     BLOB NOT NULL,
	PRIMARY KEY (username, key)
);

CREATE TABLE vcards (
	username TEXT NOT NULL PRIMARY KEY,
	data     BLOB NOT NULL
);
