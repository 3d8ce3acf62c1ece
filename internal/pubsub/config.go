package pubsub

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"minimix/internal/dataform"
	"minimix/internal/xml"
	"minimix/internal/xmpperr"
)

// Access models (pubsub#access_model). Which of them a service offers is
// its Options'.
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessWhitelist = "whitelist"
	AccessAuthorize = "authorize"
)

// Publish models (pubsub#publish_model).
const (
	PublishPublishers  = "publishers"
	PublishSubscribers = "subscribers"
	PublishOpen        = "open"
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

// NodeConfig is the configuration of a node (XEP-0060 section 16.4.3,
// pubsub#node_config). Members and Outcasts are the affiliations PEP
// keeps with the configuration; the generic service keeps its own.
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

// EffectiveMax returns how many items c keeps when the service keeps at
// most max.
func (c *NodeConfig) EffectiveMax(max int) int {
	if c.MaxItems == MaxItemsMax || c.MaxItems > max {
		return max
	}
	return c.MaxItems
}

// Marshal returns c as storage keeps it.
func (c *NodeConfig) Marshal() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("pubsub: marshal node config: %v", err)) // plain struct: cannot fail
	}
	return b
}

// UnmarshalConfig reads a stored configuration; options it lacks (stored
// by an older version) take their value in defaults.
func UnmarshalConfig(b []byte, defaults NodeConfig) (NodeConfig, error) {
	c := defaults
	if err := json.Unmarshal(b, &c); err != nil {
		return NodeConfig{}, fmt.Errorf("pubsub: stored node config: %w", err)
	}
	return c, nil
}

// Options is the node configuration a service offers: the values its
// list options take and the most items a node may keep. The fields of
// its forms are the same for every service.
type Options struct {
	AccessModels  []string
	PublishModels []string
	SendLast      []string
	// MaxItems is the most items a node keeps, what max_items "max"
	// means.
	MaxItems int
}

