package dataform

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"minimix/internal/xml"
)

// ignoreFrozen leaves out xml.Element's unexported state (a frozen
// element's kept serialisation), which is no part of a form.
var ignoreFrozen = cmpopts.IgnoreUnexported(xml.Element{})

func mustParseXML(t *testing.T, s string) *xml.Element {
	t.Helper()
	el, err := xml.Parse([]byte(s))
	if err != nil {
		t.Fatalf("xml.Parse(%s): %v", s, err)
	}
	return el
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Form // nil: ErrMalformed expected
	}{
		{
			name: "submit with FORM_TYPE and untyped fields",
			in: `<x xmlns='jabber:x:data' type='submit'>
				<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>
				<field var='with'><value>Juliet@Capulet.lit</value></field>
				<field var='ids'><value>a</value><value>b</value></field>
			</x>`,
			want: &Form{Type: TypeSubmit, Fields: []Field{
				{Var: "FORM_TYPE", Type: Hidden, Values: []string{"urn:xmpp:mam:2"}},
				{Var: "with", Values: []string{"Juliet@Capulet.lit"}},
				{Var: "ids", Values: []string{"a", "b"}},
			}},
		},
		{
			name: "form with everything",
			in: `<x xmlns='jabber:x:data' type='form'>
				<title>Config</title><instructions>one</instructions><instructions>two</instructions>
				<field type='fixed'><value>Section</value></field>
				<field var='muc#roomconfig_whois' type='list-single' label='Who'>
					<desc>Who may see JIDs</desc><required/>
					<option label='Moderators'><value>moderators</value></option>
					<option><value>anyone</value></option>
					<value>anyone</value>
				</field>
				<field var='persistent' type='boolean'><value>true</value></field>
				<field var='admins' type='jid-multi'><value>Alice@Example.NET</value><value>bob@example.net</value></field>
				<field var='ids' type='list-multi'><validate xmlns='http://jabber.org/protocol/xdata-validate' datatype='xs:string'><open/></validate></field>
			</x>`,
			want: &Form{Type: TypeForm, Title: "Config", Instructions: []string{"one", "two"}, Fields: []Field{
				{Type: Fixed, Values: []string{"Section"}},
				{Var: "muc#roomconfig_whois", Type: ListSingle, Label: "Who", Desc: "Who may see JIDs", Required: true,
					Options: []Option{{Label: "Moderators", Value: "moderators"}, {Value: "anyone"}}, Values: []string{"anyone"}},
				{Var: "persistent", Type: Boolean, Values: []string{"true"}},
				{Var: "admins", Type: JIDMulti, Values: []string{"alice@example.net", "bob@example.net"}},
				{Var: "ids", Type: ListMulti, Extra: []*xml.Element{
					xml.New(NSValidate, "validate", "datatype", "xs:string").Append(xml.New(NSValidate, "open")),
				}},
			}},
		},
		{
			name: "cancel without fields",
			in:   `<x xmlns='jabber:x:data' type='cancel'/>`,
			want: &Form{Type: TypeCancel},
		},
		{name: "not a form", in: `<x xmlns='jabber:x:oob' type='submit'/>`},
		{name: "missing type", in: `<x xmlns='jabber:x:data'/>`},
		{name: "unknown type", in: `<x xmlns='jabber:x:data' type='query'/>`},
		{name: "unknown field type", in: `<x xmlns='jabber:x:data' type='submit'><field var='a' type='text-huge'/></x>`},
		{name: "missing var", in: `<x xmlns='jabber:x:data' type='submit'><field type='text-single'><value>x</value></field></x>`},
		{name: "duplicate var", in: `<x xmlns='jabber:x:data' type='submit'><field var='a'/><field var='a'/></x>`},
		{name: "two values in single field", in: `<x xmlns='jabber:x:data' type='submit'><field var='a' type='text-single'><value>1</value><value>2</value></field></x>`},
		{name: "bad boolean", in: `<x xmlns='jabber:x:data' type='submit'><field var='a' type='boolean'><value>yes</value></field></x>`},
		{name: "bad jid", in: `<x xmlns='jabber:x:data' type='submit'><field var='a' type='jid-single'><value>@nowhere</value></field></x>`},
		{name: "option without value", in: `<x xmlns='jabber:x:data' type='form'><field var='a' type='list-single'><option label='x'/></field></x>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(mustParseXML(t, tt.in))
			if tt.want == nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Parse = %+v, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d := cmp.Diff(tt.want, got, ignoreFrozen); d != "" {
				t.Errorf("Parse (-want +got):\n%s", d)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	f, err := Parse(mustParseXML(t, `<x xmlns='jabber:x:data' type='submit'>
		<field var='FORM_TYPE'><value>urn:example</value></field>
		<field var='flag' type='boolean'><value>1</value></field>
		<field var='empty' type='boolean'/>
		<field var='multi'><value>a</value><value>b</value></field>
	</x>`))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.FormType(); got != "urn:example" {
		t.Errorf("FormType = %q", got)
	}
	for _, tt := range []struct {
		v    string
		want bool
	}{{"flag", true}, {"empty", false}} {
		if got, err := f.Field(tt.v).Bool(); err != nil || got != tt.want {
			t.Errorf("Field(%q).Bool() = %v, %v; want %v", tt.v, got, err, tt.want)
		}
	}
	if got := f.Values("multi"); !cmp.Equal(got, []string{"a", "b"}) {
		t.Errorf("Values(multi) = %q", got)
	}
	if f.Field("absent") != nil || f.Value("absent") != "" || f.Values("absent") != nil {
		t.Error("absent field found")
	}
	f.Set("multi", "c").Set("new", "x")
	if f.Value("multi") != "c" || f.Value("new") != "x" {
		t.Errorf("Set: multi=%q new=%q", f.Value("multi"), f.Value("new"))
	}
}

func TestParseBool(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    bool
		wantErr bool
	}{
		{"1", true, false}, {"true", true, false}, {"0", false, false}, {"false", false, false},
		{"", false, false}, {"TRUE", false, true}, {"yes", false, true},
	} {
		got, err := ParseBool(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseBool(%q) = %v, %v", tt.in, got, err)
		}
	}
}

// TestRoundTrip checks that what Element writes, Parse reads back equal.
func TestRoundTrip(t *testing.T) {
	forms := []*Form{
		New(TypeForm, "urn:xmpp:mam:2",
			Field{Var: "with", Type: JIDSingle},
			Field{Var: "ids", Type: ListMulti, Extra: []*xml.Element{
				xml.New(NSValidate, "validate", "datatype", "xs:string").Append(xml.New(NSValidate, "open")),
			}},
			Field{Var: "include-groupchat", Type: Boolean, Values: []string{FormatBool(true)}},
		),
		{Type: TypeResult, Title: "T", Instructions: []string{"i"}, Fields: []Field{
			{Var: "l", Type: ListSingle, Label: "L", Desc: "D", Required: true,
				Options: []Option{{Label: "A", Value: "a"}}, Values: []string{"a"}},
		}},
		New(TypeSubmit, ""),
	}
	for _, f := range forms {
		b := f.Element().AppendXML(nil, "")
		got, err := Parse(mustParseXML(t, string(b)))
		if err != nil {
			t.Fatalf("Parse(%s): %v", b, err)
		}
		if d := cmp.Diff(f, got, ignoreFrozen); d != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", b, d)
		}
	}
}
