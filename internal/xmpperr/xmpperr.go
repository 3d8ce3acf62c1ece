// Package xmpperr is the closed vocabulary of XMPP error conditions: stream
// errors (RFC 6120 4.9.3) and stanza errors (RFC 6120 8.3.3), as Go errors
// that know how to render themselves.
package xmpperr

import (
	"minimix/internal/xml"
)

// Namespaces of the error vocabularies.
const (
	NSStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// StreamCondition is a defined stream error condition.
type StreamCondition string

// Stream error conditions of RFC 6120 4.9.3.
const (
	BadFormat              StreamCondition = "bad-format"
	BadNamespacePrefix     StreamCondition = "bad-namespace-prefix"
	Conflict               StreamCondition = "conflict"
	ConnectionTimeout      StreamCondition = "connection-timeout"
	HostGone               StreamCondition = "host-gone"
	HostUnknown            StreamCondition = "host-unknown"
	ImproperAddressing     StreamCondition = "improper-addressing"
	InternalServerError    StreamCondition = "internal-server-error"
	InvalidFrom            StreamCondition = "invalid-from"
	InvalidNamespace       StreamCondition = "invalid-namespace"
	InvalidXML             StreamCondition = "invalid-xml"
	NotAuthorized          StreamCondition = "not-authorized"
	NotWellFormed          StreamCondition = "not-well-formed"
	PolicyViolation        StreamCondition = "policy-violation"
	RemoteConnectionFailed StreamCondition = "remote-connection-failed"
	Reset                  StreamCondition = "reset"
	ResourceConstraint     StreamCondition = "resource-constraint"
	RestrictedXML          StreamCondition = "restricted-xml"
	SeeOtherHost           StreamCondition = "see-other-host"
	SystemShutdown         StreamCondition = "system-shutdown"
	UndefinedCondition     StreamCondition = "undefined-condition"
	UnsupportedEncoding    StreamCondition = "unsupported-encoding"
	UnsupportedFeature     StreamCondition = "unsupported-feature"
	UnsupportedStanzaType  StreamCondition = "unsupported-stanza-type"
	UnsupportedVersion     StreamCondition = "unsupported-version"
)

// StreamError is a stream-level error; sending it ends the stream.
type StreamError struct {
	Condition StreamCondition
	Text      string
	App       *xml.Element // application-specific condition, optional
	// Data is the condition element's character data: the address a
	// see-other-host error sends the peer to (RFC 6120 4.9.3.19).
	Data string
}

// Stream returns a StreamError with condition c and optional text.
func Stream(c StreamCondition, text string) *StreamError {
	return &StreamError{Condition: c, Text: text}
}

func (e *StreamError) Error() string {
	if e.Text != "" {
		return "stream error: " + string(e.Condition) + ": " + e.Text
	}
	return "stream error: " + string(e.Condition)
}

// Element renders e as <stream:error/> (in the streams namespace).
func (e *StreamError) Element() *xml.Element {
	el := xml.New(xml.NSStream, "error")
	cond := xml.New(NSStreams, string(e.Condition))
	if e.Data != "" {
		cond.AppendText(e.Data)
	}
	el.Append(cond)
	if e.Text != "" {
		t := xml.New(NSStreams, "text").AppendText(e.Text)
		t.Attrs = append(t.Attrs, xml.Attr{Space: xml.NSXML, Local: "lang", Value: "en"})
		el.Append(t)
	}
	el.Append(e.App)
	return el
}

// ErrorType is the type attribute of a stanza error.
type ErrorType string

// Stanza error types of RFC 6120 8.3.2.
const (
	Auth     ErrorType = "auth"
	Cancel   ErrorType = "cancel"
	Continue ErrorType = "continue"
	Modify   ErrorType = "modify"
	Wait     ErrorType = "wait"
)

// Condition is a defined stanza error condition.
type Condition string

// Stanza error conditions of RFC 6120 8.3.3.
const (
	BadRequest            Condition = "bad-request"
	ConflictC             Condition = "conflict"
	FeatureNotImplemented Condition = "feature-not-implemented"
	Forbidden             Condition = "forbidden"
	Gone                  Condition = "gone"
	InternalServerErrorC  Condition = "internal-server-error"
	ItemNotFound          Condition = "item-not-found"
	JIDMalformed          Condition = "jid-malformed"
	NotAcceptable         Condition = "not-acceptable"
	NotAllowed            Condition = "not-allowed"
	NotAuthorizedC        Condition = "not-authorized"
	PolicyViolationC      Condition = "policy-violation"
	RecipientUnavailable  Condition = "recipient-unavailable"
	Redirect              Condition = "redirect"
	RegistrationRequired  Condition = "registration-required"
	RemoteServerNotFound  Condition = "remote-server-not-found"
	RemoteServerTimeout   Condition = "remote-server-timeout"
	ResourceConstraintC   Condition = "resource-constraint"
	ServiceUnavailable    Condition = "service-unavailable"
	SubscriptionRequired  Condition = "subscription-required"
	UndefinedConditionC   Condition = "undefined-condition"
	UnexpectedRequest     Condition = "unexpected-request"
)

// defaultType is the error type RFC 6120 8.3.3 suggests for each condition.
var defaultType = map[Condition]ErrorType{
	BadRequest:            Modify,
	ConflictC:             Cancel,
	FeatureNotImplemented: Cancel,
	Forbidden:             Auth,
	Gone:                  Cancel,
	InternalServerErrorC:  Cancel,
	ItemNotFound:          Cancel,
	JIDMalformed:          Modify,
	NotAcceptable:         Modify,
	NotAllowed:            Cancel,
	NotAuthorizedC:        Auth,
	PolicyViolationC:      Modify,
	RecipientUnavailable:  Wait,
	Redirect:              Modify,
	RegistrationRequired:  Auth,
	RemoteServerNotFound:  Cancel,
	RemoteServerTimeout:   Wait,
	ResourceConstraintC:   Wait,
	ServiceUnavailable:    Cancel,
	SubscriptionRequired:  Auth,
	UndefinedConditionC:   Cancel,
	UnexpectedRequest:     Wait,
}

// StanzaError is an error to return in a stanza of type error.
type StanzaError struct {
	Type      ErrorType
	Condition Condition
	Text      string
	By        string       // the by attribute, optional
	App       *xml.Element // application-specific condition, optional
}

// New returns a StanzaError with the condition's usual type.
func New(c Condition, text string) *StanzaError {
	t, ok := defaultType[c]
	if !ok {
		t = Cancel
	}
	return &StanzaError{Type: t, Condition: c, Text: text}
}

// WithApp adds an application-specific condition element.
func (e *StanzaError) WithApp(app *xml.Element) *StanzaError { e.App = app; return e }

// WithType overrides the error type.
func (e *StanzaError) WithType(t ErrorType) *StanzaError { e.Type = t; return e }

func (e *StanzaError) Error() string {
	if e.Text != "" {
		return "stanza error: " + string(e.Condition) + ": " + e.Text
	}
	return "stanza error: " + string(e.Condition)
}

// Element renders e as an <error/> child in namespace ns (the stanza's).
func (e *StanzaError) Element(ns string) *xml.Element {
	el := xml.New(ns, "error", "type", string(e.Type))
	if e.By != "" {
		el.SetAttr("by", e.By)
	}
	el.Append(xml.New(NSStanzas, string(e.Condition)))
	if e.Text != "" {
		t := xml.New(NSStanzas, "text").AppendText(e.Text)
		t.Attrs = append(t.Attrs, xml.Attr{Space: xml.NSXML, Local: "lang", Value: "en"})
		el.Append(t)
	}
	el.Append(e.App)
	return el
}

// FromElement reads the <error/> child of a stanza, if any.
func FromElement(stanza *xml.Element) *StanzaError {
	el := stanza.Child("", "error")
	if el == nil {
		return nil
	}
	se := &StanzaError{Type: ErrorType(el.Attr("type")), By: el.Attr("by")}
	cond, text, app := conditions(el, NSStanzas)
	se.Condition, se.Text, se.App = Condition(cond), text, app
	if se.Condition == "" {
		se.Condition = UndefinedConditionC
	}
	return se
}

// conditions reads an error element: the defined condition and text in
// namespace ns, and an application-specific condition.
func conditions(el *xml.Element, ns string) (cond, text string, app *xml.Element) {
	for _, c := range el.Elements() {
		switch {
		case c.Space == ns && c.Local == "text":
			text = c.Text()
		case c.Space == ns && cond == "":
			cond = c.Local
		case c.Space != ns:
			app = c
		}
	}
	return cond, text, app
}

// StreamFromElement reads a received <stream:error/>; the condition is
// undefined-condition when it names none.
func StreamFromElement(el *xml.Element) *StreamError {
	cond, text, app := conditions(el, NSStreams)
	se := &StreamError{Condition: StreamCondition(cond), Text: text, App: app}
	if se.Condition == "" {
		se.Condition = UndefinedCondition
	}
	return se
}
