package xml

// Names and namespaces that most stanzas carry are returned as shared
// constants instead of being copied, so a parsed stanza's strings point at
// the same memory as the constants the rest of the server compares with,
// and the per-stanza string holds only what is particular to the stanza.

// commonNames are element and attribute local names worth sharing.
var commonNames = [...]string{
	// Stanzas, their usual children and stream-level elements.
	"message", "presence", "iq", "body", "subject", "thread", "show", "status", "priority",
	"error", "text", "query", "item", "group", "x", "c", "bind", "resource", "session",
	"ping", "delay", "stanza-id", "origin-id", "active", "inactive", "composing", "paused",
	"gone", "request", "received", "markable", "displayed", "forwarded", "result", "store",
	"no-store", "no-copy", "private", "replace", "reply", "encrypted", "header", "payload",
	"feature", "identity", "set", "first", "last", "count", "max", "before", "after", "fin",
	"field", "value", "fallback", "occupant-id", "stream", "features", "r", "a", "enable",
	"enabled", "resume", "resumed", "auth", "response", "success", "challenge", "starttls",
	"proceed",
	// Attributes.
	"to", "from", "id", "type", "lang", "by", "jid", "node", "ver", "hash", "stamp", "code",
	"role", "affiliation", "nick", "name", "var", "category", "subscription", "ask", "h",
	"mechanism", "queryid", "version",
}

// commonNamespaces are namespace URIs worth sharing.
var commonNamespaces = [...]string{
	NSClient, NSServer, NSStream, NSXML, "jabber:component:accept",
	"jabber:server:dialback", "urn:ietf:params:xml:ns:xmpp-streams",
	"urn:ietf:params:xml:ns:xmpp-stanzas", "urn:ietf:params:xml:ns:xmpp-tls",
	"urn:ietf:params:xml:ns:xmpp-sasl", "urn:ietf:params:xml:ns:xmpp-bind",
	"urn:ietf:params:xml:ns:xmpp-session", "urn:xmpp:sid:0", "urn:xmpp:delay",
	"urn:xmpp:sm:3", "urn:xmpp:ping", "urn:xmpp:carbons:2", "urn:xmpp:forward:0",
	"urn:xmpp:mam:2", "urn:xmpp:receipts", "urn:xmpp:chat-markers:0", "urn:xmpp:hints",
	"urn:xmpp:csi:0", "urn:xmpp:message-correct:0", "urn:xmpp:reply:0",
	"urn:xmpp:reactions:0", "urn:xmpp:fallback:0", "urn:xmpp:occupant-id:0",
	"urn:xmpp:eme:0", "urn:xmpp:omemo:2", "eu.siacs.conversations.axolotl",
	"urn:xmpp:blocking", "urn:xmpp:bookmarks:1", "urn:xmpp:http:upload:0",
	"urn:xmpp:jingle-message:0", "jabber:iq:roster", "jabber:iq:private",
	"jabber:iq:version", "jabber:iq:last", "jabber:x:data", "jabber:x:conference",
	"jabber:x:oob", "vcard-temp", "vcard-temp:x:update",
	"http://jabber.org/protocol/chatstates", "http://jabber.org/protocol/caps",
	"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
	"http://jabber.org/protocol/muc", "http://jabber.org/protocol/muc#user",
	"http://jabber.org/protocol/muc#admin", "http://jabber.org/protocol/muc#owner",
	"http://jabber.org/protocol/pubsub", "http://jabber.org/protocol/pubsub#event",
	"http://jabber.org/protocol/rsm", "http://jabber.org/protocol/nick",
	"http://jabber.org/protocol/address",
}

var (
	nameIndex      = newIndex(commonNames[:])
	namespaceIndex = newIndex(commonNamespaces[:])
)

// index finds a byte string among a fixed list of strings with one hash
// and, almost always, one comparison. It is an open-addressing table
// filled once, at package initialisation, and read-only after.
type index struct {
	list  []string
	slots [512]int16 // position in list plus one; 0 marks an empty slot
}

func newIndex(list []string) *index {
	x := &index{list: list}
	for i, s := range list {
		h := hashKey(s)
		for x.slots[h&(len(x.slots)-1)] != 0 {
			h++
		}
		x.slots[h&(len(x.slots)-1)] = int16(i + 1)
	}
	return x
}

// hashKey mixes the length and three bytes: enough to tell XMPP's names
// and namespace URIs apart, which share long prefixes.
func hashKey[S string | []byte](b S) int {
	n := len(b)
	if n == 0 {
		return 0
	}
	return n*0x9E37 ^ int(b[0])*31 ^ int(b[n-1])*0x3B9 ^ int(b[n/2])*0x61
}

// find returns the position of b in the list, or -1.
func (x *index) find(b []byte) int {
	h := hashKey(b)
	for {
		i := int(x.slots[h&(len(x.slots)-1)]) - 1
		if i < 0 {
			return -1
		}
		if x.list[i] == string(b) {
			return i
		}
		h++
	}
}
