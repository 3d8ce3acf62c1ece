package xml

// Stream error conditions (RFC 6120 4.9.3) that the decoder reports.
const (
	condNotWellFormed       = "not-well-formed"
	condRestrictedXML       = "restricted-xml"
	condPolicyViolation     = "policy-violation"
	condBadNamespacePrefix  = "bad-namespace-prefix"
	condInvalidNamespace    = "invalid-namespace"
	condUnsupportedEncoding = "unsupported-encoding"
)

// Error is a syntax or policy error found in the input. Condition is the
// RFC 6120 stream error condition to send before closing the stream:
// "not-well-formed", "restricted-xml", "policy-violation",
// "bad-namespace-prefix", "invalid-namespace" or "unsupported-encoding".
// TooBig is set when a top-level element exceeded Limits.MaxStanzaBytes, so
// that the caller can add <stanza-too-big xmlns='urn:xmpp:errors'/> to the
// policy-violation.
type Error struct {
	Condition string
	Text      string
	TooBig    bool
}

func (e *Error) Error() string {
	if e.Text == "" {
		return "xml: " + e.Condition
	}
	return "xml: " + e.Condition + ": " + e.Text
}

func notWellFormed(text string) *Error { return &Error{Condition: condNotWellFormed, Text: text} }

func restricted(text string) *Error { return &Error{Condition: condRestrictedXML, Text: text} }

func badPrefix(text string) *Error { return &Error{Condition: condBadNamespacePrefix, Text: text} }
