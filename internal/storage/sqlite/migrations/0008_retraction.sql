-- 0008: message retraction (XEP-0424, XEP-0425) finds a room's shared
-- record by the room's stanza-id, to replace it with a tombstone.
CREATE INDEX room_messages_origin ON room_messages (room, origin_stanza_id)
	WHERE origin_stanza_id <> '';
