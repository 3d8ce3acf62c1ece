package muc

import (
	"golang.org/x/text/secure/precis"

	"minimix/internal/jid"
	"minimix/internal/xmpperr"
)

// prepareNick applies the PRECIS nickname profile (RFC 8266, which
// XEP-0045 section 7.2 requires) to a requested nick. It returns the nick
// to use, its compare key (nicks with the same key are the same nick:
// "Alice" and "alice"), and whether the nick differs from the request,
// which the self-presence reports with status 210. A nick the profile
// refuses is jid-malformed, as section 7.2 says.
func prepareNick(requested string) (nick, key string, modified bool, err error) {
	if len(requested) > maxNickBytes {
		return "", "", false, xmpperr.New(xmpperr.NotAcceptable, "the nickname is too long")
	}
	nick, perr := precis.Nickname.String(requested)
	if perr != nil || nick == "" {
		return "", "", false, xmpperr.New(xmpperr.JIDMalformed, "the nickname is not allowed")
	}
	// The nick is the resource of an occupant JID, so it must be one.
	if res, rerr := jid.PrepResource(nick); rerr != nil || res != nick {
		return "", "", false, xmpperr.New(xmpperr.JIDMalformed, "the nickname is not allowed")
	}
	key, perr = precis.Nickname.CompareKey(nick)
	if perr != nil {
		return "", "", false, xmpperr.New(xmpperr.JIDMalformed, "the nickname is not allowed")
	}
	return nick, key, nick != requested, nil
}

// nickKey returns the compare key of a nick in an address, "" if it is
// not a valid nick.
func nickKey(nick string) string {
	_, key, _, err := prepareNick(nick)
	if err != nil {
		return ""
	}
	return key
}
