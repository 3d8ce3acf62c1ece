package dbcopy

// kind is how a column's values are read and written.
type kind uint8

const (
	text     kind = iota // TEXT
	integer              // INTEGER / BIGINT or INTEGER
	boolean              // INTEGER 0 or 1 / BOOLEAN
	blob                 // BLOB / BYTEA, never NULL
	nullInt              // INTEGER / BIGINT, NULL allowed
	nullBlob             // BLOB / BYTEA, NULL allowed
)

type column struct {
	name string
	kind kind
}

// table is one table of the schema the two backends share: the same
// name and columns on both (internal/storage/sqlite/migrations,
// internal/storage/postgres/migrations). key is its primary key, by which
// rows are read in order and sampled rows found again.
type table struct {
	name string
	cols []column
	key  []string
}

func cols(kv ...any) []column {
	var out []column
	for i := 0; i < len(kv); i += 2 {
		out = append(out, column{kv[i].(string), kv[i+1].(kind)})
	}
	return out
}

// tables lists every table that holds a deployment's data, parents
// before the tables whose foreign keys refer to them. archive_counts is
// not copied: it is computed from archive_messages on the destination.
// schema_migrations is each backend's own.
var tables = []table{
	{"accounts", cols("username", text, "created_at", integer), []string{"username"}},
	{"scram_credentials", cols("username", text, "hash", text, "salt", nullBlob, "iterations", integer,
		"stored_key", nullBlob, "server_key", nullBlob), []string{"username", "hash"}},
	{"roster_versions", cols("username", text, "version", integer), []string{"username"}},
	{"roster_items", cols("username", text, "contact", text, "name", text, "subscription", text,
		"pending_out", boolean, "pending_in", boolean, "approved", boolean, "hidden", boolean,
		"pending_in_stanza", nullBlob), []string{"username", "contact"}},
	{"roster_groups", cols("username", text, "contact", text, "position", integer, "name", text),
		[]string{"username", "contact", "position"}},
	{"offline_messages", cols("id", integer, "username", text, "stamp", integer, "stanza", blob), []string{"id"}},
	{"archive_messages", cols("seq", integer, "owner", text, "id", text, "stamp", integer, "with_jid", text,
		"from_nick", text, "groupchat", boolean, "origin_stanza_id", text, "stanza", blob), []string{"owner", "seq"}},
	{"archive_prefs", cols("owner", text, "default_mode", text), []string{"owner"}},
	{"archive_prefs_jids", cols("owner", text, "list", text, "position", integer, "jid", text),
		[]string{"owner", "list", "position"}},
	{"room_messages", cols("seq", integer, "room", text, "id", text, "stamp", integer, "from_nick", text,
		"origin_stanza_id", text, "stanza", blob), []string{"room", "seq"}},
	{"room_memberships", cols("account", text, "room", text, "from_seq", integer, "to_seq", nullInt),
		[]string{"account", "room", "from_seq"}},
	{"private_storage", cols("username", text, "key", text, "data", blob), []string{"username", "key"}},
	{"vcards", cols("username", text, "data", blob), []string{"username"}},
	{"muc_rooms", cols("jid", text, "domain", text, "config", blob, "subject", text, "subject_nick", text), []string{"jid"}},
	{"muc_affiliations", cols("room", text, "jid", text, "affiliation", text, "nick", text, "reason", text),
		[]string{"room", "jid"}},
	{"pep_nodes", cols("username", text, "node", text, "config", blob), []string{"username", "node"}},
	{"pep_items", cols("seq", integer, "username", text, "node", text, "id", text, "publisher", text,
		"stamp", integer, "payload", blob), []string{"seq"}},
	{"account_joins", cols("account", text, "room", text, "nick", text, "password", text, "bookmark", boolean,
		"last_stanza_id", text, "last_stamp", integer, "last_active", integer), []string{"account", "room"}},
	{"blocklists", cols("username", text, "jid", text), []string{"username", "jid"}},
	{"push_registrations", cols("username", text, "service", text, "node", text, "options", nullBlob,
		"resource", text, "enabled", integer), []string{"username", "service", "node"}},
}
