-- 0003: push notifications (XEP-0357), as the SQLite backend's 0007: the
-- app servers each account's clients asked the server to publish to.
CREATE TABLE push_registrations (
	username TEXT COLLATE "C" NOT NULL,
	service  TEXT COLLATE "C" NOT NULL, -- the app server's JID
	node     TEXT COLLATE "C" NOT NULL,
	options  BYTEA,                     -- serialised publish-options form, or NULL
	resource TEXT COLLATE "C" NOT NULL, -- the session that enabled it
	enabled  BIGINT NOT NULL,           -- microseconds since the Unix epoch
	PRIMARY KEY (username, service, node)
);
