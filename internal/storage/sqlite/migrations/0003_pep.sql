-- 0003: personal eventing (XEP-0163): each account's PEP nodes and their
-- items, which also hold the account's bookmarks (XEP-0402 and XEP-0048).
--
-- A node's configuration is an opaque blob written by package pep, so that
-- a new node option needs no migration.

CREATE TABLE pep_nodes (
	username TEXT NOT NULL,
	node     TEXT NOT NULL,
	config   BLOB NOT NULL,
	PRIMARY KEY (username, node)
);

-- pep_items keeps publish order in seq: republishing an id deletes the old
-- row and inserts a new one, so the newest item has the highest seq.
CREATE TABLE pep_items (
	seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	username  TEXT    NOT NULL,
	node      TEXT    NOT NULL,
	id        TEXT    NOT NULL,
	publisher TEXT    NOT NULL,
	stamp     INTEGER NOT NULL, -- microseconds since the Unix epoch
	payload   BLOB    NOT NULL,
	UNIQUE (username, node, id),
	FOREIGN KEY (username, node) REFERENCES pep_nodes (username, node) ON DELETE CASCADE
);
CREATE INDEX pep_items_node ON pep_items (username, node, seq);

-- DeleteAccount removes an account's rows table by table; this trigger
-- does it for the PEP tables, so that the account code needs no change
-- when PEP arrives (the items go with their nodes by the foreign key).
CREATE TRIGGER pep_account_deleted AFTER DELETE ON accounts
BEGIN
	DELETE FROM pep_nodes WHERE username = OLD.username;
END;
