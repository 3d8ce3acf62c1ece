// Package dataform reads and writes XEP-0004 data forms (jabber:x:data).
//
// Several features carry their parameters in forms: archive queries
// (XEP-0313), room configuration (XEP-0045), publish options (XEP-0060).
// Each of them parses the <x/> element into a Form once, which rejects
// what XEP-0004 calls malformed (unknown types, missing or repeated vars,
// several values in a single-value field, bad booleans and JIDs), and then
// reads the fields it knows by var. Forms the server sends are built as a
// Form and rendered with Element.
package dataform

import (
	"errors"
	"fmt"

	"minimix/internal/jid"
	"minimix/internal/xml"
)

// NS is the data forms namespace.
const NS = "jabber:x:data"

// NSValidate is the XEP-0122 validation namespace, used by fields whose
// values are not limited to the options offered (the MAM ids field).
const NSValidate = "http://jabber.org/protocol/xdata-validate"

// FormTypeVar is the var of the XEP-0068 hidden field naming the form's
// purpose.
const FormTypeVar = "FORM_TYPE"

// ErrMalformed is wrapped by every error Parse and the typed accessors
// return, so that a caller can answer bad-request for all of them.
var ErrMalformed = errors.New("dataform: malformed form")

// Type is the type attribute of a form.
type Type string

// Form types of XEP-0004 section 3.1.
const (
	TypeForm   Type = "form"
	TypeSubmit Type = "submit"
	TypeCancel Type = "cancel"
	TypeResult Type = "result"
)

// FieldType is the type attribute of a field.
type FieldType string

// Field types of XEP-0004 section 3.3. A field without a type attribute
// has the empty FieldType: in a submitted form it takes the type of the
// field the form asked for, which only the receiver knows.
const (
	Boolean     FieldType = "boolean"
	Fixed       FieldType = "fixed"
	Hidden      FieldType = "hidden"
	JIDMulti    FieldType = "jid-multi"
	JIDSingle   FieldType = "jid-single"
	ListMulti   FieldType = "list-multi"
	ListSingle  FieldType = "list-single"
	TextMulti   FieldType = "text-multi"
	TextPrivate FieldType = "text-private"
	TextSingle  FieldType = "text-single"
)

// multi reports whether fields of type t may carry several values. The
// empty type may, because a submitted multi-value field often omits it.
func (t FieldType) multi() bool {
	switch t {
	case JIDMulti, ListMulti, TextMulti, "":
		return true
	}
	return false
}

func (t FieldType) known() bool {
	switch t {
	case Boolean, Fixed, Hidden, JIDMulti, JIDSingle, ListMulti, ListSingle,
		TextMulti, TextPrivate, TextSingle, "":
		return true
	}
	return false
}

// Option is one choice of a list field.
type Option struct {
	Label string
	Value string
}

// Field is one field of a form.
type Field struct {
	Var      string
	Type     FieldType
	Label    string
	Desc     string
	Required bool
	Values   []string
	Options  []Option
	// Extra holds child elements in other namespaces, kept as they are:
	// XEP-0122 <validate/>, XEP-0221 <media/>.
	Extra []*xml.Element
}

// Value returns the first value, or "".
func (f *Field) Value() string {
	if len(f.Values) == 0 {
		return ""
	}
	return f.Values[0]
}

// Bool returns the value of a boolean field; a field with no value is
// false, as XEP-0004 section 3.3 says.
func (f *Field) Bool() (bool, error) {
	b, err := ParseBool(f.Value())
	if err != nil {
		return false, fmt.Errorf("field %q: %w", f.Var, err)
	}
	return b, nil
}

// Form is a parsed or to-be-sent data form. Reported fields and items
// (multi-item results, XEP-0004 section 3.4) are not modelled: no feature
// of the server sends or reads them yet.
type Form struct {
	Type         Type
	Title        string
	Instructions []string
	Fields       []Field
}

// New returns a form of type typ whose first field is the hidden
// FORM_TYPE with value formType (omitted when formType is empty).
func New(typ Type, formType string, fields ...Field) *Form {
	f := &Form{Type: typ}
	if formType != "" {
		f.Fields = append(f.Fields, Field{Var: FormTypeVar, Type: Hidden, Values: []string{formType}})
	}
	f.Fields = append(f.Fields, fields...)
	return f
}

// Field returns the field with var v, or nil.
func (f *Form) Field(v string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Var == v {
			return &f.Fields[i]
		}
	}
	return nil
}

// Value returns the first value of field v, or "" if it is absent.
func (f *Form) Value(v string) string {
	if fl := f.Field(v); fl != nil {
		return fl.Value()
	}
	return ""
}

// Values returns the values of field v, or nil if it is absent.
func (f *Form) Values(v string) []string {
	if fl := f.Field(v); fl != nil {
		return fl.Values
	}
	return nil
}

// FormType returns the value of the FORM_TYPE field, or "".
func (f *Form) FormType() string { return f.Value(FormTypeVar) }

// Set replaces the values of field v, adding a field without type if
// there is none; it returns f for chaining.
func (f *Form) Set(v string, values ...string) *Form {
	if fl := f.Field(v); fl != nil {
		fl.Values = values
		return f
	}
	f.Fields = append(f.Fields, Field{Var: v, Values: values})
	return f
}

