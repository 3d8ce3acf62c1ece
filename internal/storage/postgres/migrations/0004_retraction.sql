-- 0004: message retraction (XEP-0424, XEP-0425), as the SQLite backend's
-- 0008: a room's shared record is found by the room's stanza-id.
CREATE INDEX room_messages_origin ON room_messages (room, origin_stanza_id)
	WHERE origin_stanza_id <> '';
