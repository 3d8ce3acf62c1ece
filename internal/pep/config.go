package pep

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"minimix/internal/dataform"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Access models (pubsub#access_model) the service supports. The roster
// and authorize models of XEP-0060 are not offered.
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessWhitelist = "whitelist"
)

// Values of pubsub#send_last_published_item.
const (
	SendLastNever            = "never"
	SendLastOnSub            = "on_sub"
	SendLastOnSubAndPresence = "on_sub_and_presence"
)

// MaxItemsMax is the NodeConfig.MaxItems that means "max": whatever the
// service's maximum is, now and later.
const MaxItemsMax = -1

// maxTextOption bounds free-text options (title, type).
const maxTextOption = 1024

// maxAffiliations bounds the members and outcasts of one node.
const maxAffiliations = 1000

// NodeConfig is the configuration of a node (XEP-0060 section 16.4.3,
// pubsub#node_config), with the affiliations the whitelist model uses.
type NodeConfig struct {
	AccessModel           string   `json:"access_model"`
	PublishModel          string   `json:"publish_model"`
	PersistItems          bool     `json:"persist_items"`
	MaxItems              int      `json:"max_items"` // MaxItemsMax or at least 1
	SendLastPublishedItem string   `json:"send_last_published_item"`
	NotifyRetract         bool     `json:"notify_retract"`
	NotifyDelete          bool     `json:"notify_delete"`
	DeliverPayloads       bool     `json:"deliver_payloads"`
	DeliverNotifications  bool     `json:"deliver_notifications"`
	NotificationType      string   `json:"notification_type"` // headline or normal
	Title                 string   `json:"title,omitempty"`
	Type                  string   `json:"type,omitempty"`
	Members               []string `json:"members,omitempty"`  // bare JIDs
	Outcasts              []string `json:"outcasts,omitempty"` // bare JIDs
}

// DefaultNodeConfig is the configuration of a node created without
// options: what XEP-0163 section 4.5 gives PEP nodes (presence access,
// the last item kept and sent on presence).
func DefaultNodeConfig() NodeConfig {
	return NodeConfig{
		AccessModel:           AccessPresence,
		PublishModel:          "publishers",
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

// EffectiveMax returns how many items c keeps when the service keeps at
// most max.
func (c *NodeConfig) EffectiveMax(max int) int {
	if c.MaxItems == MaxItemsMax || c.MaxItems > max {
		return max
	}
	return c.MaxItems
}

func (c *NodeConfig) marshal() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("pep: marshal node config: %v", err)) // plain struct: cannot fail
	}
	return b
}

// unmarshalConfig reads a stored configuration; options it lacks (stored
// by an older version) take their defaults.
func unmarshalConfig(b []byte) (NodeConfig, error) {
	c := DefaultNodeConfig()
	if err := json.Unmarshal(b, &c); err != nil {
		return NodeConfig{}, fmt.Errorf("pep: stored node config: %w", err)
	}
	return c, nil
}

// option describes one field of the node configuration form.
type option struct {
	typ     dataform.FieldType
	label   string
	choices []string
	// value returns the value shown in forms; canon the value compared
	// with publish options (max_items "max" is the maximum there).
	value func(c *NodeConfig) string
	canon func(c *NodeConfig, max int) string
	set   func(c *NodeConfig, v string, max int) *xmpperr.StanzaError
}

// optionVars are the configuration fields in the order forms list them.
var optionVars = []string{
	"pubsub#title",
	"pubsub#type",
	"pubsub#access_model",
	"pubsub#publish_model",
	"pubsub#persist_items",
	"pubsub#max_items",
	"pubsub#send_last_published_item",
	"pubsub#deliver_notifications",
	"pubsub#deliver_payloads",
	"pubsub#notify_retract",
	"pubsub#notify_delete",
	"pubsub#notification_type",
}