// ParseBool reads a XEP-0004 boolean: "1" or "true", "0" or "false". The
// empty string is false, as a boolean field with no value is.
func ParseBool(s string) (bool, error) {
	switch s {
	case "1", "true":
		return true, nil
	case "0", "false", "":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not a boolean", ErrMalformed, s)
}

// FormatBool writes a boolean as XEP-0004 prefers it in forms the server
// sends.
func FormatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Find returns the first data form child of el, or nil.
func Find(el *xml.Element) *xml.Element { return el.Child(NS, "x") }

// Parse reads and validates the form x. Every error wraps ErrMalformed.
func Parse(x *xml.Element) (*Form, error) {
	if x.Space != NS || x.Local != "x" {
		return nil, fmt.Errorf("%w: <%s xmlns=%q/> is not a data form", ErrMalformed, x.Local, x.Space)
	}
	f := &Form{Type: Type(x.Attr("type"))}
	switch f.Type {
	case TypeForm, TypeSubmit, TypeCancel, TypeResult:
	case "":
		return nil, fmt.Errorf("%w: missing type", ErrMalformed)
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrMalformed, f.Type)
	}
	seen := make(map[string]bool)
	for _, c := range x.Elements() {
		if c.Space != NS {
			continue // extensions of the form itself are not ours to judge
		}
		switch c.Local {
		case "title":
			f.Title = c.Text()
		case "instructions":
			f.Instructions = append(f.Instructions, c.Text())
		case "field":
			fl, err := parseField(c)
			if err != nil {
				return nil, err
			}
			if fl.Var != "" {
				// XEP-0004 3.2: var is unique within a form.
				if seen[fl.Var] {
					return nil, fmt.Errorf("%w: field %q appears twice", ErrMalformed, fl.Var)
				}
				seen[fl.Var] = true
			}
			f.Fields = append(f.Fields, fl)
		case "reported", "item":
			// Multi-item results are read by no feature; skip them
			// rather than reject a valid form.
		}
	}
	return f, nil
}

func parseField(c *xml.Element) (Field, error) {
	fl := Field{
		Var:   c.Attr("var"),
		Type:  FieldType(c.Attr("type")),
		Label: c.Attr("label"),
	}
	if !fl.Type.known() {
		return Field{}, fmt.Errorf("%w: field %q: unknown type %q", ErrMalformed, fl.Var, fl.Type)
	}
	if fl.Var == "" && fl.Type != Fixed {
		// XEP-0004 3.2: only fixed fields may lack a var.
		return Field{}, fmt.Errorf("%w: field of type %q without var", ErrMalformed, fl.Type)
	}
	for _, e := range c.Elements() {
		if e.Space != NS {
			fl.Extra = append(fl.Extra, e)
			continue
		}
		switch e.Local {
		case "value":
			fl.Values = append(fl.Values, e.Text())
		case "desc":
			fl.Desc = e.Text()
		case "required":
			fl.Required = true
		case "option":
			o := Option{Label: e.Attr("label")}
			v := e.Child(NS, "value")
			if v == nil {
				return Field{}, fmt.Errorf("%w: field %q: option without value", ErrMalformed, fl.Var)
			}
			o.Value = v.Text()
			fl.Options = append(fl.Options, o)
		}
	}
	if len(fl.Values) > 1 && !fl.Type.multi() {
		return Field{}, fmt.Errorf("%w: field %q of type %q has %d values", ErrMalformed, fl.Var, fl.Type, len(fl.Values))
	}
	switch fl.Type {
	case Boolean:
		if _, err := fl.Bool(); err != nil {
			return Field{}, err
		}
	case JIDSingle, JIDMulti:
		for i, v := range fl.Values {
			j, err := jid.Parse(v)
			if err != nil {
				return Field{}, fmt.Errorf("%w: field %q: %v", ErrMalformed, fl.Var, err)
			}
			fl.Values[i] = j.String() // prepared, so callers compare as is
		}
	}
	return fl, nil
}

// Element renders f as an <x xmlns='jabber:x:data'/> element.
func (f *Form) Element() *xml.Element {
	x := xml.New(NS, "x", "type", string(f.Type))
	if f.Title != "" {
		x.Append(xml.New(NS, "title").AppendText(f.Title))
	}
	for _, in := range f.Instructions {
		x.Append(xml.New(NS, "instructions").AppendText(in))
	}
	for i := range f.Fields {
		x.Append(f.Fields[i].Element())
	}
	return x
}

// Element renders fl as a <field/> element.
func (fl *Field) Element() *xml.Element {
	e := xml.New(NS, "field")
	e.SetAttr("var", fl.Var)
	e.SetAttr("type", string(fl.Type))
	e.SetAttr("label", fl.Label)
	if fl.Desc != "" {
		e.Append(xml.New(NS, "desc").AppendText(fl.Desc))
	}
	if fl.Required {
		e.Append(xml.New(NS, "required"))
	}
	for _, v := range fl.Values {
		e.Append(xml.New(NS, "value").AppendText(v))
	}
	for _, o := range fl.Options {
		oe := xml.New(NS, "option")
		oe.SetAttr("label", o.Label)
		e.Append(oe.Append(xml.New(NS, "value").AppendText(o.Value)))
	}
	e.Append(fl.Extra...)
	return e
}
