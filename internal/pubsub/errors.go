package pubsub

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

// Unsupported is feature-not-implemented with <unsupported feature=.../>
// (XEP-0060 section 7.1.3.x and friends).
func Unsupported(feature string) *xmpperr.StanzaError {
	return xmpperr.New(xmpperr.FeatureNotImplemented, "").
		WithApp(xml.New(NSErrors, "unsupported", "feature", feature))
}

// NodeIDRequired is the error for a request that names no node.
func NodeIDRequired() *xmpperr.StanzaError {
	return Error(xmpperr.BadRequest, "nodeid-required", "a node is required")
}

// ItemRequired is the error for a publish or retract without an item.
func ItemRequired() *xmpperr.StanzaError {
	return Error(xmpperr.BadRequest, "item-required", "an item is required")
}

// InvalidPayload is the error for a payload the node cannot take.
func InvalidPayload(text string) *xmpperr.StanzaError {
	return Error(xmpperr.BadRequest, "invalid-payload", text)
}

// PreconditionNotMet is the error for publish options a node does not
// meet.
func PreconditionNotMet(text string) *xmpperr.StanzaError {
	return Error(xmpperr.ConflictC, "precondition-not-met", text)
}

// NodeNotFound is the error for a node that does not exist.
func NodeNotFound() *xmpperr.StanzaError {
	return xmpperr.New(xmpperr.ItemNotFound, "no such node")
}

// Forbidden is the error for a request the requester may not make.
func Forbidden(text string) *xmpperr.StanzaError {
	return xmpperr.New(xmpperr.Forbidden, text)
}
