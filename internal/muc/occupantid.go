package muc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// idEncoding writes random stanza ids.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// occupantID is the XEP-0421 occupant-id of realBare in room: an HMAC of
// the two under the service's secret, so that it is stable for one user
// in one room (across nick changes, sessions and restarts), differs
// between rooms, and reveals nothing about the real JID.
func (s *Service) occupantID(room, realBare jid.JID) string {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte("occupant-id\x00"))
	m.Write([]byte(room.String()))
	m.Write([]byte{0})
	m.Write([]byte(realBare.String()))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// occupantIDElement is <occupant-id/> for id.
func occupantIDElement(id string) *xml.Element {
	return xml.New(NSOccupantID, "occupant-id", "id", id)
}

// Relayed iqs (XEP-0045 7.x: an iq to an occupant goes to one of its real
// JIDs) carry an id that says, under a MAC, where the answer goes, so the
// service keeps no table of requests in flight:
//
//	mf1.<base64 original id>.<base64 requester's real JID>.<base64 target nick>.<base64 MAC>
const relayPrefix = "mf1."

// relayID returns the id of an iq relayed from requester (a real JID, in
// the room as requesterOcc) to the occupant target, via real JID via.
func (s *Service) relayID(orig string, requester jid.JID, requesterOcc jid.JID, target string, via jid.JID) string {
	enc := base64.RawURLEncoding
	return relayPrefix + enc.EncodeToString([]byte(orig)) + "." + enc.EncodeToString([]byte(requester.String())) +
		"." + enc.EncodeToString([]byte(target)) + "." + enc.EncodeToString(s.relayMAC(orig, requester.String(), requesterOcc.String(), target, via.String()))
}

// parseRelayID undoes relayID for an answer that from sent to to (the
// requester's occupant JID). ok is false for an id the service did not
// make for this pair.
func (s *Service) parseRelayID(id string, from, to jid.JID) (orig string, requester jid.JID, target string, ok bool) {
	rest, found := strings.CutPrefix(id, relayPrefix)
	if !found {
		return "", jid.JID{}, "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return "", jid.JID{}, "", false
	}
	enc := base64.RawURLEncoding
	var dec [4][]byte
	for i, p := range parts {
		b, err := enc.DecodeString(p)
		if err != nil {
			return "", jid.JID{}, "", false
		}
		dec[i] = b
	}
	orig, req, target := string(dec[0]), string(dec[1]), string(dec[2])
	if !hmac.Equal(dec[3], s.relayMAC(orig, req, to.String(), target, from.String())) {
		return "", jid.JID{}, "", false
	}
	requester, err := jid.Parse(req)
	if err != nil {
		return "", jid.JID{}, "", false
	}
	return orig, requester, target, true
}

func (s *Service) relayMAC(parts ...string) []byte {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte("relay\x00"))
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)[:16]
}
