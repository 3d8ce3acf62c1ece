package rsm

import (
	"errors"
	"testing"

	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

func TestParse(t *testing.T) {
	const def, limit = 50, 250
	tests := []struct {
		name    string
		in      string // "" for no <set/>
		want    Query
		wantErr bool
	}{
		{name: "absent", want: Query{Max: 50, Index: -1}},
		{name: "empty", in: `<set xmlns='http://jabber.org/protocol/rsm'/>`, want: Query{Max: 50, Index: -1}},
		{name: "max", in: `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set>`, want: Query{Max: 10, Index: -1}},
		{name: "max zero", in: `<set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>`, want: Query{Max: 0, Index: -1}},
		{name: "max capped", in: `<set xmlns='http://jabber.org/protocol/rsm'><max>1000</max></set>`, want: Query{Max: 250, Index: -1}},
		{name: "max overflow capped", in: `<set xmlns='http://jabber.org/protocol/rsm'><max>99999999999999999999999</max></set>`, want: Query{Max: 250, Index: -1}},
		{name: "after", in: `<set xmlns='http://jabber.org/protocol/rsm'><max>5</max><after>abc</after></set>`, want: Query{Max: 5, After: "abc", Index: -1}},
		{name: "before empty", in: `<set xmlns='http://jabber.org/protocol/rsm'><before/></set>`, want: Query{Max: 50, Backward: true, Index: -1}},
		{name: "before id", in: `<set xmlns='http://jabber.org/protocol/rsm'><before>xyz</before></set>`, want: Query{Max: 50, Before: "xyz", Backward: true, Index: -1}},
		{name: "index", in: `<set xmlns='http://jabber.org/protocol/rsm'><index>7</index></set>`, want: Query{Max: 50, Index: 7}},
		{name: "foreign child ignored", in: `<set xmlns='http://jabber.org/protocol/rsm'><max xmlns='urn:other'>x</max></set>`, want: Query{Max: 50, Index: -1}},
		{name: "negative max", in: `<set xmlns='http://jabber.org/protocol/rsm'><max>-1</max></set>`, wantErr: true},
		{name: "plus max", in: `<set xmlns='http://jabber.org/protocol/rsm'><max>+1</max></set>`, wantErr: true},
		{name: "text max", in: `<set xmlns='http://jabber.org/protocol/rsm'><max>ten</max></set>`, wantErr: true},
		{name: "empty max", in: `<set xmlns='http://jabber.org/protocol/rsm'><max/></set>`, wantErr: true},
		{name: "empty after", in: `<set xmlns='http://jabber.org/protocol/rsm'><after/></set>`, wantErr: true},
		{name: "negative index", in: `<set xmlns='http://jabber.org/protocol/rsm'><index>-2</index></set>`, wantErr: true},
		{name: "wrong element", in: `<set xmlns='urn:other'/>`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var set *xml.Element
			if tt.in != "" {
				var err error
				if set, err = xml.Parse([]byte(tt.in)); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Parse(set, def, limit)
			if tt.wantErr {
				var se *xmpperr.StanzaError
				if !errors.As(err, &se) || se.Condition != xmpperr.BadRequest {
					t.Fatalf("Parse = %+v, %v; want bad-request", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseDefaultAboveLimit(t *testing.T) {
	got, err := Parse(nil, 100, 10)
	if err != nil || got.Max != 10 {
		t.Errorf("Parse(nil, 100, 10) = %+v, %v; want Max 10", got, err)
	}
}

func TestResultElement(t *testing.T) {
	tests := []struct {
		name string
		in   Result
		want string
	}{
		{
			name: "page",
			in:   Result{First: "a", Last: "c", FirstIndex: 3, Count: 10},
			want: `<set xmlns="http://jabber.org/protocol/rsm"><first index="3">a</first><last>c</last><count>10</count></set>`,
		},
		{
			name: "empty page",
			in:   Result{FirstIndex: 0, Count: 4},
			want: `<set xmlns="http://jabber.org/protocol/rsm"><count>4</count></set>`,
		},
		{
			name: "no index no count",
			in:   Result{First: "a", Last: "a", FirstIndex: -1, Count: -1},
			want: `<set xmlns="http://jabber.org/protocol/rsm"><first>a</first><last>a</last></set>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Element().String(); got != tt.want {
				t.Errorf("Element() = %s\nwant %s", got, tt.want)
			}
		})
	}
}
