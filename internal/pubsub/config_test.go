package pubsub

import (
	"slices"
	"testing"

	"minimix/internal/dataform"
	"minimix/internal/xml"
)

// TestOptionsOffered checks that a service's Options decide the values its
// list options take, in forms and in what a submitted form may set.
func TestOptionsOffered(t *testing.T) {
	o := &Options{
		AccessModels:  []string{AccessOpen, AccessWhitelist},
		PublishModels: []string{PublishPublishers, PublishOpen},
		SendLast:      []string{SendLastNever},
		MaxItems:      10,
	}
	c := NodeConfig{AccessModel: AccessOpen, PublishModel: PublishPublishers, MaxItems: 3}
	f := o.Form(&c, dataform.TypeForm)
	var choices []string
	for _, opt := range f.Field("pubsub#access_model").Options {
		choices = append(choices, opt.Value)
	}
	if !slices.Equal(choices, o.AccessModels) {
		t.Errorf("access model choices %v, want %v", choices, o.AccessModels)
	}
	for _, tc := range []struct {
		field, value, cond, app string
	}{
		{"pubsub#access_model", "whitelist", "", ""},
		{"pubsub#access_model", "presence", "not-acceptable", "unsupported-access-model"},
		{"pubsub#publish_model", "open", "", ""},
		{"pubsub#publish_model", "subscribers", "not-acceptable", ""},
		{"pubsub#send_last_published_item", "on_sub", "not-acceptable", ""},
		{"pubsub#max_items", "11", "policy-violation", "max-items-exceeded"},
		{"pubsub#max_items", "max", "", ""},
	} {
		x, err := xml.Parse([]byte(`<x xmlns='jabber:x:data' type='submit'><field var='` + tc.field + `'><value>` + tc.value + `</value></field></x>`))
		if err != nil {
			t.Fatal(err)
		}
		form, err := ParseOptionsForm(x, FormNodeConfig)
		if err != nil {
			t.Fatal(err)
		}
		cc := c
		se := o.Apply(&cc, form, false)
		var cond, app string
		if se != nil {
			cond = string(se.Condition)
			if se.App != nil {
				app = se.App.Local
			}
		}
		if cond != tc.cond || app != tc.app {
			t.Errorf("%s=%s: error %q/%q, want %q/%q", tc.field, tc.value, cond, app, tc.cond, tc.app)
		}
	}
	if c.EffectiveMax(o.MaxItems) != 3 {
		t.Errorf("EffectiveMax %d", c.EffectiveMax(o.MaxItems))
	}
	c.MaxItems = MaxItemsMax
	if c.EffectiveMax(o.MaxItems) != 10 {
		t.Errorf("EffectiveMax of max %d", c.EffectiveMax(o.MaxItems))
	}
}