// options describes each configuration field by var.
var options = map[string]option{
	"pubsub#title":                    textOption("A friendly name for the node", func(c *NodeConfig) *string { return &c.Title }),
	"pubsub#type":                     textOption("The type of node data, usually the payload namespace", func(c *NodeConfig) *string { return &c.Type }),
	"pubsub#access_model":             listOption("Who may subscribe and retrieve items", []string{AccessOpen, AccessPresence, AccessWhitelist}, func(c *NodeConfig) *string { return &c.AccessModel }, unsupportedAccess),
	"pubsub#publish_model":            listOption("Who may publish", []string{"publishers"}, func(c *NodeConfig) *string { return &c.PublishModel }, nil),
	"pubsub#persist_items":            boolOption("Persist items to storage", func(c *NodeConfig) *bool { return &c.PersistItems }),
	"pubsub#send_last_published_item": listOption("When to send the last published item", []string{SendLastNever, SendLastOnSub, SendLastOnSubAndPresence}, func(c *NodeConfig) *string { return &c.SendLastPublishedItem }, nil),
	"pubsub#deliver_notifications":    boolOption("Deliver event notifications", func(c *NodeConfig) *bool { return &c.DeliverNotifications }),
	"pubsub#deliver_payloads":         boolOption("Deliver payloads with event notifications", func(c *NodeConfig) *bool { return &c.DeliverPayloads }),
	"pubsub#notify_retract":           boolOption("Notify subscribers when items are removed from the node", func(c *NodeConfig) *bool { return &c.NotifyRetract }),
	"pubsub#notify_delete":            boolOption("Notify subscribers when the node is deleted", func(c *NodeConfig) *bool { return &c.NotifyDelete }),
	"pubsub#notification_type":        listOption("Message type of event notifications", []string{"headline", "normal"}, func(c *NodeConfig) *string { return &c.NotificationType }, nil),
	"pubsub#max_items": {
		typ:   dataform.TextSingle,
		label: "Max # of items to persist (\"max\" for the service maximum)",
		value: func(c *NodeConfig) string {
			if c.MaxItems == MaxItemsMax {
				return "max"
			}
			return strconv.Itoa(c.MaxItems)
		},
		canon: func(c *NodeConfig, max int) string { return strconv.Itoa(c.EffectiveMax(max)) },
		set: func(c *NodeConfig, v string, max int) *xmpperr.StanzaError {
			if v == "max" {
				c.MaxItems = MaxItemsMax
				return nil
			}
			n, err := strconv.Atoi(v)
			switch {
			case err != nil || n < 1:
				return xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("pubsub#max_items must be a positive number or max, not %q", v))
			case n > max:
				return Error(xmpperr.PolicyViolationC, "max-items-exceeded",
					fmt.Sprintf("a node keeps at most %d items", max))
			}
			c.MaxItems = n
			return nil
		},
	},
}

func unsupportedAccess(v string) *xmpperr.StanzaError {
	return Error(xmpperr.NotAcceptable, "unsupported-access-model", "access model "+v+" is not supported")
}

func textOption(label string, field func(*NodeConfig) *string) option {
	get := func(c *NodeConfig) string { return *field(c) }
	return option{
		typ:   dataform.TextSingle,
		label: label,
		value: get,
		canon: func(c *NodeConfig, _ int) string { return get(c) },
		set: func(c *NodeConfig, v string, _ int) *xmpperr.StanzaError {
			if len(v) > maxTextOption {
				return xmpperr.New(xmpperr.NotAcceptable, "option value too long")
			}
			*field(c) = v
			return nil
		},
	}
}

func listOption(label string, choices []string, field func(*NodeConfig) *string, unsupported func(string) *xmpperr.StanzaError) option {
	get := func(c *NodeConfig) string { return *field(c) }
	return option{
		typ:     dataform.ListSingle,
		label:   label,
		choices: choices,
		value:   get,
		canon:   func(c *NodeConfig, _ int) string { return get(c) },
		set: func(c *NodeConfig, v string, _ int) *xmpperr.StanzaError {
			if !slices.Contains(choices, v) {
				if unsupported != nil {
					return unsupported(v)
				}
				return xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("value %q is not supported", v))
			}
			*field(c) = v
			return nil
		},
	}
}