// option describes one field of the node configuration form.
type option struct {
	typ     dataform.FieldType
	label   string
	choices func(o *Options) []string
	// value returns the value shown in forms; canon the value compared
	// with publish options (max_items "max" is the maximum there).
	value func(c *NodeConfig) string
	canon func(c *NodeConfig, o *Options) string
	set   func(c *NodeConfig, v string, o *Options) *xmpperr.StanzaError
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
	"pubsub#access_model":             listOption("Who may subscribe and retrieve items", func(o *Options) []string { return o.AccessModels }, func(c *NodeConfig) *string { return &c.AccessModel }, unsupportedAccess),
	"pubsub#publish_model":            listOption("Who may publish", func(o *Options) []string { return o.PublishModels }, func(c *NodeConfig) *string { return &c.PublishModel }, nil),
	"pubsub#persist_items":            boolOption("Persist items to storage", func(c *NodeConfig) *bool { return &c.PersistItems }),
	"pubsub#send_last_published_item": listOption("When to send the last published item", func(o *Options) []string { return o.SendLast }, func(c *NodeConfig) *string { return &c.SendLastPublishedItem }, nil),
	"pubsub#deliver_notifications":    boolOption("Deliver event notifications", func(c *NodeConfig) *bool { return &c.DeliverNotifications }),
	"pubsub#deliver_payloads":         boolOption("Deliver payloads with event notifications", func(c *NodeConfig) *bool { return &c.DeliverPayloads }),
	"pubsub#notify_retract":           boolOption("Notify subscribers when items are removed from the node", func(c *NodeConfig) *bool { return &c.NotifyRetract }),
	"pubsub#notify_delete":            boolOption("Notify subscribers when the node is deleted", func(c *NodeConfig) *bool { return &c.NotifyDelete }),
	"pubsub#notification_type":        listOption("Message type of event notifications", func(*Options) []string { return []string{"headline", "normal"} }, func(c *NodeConfig) *string { return &c.NotificationType }, nil),
	"pubsub#max_items": {
		typ:   dataform.TextSingle,
		label: "Max # of items to persist (\"max\" for the service maximum)",
		value: func(c *NodeConfig) string {
			if c.MaxItems == MaxItemsMax {
				return "max"
			}
			return strconv.Itoa(c.MaxItems)
		},
		canon: func(c *NodeConfig, o *Options) string { return strconv.Itoa(c.EffectiveMax(o.MaxItems)) },
		set: func(c *NodeConfig, v string, o *Options) *xmpperr.StanzaError {
			if v == "max" {
				c.MaxItems = MaxItemsMax
				return nil
			}
			n, err := strconv.Atoi(v)
			switch {
			case err != nil || n < 1:
				return xmpperr.New(xmpperr.NotAcceptable, fmt.Sprintf("pubsub#max_items must be a positive number or max, not %q", v))
			case n > o.MaxItems:
				return Error(xmpperr.PolicyViolationC, "max-items-exceeded",
					fmt.Sprintf("a node keeps at most %d items", o.MaxItems))
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
		canon: func(c *NodeConfig, _ *Options) string { return get(c) },
		set: func(c *NodeConfig, v string, _ *Options) *xmpperr.StanzaError {
			if len(v) > maxTextOption {
				return xmpperr.New(xmpperr.NotAcceptable, "option value too long")
			}
			*field(c) = v
			return nil
		},
	}
}

func listOption(label string, choices func(*Options) []string, field func(*NodeConfig) *string, unsupported func(string) *xmpperr.StanzaError) option {
	get := func(c *NodeConfig) string { return *field(c) }
	return option{
		typ:     dataform.ListSingle,
		label:   label,
		choices: choices,
		value:   get,
		canon:   func(c *NodeConfig, _ *Options) string { return get(c) },
		set: func(c *NodeConfig, v string, o *Options) *xmpperr.StanzaError {
			if !slices.Contains(choices(o), v) {
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
		canon: func(c *NodeConfig, _ *Options) string { return get(c) },
		set: func(c *NodeConfig, v string, _ *Options) *xmpperr.StanzaError {
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
func (o *Options) Form(c *NodeConfig, typ dataform.Type) *dataform.Form {
	f := dataform.New(typ, FormNodeConfig)
	for _, v := range optionVars {
		opt := options[v]
		fl := dataform.Field{Var: v, Type: opt.typ, Label: opt.label, Values: []string{opt.value(c)}}
		if opt.choices != nil {
			for _, ch := range opt.choices(o) {
				fl.Options = append(fl.Options, dataform.Option{Value: ch})
			}
		}
		f.Fields = append(f.Fields, fl)
	}
	return f
}

// ParseOptionsForm reads a submitted configuration or publish-options
// form: bad-request when it is no form, not submitted, or of another
// FORM_TYPE than the wanted ones.
func ParseOptionsForm(x *xml.Element, formTypes ...string) (*dataform.Form, error) {
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

// Apply sets the options of f on c. Unknown fields are ignored when
// lenient (a configuration form may echo fields of other services) and
// refused otherwise, as a publish option the service cannot honour is a
// precondition it cannot meet.
func (o *Options) Apply(c *NodeConfig, f *dataform.Form, lenient bool) *xmpperr.StanzaError {
	for _, fl := range f.Fields {
		if fl.Var == dataform.FormTypeVar {
			continue
		}
		opt, ok := options[fl.Var]
		if !ok {
			if lenient {
				continue
			}
			return PreconditionNotMet("option " + fl.Var + " is not supported")
		}
		if len(fl.Values) > 1 {
			return xmpperr.New(xmpperr.NotAcceptable, fl.Var+" takes one value")
		}
		if err := opt.set(c, fl.Value(), o); err != nil {
			return err
		}
	}
	return nil
}

// Check verifies publish options against the configuration of an
// existing node (XEP-0060 section 7.1.5): every option must already have
// the requested value, else conflict with precondition-not-met.
func (o *Options) Check(c *NodeConfig, f *dataform.Form) *xmpperr.StanzaError {
	for _, fl := range f.Fields {
		if fl.Var == dataform.FormTypeVar {
			continue
		}
		opt, ok := options[fl.Var]
		if !ok {
			return PreconditionNotMet("option " + fl.Var + " is not supported")
		}
		want := *c
		if err := opt.set(&want, fl.Value(), o); err != nil {
			return PreconditionNotMet(fmt.Sprintf("%s cannot be %q", fl.Var, fl.Value()))
		}
		if opt.canon(&want, o) != opt.canon(c, o) {
			return PreconditionNotMet(fmt.Sprintf("node has %s %q", fl.Var, opt.value(c)))
		}
	}
	return nil
}
