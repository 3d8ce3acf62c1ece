package pep

import (
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Error returns the stanza error c with the XEP-0060 application
// condition app (in pubsub#errors) when app is not empty, such as
// Error(xmpperr.BadRequest, "invalid-payload", text).
func Error(c xmpperr.Condition, app, text string) *xmpperr.StanzaError {
	se := xmpperr.New(c, text)
	if app != "" {
		se.WithApp(xml.New(NSErrors, app))
	}
	return se
}

// unsupported is feature-not-implemented with <unsupported feature=.../>
// (XEP-0060 section 7.1.3.x and friends).
func unsupported(feature string) *xmpperr.StanzaError {
	return xmpperr.New(xmpperr.FeatureNotImplemented, "").
		WithApp(xml.New(NSErrors, "unsupported", "feature", feature))
}

func nodeIDRequired() *xmpperr.StanzaError {
	return Error(xmpperr.BadRequest, "nodeid-required", "a node is required")
}

func itemRequired() *xmpperr.StanzaError {
	return Error(xmpperr.BadRequest, "item-required", "an item is required")
}

func invalidPayload(text string) *xmpperr.StanzaError {
	return Error(xmpperr.BadRequest, "invalid-payload", text)
}

func preconditionNotMet(text string) *xmpperr.StanzaError {
	return Error(xmpperr.ConflictC, "precondition-not-met", text)
}

func nodeNotFound() *xmpperr.StanzaError {
	return xmpperr.New(xmpperr.ItemNotFound, "no such node")
}

func forbidden(text string) *xmpperr.StanzaError {
	return xmpperr.New(xmpperr.Forbidden, text)
}