func boolOption(label string, field func(*NodeConfig) *bool) option {
	get := func(c *NodeConfig) string { return dataform.FormatBool(*field(c)) }
	return option{
		typ:   dataform.Boolean,
		label: label,
		value: get,
		canon: func(c *NodeConfig, _ int) string { return get(c) },
		set: func(c *NodeConfig, v string, _ int) *xmpperr.StanzaError {
			b, err := dataform.ParseBool(v)
			if err != nil {
				return xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("%q is not a boolean", v))
			}
			*field(c) = b
			return nil
		},
	}
}

// Form renders c as a node configuration form of type typ.
func (c *NodeConfig) Form(typ dataform.Type) *dataform.Form {
	f := dataform.New(typ, FormNodeConfig)
	for _, v := range optionVars {
		o := options[v]
		fl := dataform.Field{Var: v, Type: o.typ, Label: o.label, Values: []string{o.value(c)}}
		for _, ch := range o.choices {
			fl.Options = append(fl.Options, dataform.Option{Value: ch})
		}
		f.Fields = append(f.Fields, fl)
	}
	return f
}

// parseOptionsForm reads a submitted configuration or publish-options
// form: bad-request when it is no form, not submitted, or of another
// FORM_TYPE than the wanted ones.
func parseOptionsForm(x *xml.Element, formTypes ...string) (*dataform.Form, error) {
	if x == nil {
		return nil, xmpperr.New(xmpperr.BadRequest, "a data form is required")
	}
	f, err := dataform.Parse(x)
	if err != nil {
		return nil, xmpperr.New(xmpperr.BadRequest, err.Error())
	}
	if f.Type != dataform.TypeSubmit {
		return nil, xmpperr.New(xmpperr.BadRequest, "the form must be submitted (type submit)")
	}
	if ft := f.FormType(); ft != "" && !slices.Contains(formTypes, ft) {
		return nil, xmpperr.New(xmpperr.BadRequest, "unexpected FORM_TYPE "+ft)
	}
	return f, nil
}

// apply sets the options of f on c. Unknown fields are ignored when
// lenient (a configuration form may echo fields of other services) and
// refused otherwise, as a publish option the service cannot honour is a
// precondition it cannot meet.
func (c *NodeConfig) apply(f *dataform.Form, max int, lenient bool) *xmpperr.StanzaError {
	for _, fl := range f.Fields {
		if fl.Var == dataform.FormTypeVar {
			continue
		}
		o, ok := options[fl.Var]
		if !ok {
			if lenient {
				continue
			}
			return preconditionNotMet("option " + fl.Var + " is not supported")
		}
		if len(fl.Values) > 1 {
			return xmpperr.New(xmpperr.NotAcceptable, fl.Var+" takes one value")
		}
		if err := o.set(c, fl.Value(), max); err != nil {
			return err
		}
	}
	return nil
}

// check verifies publish options against the configuration of an
// existing node (XEP-0060 section 7.1.5): every option must already have
// the requested value, else conflict with precondition-not-met.
func (c *NodeConfig) check(f *dataform.Form, max int) *xmpperr.StanzaError {
	for _, fl := range f.Fields {
		if fl.Var == dataform.FormTypeVar {
			continue
		}
		o, ok := options[fl.Var]
		if !ok {
			return preconditionNotMet("option " + fl.Var + " is not supported")
		}
		want := *c
		if err := o.set(&want, fl.Value(), max); err != nil {
			return preconditionNotMet(fmt.Sprintf("%s cannot be %q", fl.Var, fl.Value()))
		}
		if o.canon(&want, max) != o.canon(c, max) {
			return preconditionNotMet(fmt.Sprintf("node has %s %q", fl.Var, o.value(c)))
		}
	}
	return nil
}
