package xml

import "testing"

func TestAppendPrefixedXML(t *testing.T) {
	f := New(NSStream, "features").Append(New("urn:ietf:params:xml:ns:xmpp-bind", "bind"))
	f.SetAttr("a", `x"y`)
	got := string(f.AppendPrefixedXML(nil, "stream"))
	want := `<stream:features a="x&quot;y"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(New(NSStream, "error").AppendPrefixedXML(nil, "stream")); got != "<stream:error/>" {
		t.Errorf("empty: %s", got)
	}
}
