package xmpptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// bindResource is resource binding (RFC 6120 7) for the test client,
// asking for the resource of want (the server's choice when it has
// none). mellium's own (v0.22) always sends an empty <resource/>: it
// writes the payload's JID, not its resource, so the server chose every
// client's resource and DialOptions.Resource was lost. Its listing and
// parsing of the <bind/> feature are kept; only the client's exchange is
// ours.
func bindResource(want jid.JID) xmpp.StreamFeature {
	f := xmpp.BindResource()
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, _ any) (xmpp.SessionState, io.ReadWriter, error) {
		var idb [8]byte
		_, _ = rand.Read(idb[:])
		id := hex.EncodeToString(idb[:])
		var payload xml.TokenReader
		if res := want.Resourcepart(); res != "" {
			payload = xmlstream.Wrap(xmlstream.Token(xml.CharData(res)), xml.StartElement{Name: xml.Name{Local: "resource"}})
		}
		req := xmlstream.Wrap(
			xmlstream.Wrap(payload, xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}}),
			xml.StartElement{Name: xml.Name{Space: "jabber:client", Local: "iq"}, Attr: []xml.Attr{
				{Name: xml.Name{Local: "type"}, Value: "set"},
				{Name: xml.Name{Local: "id"}, Value: id},
			}},
		)
		w := s.TokenWriter()
		defer w.Close()
		if _, err := xmlstream.Copy(w, req); err != nil {
			return 0, nil, fmt.Errorf("bind: %w", err)
		}
		if err := w.Flush(); err != nil {
			return 0, nil, fmt.Errorf("bind: %w", err)
		}

		r := s.TokenReader()
		defer r.Close()
		d := xml.NewTokenDecoder(r)
		tok, err := d.Token()
		if err != nil {
			return 0, nil, fmt.Errorf("bind: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "iq" {
			return 0, nil, fmt.Errorf("bind: got %v, want the iq's answer", tok)
		}
		var resp struct {
			ID   string `xml:"id,attr"`
			Type string `xml:"type,attr"`
			JID  string `xml:"urn:ietf:params:xml:ns:xmpp-bind bind>jid"`
			Err  Node   `xml:"error"`
		}
		if err := d.DecodeElement(&resp, &start); err != nil {
			return 0, nil, fmt.Errorf("bind: %w", err)
		}
		switch {
		case resp.ID != id:
			return 0, nil, fmt.Errorf("bind: answer id %q, want %q", resp.ID, id)
		case resp.Type == "error":
			return 0, nil, fmt.Errorf("bind %q refused: %s", want.Resourcepart(), resp.Err)
		case resp.Type != "result":
			return 0, nil, fmt.Errorf("bind: answer of type %q", resp.Type)
		}
		bound, err := jid.Parse(resp.JID)
		if err != nil {
			return 0, nil, fmt.Errorf("bind: bound JID %q: %w", resp.JID, err)
		}
		s.UpdateAddr(bound)
		return xmpp.Ready, nil, nil
	}
	return f
}
