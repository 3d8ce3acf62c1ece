package pep

import (
	"minimix/internal/dataform"
	"minimix/internal/pubsub"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Access models (pubsub#access_model) the service supports. The roster
// and authorize models of XEP-0060 are not offered.
const (
	AccessOpen      = pubsub.AccessOpen
	AccessPresence  = pubsub.AccessPresence
	AccessWhitelist = pubsub.AccessWhitelist
)

// Values of pubsub#send_last_published_item.
const (
	SendLastNever            = pubsub.SendLastNever
	SendLastOnSub            = pubsub.SendLastOnSub
	SendLastOnSubAndPresence = pubsub.SendLastOnSubAndPresence
)

// MaxItemsMax is the NodeConfig.MaxItems that means "max": whatever the
// service's maximum is, now and later.
const MaxItemsMax = pubsub.MaxItemsMax

// maxAffiliations bounds the members and outcasts of one node.
const maxAffiliations = 1000

// NodeConfig is the configuration of a node (XEP-0060 section 16.4.3,
// pubsub#node_config), with the affiliations the whitelist model uses.
type NodeConfig = pubsub.NodeConfig

// DefaultNodeConfig is the configuration of a node created without
// options: what XEP-0163 section 4.5 gives PEP nodes (presence access,
// the last item kept and sent on presence).
func DefaultNodeConfig() NodeConfig {
	return NodeConfig{
		AccessModel:           AccessPresence,
		PublishModel:          pubsub.PublishPublishers,
		PersistItems:          true,
		MaxItems:              1,
		SendLastPublishedItem: SendLastOnSubAndPresence,
		NotifyRetract:         true,
		NotifyDelete:          true,
		DeliverPayloads:       true,
		DeliverNotifications:  true,
		NotificationType:      "headline",
	}
}

// options are the configuration values PEP offers when a node keeps at
// most max items.
func options(max int) *pubsub.Options {
	return &pubsub.Options{
		AccessModels:  []string{AccessOpen, AccessPresence, AccessWhitelist},
		PublishModels: []string{pubsub.PublishPublishers},
		SendLast:      []string{SendLastNever, SendLastOnSub, SendLastOnSubAndPresence},
		MaxItems:      max,
	}
}

// unmarshalConfig reads a stored configuration; options it lacks (stored
// by an older version) take their defaults.
func unmarshalConfig(b []byte) (NodeConfig, error) {
	return pubsub.UnmarshalConfig(b, DefaultNodeConfig())
}

// configForm renders c as a node configuration form of type typ.
func configForm(c *NodeConfig, typ dataform.Type) *dataform.Form {
	return options(0).Form(c, typ)
}

// parseOptionsForm reads a submitted configuration or publish-options
// form.
func parseOptionsForm(x *xml.Element, formTypes ...string) (*dataform.Form, error) {
	return pubsub.ParseOptionsForm(x, formTypes...)
}

// apply sets the options of f on c (pubsub.Options.Apply).
func apply(c *NodeConfig, f *dataform.Form, max int, lenient bool) *xmpperr.StanzaError {
	return options(max).Apply(c, f, lenient)
}

// check verifies publish options against an existing node's
// configuration (pubsub.Options.Check).
func check(c *NodeConfig, f *dataform.Form, max int) *xmpperr.StanzaError {
	return options(max).Check(c, f)
}
