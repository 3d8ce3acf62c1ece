package s2s

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"minimix/internal/stream"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// NSDialbackFeature is the stream feature by which a receiving server
// offers Server Dialback, with <errors/> when it sends dialback errors
// instead of closing the stream (XEP-0220 2.4 and 4).
const NSDialbackFeature = "urn:xmpp:features:dialback"

// dialbackKey is the XEP-0185 key of a dialback request: receiving is
// the domain the key is presented to, originating the domain it
// authenticates, streamID the id of the stream the receiving server
// opened. Only the server that made a key checks it, so the secret never
// leaves this server; it must be the same across restarts and on every
// node that answers for the domain.
func dialbackKey(secret []byte, receiving, originating, streamID string) string {
	h := sha256.Sum256(secret)
	m := hmac.New(sha256.New, []byte(hex.EncodeToString(h[:])))
	m.Write([]byte(receiving + " " + originating + " " + streamID))
	return hex.EncodeToString(m.Sum(nil))
}

// checkKey reports whether key is the one this server made for the
// request, in constant time.
func checkKey(secret []byte, receiving, originating, streamID, key string) bool {
	want := dialbackKey(secret, receiving, originating, streamID)
	return hmac.Equal([]byte(want), []byte(key))
}

// dbElement builds a <db:result/> or <db:verify/>.
func dbElement(local, from, to, id, typ, key string) *xml.Element {
	el := xml.New(stream.NSDialback, local, "from", from, "to", to)
	el.SetAttr("id", id)
	el.SetAttr("type", typ)
	return el.AppendText(key)
}

// dbError is a dialback error (XEP-0220 2.4): a <db:result/> or
// <db:verify/> of type error carrying a stanza error condition.
func dbError(local, from, to, id string, cond xmpperr.Condition, text string) *xml.Element {
	el := dbElement(local, from, to, id, "error", "")
	return el.Append(xmpperr.New(cond, text).Element(xml.NSClient))
}

// dialbackFeature offers dialback with error support.
func dialbackFeature() *xml.Element {
	return xml.New(NSDialbackFeature, "dialback").Append(xml.New(NSDialbackFeature, "errors"))
}
