-- 0005: the archive by reference (account-based group chat). A room
-- message is kept once in room_messages, however many local accounts are
-- in the room; room_memberships says when each account was in it, and an
-- account's archive is its own archive_messages plus the room_messages
-- inside its intervals. seq values come from one counter shared with
-- archive_messages (assigned by the store's writer), so the two tables
-- merge into one order.

CREATE TABLE room_messages (
	seq              INTEGER NOT NULL PRIMARY KEY,
	room             TEXT    NOT NULL, -- bare JID of the room
	id               TEXT    NOT NULL, -- archive id, the same for every member
	stamp            INTEGER NOT NULL,
	from_nick        TEXT    NOT NULL,
	origin_stanza_id TEXT    NOT NULL, -- the room's stanza-id, '' if it gave none
	stanza           BLOB    NOT NULL, -- the message without a to attribute
	UNIQUE (room, id)
);
CREATE INDEX room_messages_room ON room_messages (room, seq);
CREATE INDEX room_messages_room_stamp ON room_messages (room, stamp);

-- An account's interval in a room: shared records with
-- from_seq < seq < to_seq (to_seq NULL while the account is in the room).
CREATE TABLE room_memberships (
	account  TEXT    NOT NULL,
	room     TEXT    NOT NULL,
	from_seq INTEGER NOT NULL,
	to_seq   INTEGER,
	PRIMARY KEY (account, room, from_seq)
);
CREATE INDEX room_memberships_room ON room_memberships (room, from_seq);

-- Record counts are now added by the archive writer once per owner and
-- batch rather than by a trigger per row; deletes still go through the
-- trigger archive_messages_uncounted.
DROP TRIGGER archive_messages_counted;
