-- 0007: push notifications (XEP-0357): the app servers each account's
-- clients asked the server to publish to.
CREATE TABLE push_registrations (
	username TEXT    NOT NULL,
	service  TEXT    NOT NULL, -- the app server's JID
	node     TEXT    NOT NULL,
	options  BLOB,             -- serialised publish-options form, or NULL
	resource TEXT    NOT NULL, -- the session that enabled it
	enabled  INTEGER NOT NULL, -- microseconds since the Unix epoch
	PRIMARY KEY (username, service, node)
);
