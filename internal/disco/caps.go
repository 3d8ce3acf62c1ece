package disco

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strings"

	"minimix/internal/iq"
	"minimix/internal/stanza"
	"minimix/internal/xml"
)

// Entity capabilities (XEP-0115) of the server: the client stream
// features carry <c xmlns='http://jabber.org/protocol/caps'/> with the
// hash of the server's disco#info (section 6.3, "Feature broadcasts" of
// the XEP-0479 compliance suites), and a disco#info query to the server
// at node#ver answers with that same information.

// NSCaps is the XEP-0115 namespace.
const NSCaps = "http://jabber.org/protocol/caps"

// CapsNode is the node of the server's capabilities: a URI naming the
// software.
const CapsNode = "https://minimix.invalid/caps"

// CapsElement returns the server's <c/> for stream features. It hashes
// the disco#info the server answers now, so it follows features that
// packages register late.
func (s *Service) CapsElement() *xml.Element {
	return xml.New(NSCaps, "c", "hash", "sha-1", "node", CapsNode, "ver", VerificationString(s.serverQuery()))
}

// capsInfo answers disco#info at the server's caps node: the server's
// information, with the node, when ver is the current one; nil, nil for
// another node.
func (s *Service) capsInfo(_ context.Context, req iq.Request) (*xml.Element, error) {
	node := req.Payload.Attr("node")
	ver, ok := strings.CutPrefix(node, CapsNode+"#")
	if !ok || req.Type != "get" {
		return nil, nil
	}
	q := s.serverQuery()
	if ver != VerificationString(q) {
		return nil, nil // an old version: item-not-found, as for any node
	}
	q.SetAttr("node", node)
	return q, nil
}

// VerificationString is XEP-0115 section 5's SHA-1 verification string
// of a disco#info <query/>: identities, features and extended forms
// (XEP-0128), each sorted, hashed and base64 encoded.
func VerificationString(q *xml.Element) string {
	var ids, features []string
	type form struct {
		typ    string
		fields []string
	}
	var forms []form
	for _, e := range q.Elements() {
		switch {
		case e.Space == stanza.NSDiscoInfo && e.Local == "identity":
			ids = append(ids, e.Attr("category")+"/"+e.Attr("type")+"/"+e.AttrNS(xml.NSXML, "lang")+"/"+e.Attr("name"))
		case e.Space == stanza.NSDiscoInfo && e.Local == "feature":
			features = append(features, e.Attr("var"))
		case e.Space == NSData && e.Local == "x":
			var f form
			for _, fe := range e.Elements() {
				if fe.Local != "field" {
					continue
				}
				var vals []string
				for _, v := range fe.Elements() {
					if v.Local == "value" {
						vals = append(vals, v.Text())
					}
				}
				if fe.Attr("var") == "FORM_TYPE" {
					if len(vals) > 0 {
						f.typ = vals[0]
					}
					continue
				}
				slices.Sort(vals)
				f.fields = append(f.fields, fe.Attr("var")+"<"+strings.Join(append(vals, ""), "<"))
			}
			slices.Sort(f.fields)
			forms = append(forms, f)
		}
	}
	slices.Sort(ids)
	slices.Sort(features)
	slices.SortFunc(forms, func(a, b form) int { return strings.Compare(a.typ, b.typ) })
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id + "<")
	}
	for _, f := range features {
		b.WriteString(f + "<")
	}
	for _, f := range forms {
		b.WriteString(f.typ + "<")
		for _, fl := range f.fields {
			b.WriteString(fl)
		}
	}
	sum := sha1.Sum([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(sum[:])
}
