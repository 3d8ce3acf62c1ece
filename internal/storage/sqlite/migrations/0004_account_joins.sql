-- Account-based group chat: rooms joined by an account (not a session).
CREATE TABLE account_joins (
	account        TEXT NOT NULL,
	room           TEXT NOT NULL,
	nick           TEXT NOT NULL,
	password       TEXT NOT NULL DEFAULT '',
	bookmark       INTEGER NOT NULL DEFAULT 0,
	last_stanza_id TEXT NOT NULL DEFAULT '',
	last_stamp     INTEGER NOT NULL DEFAULT 0,
	last_active    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account, room)
);
