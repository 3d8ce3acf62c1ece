package pep

import (
	"minimix/internal/pubsub"
	"minimix/internal/xmpperr"
)

// Error returns the stanza error c with the XEP-0060 application
// condition app (in pubsub#errors) when app is not empty, such as
// Error(xmpperr.BadRequest, "invalid-payload", text).
func Error(c xmpperr.Condition, app, text string) *xmpperr.StanzaError {
	return pubsub.Error(c, app, text)
}

// The errors of XEP-0060 that PEP gives, from package pubsub.
var (
	unsupported        = pubsub.Unsupported
	nodeIDRequired     = pubsub.NodeIDRequired
	itemRequired       = pubsub.ItemRequired
	invalidPayload     = pubsub.InvalidPayload
	preconditionNotMet = pubsub.PreconditionNotMet
	nodeNotFound       = pubsub.NodeNotFound
	forbidden          = pubsub.Forbidden
)
