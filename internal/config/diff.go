package config

import (
	"reflect"
	"strings"
)

// Changed returns the keys whose values differ between a and b, as
// dotted TOML paths ("c2s.allow_registration", "s2s.hosts"), in the
// order of the schema. A table is compared as one key when it is a map
// or an array of tables ("components.external").
func Changed(a, b *Config) []string {
	var keys []string
	changed(reflect.ValueOf(*a), reflect.ValueOf(*b), "", &keys)
	return keys
}

func changed(a, b reflect.Value, prefix string, keys *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		av, bv := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			changed(av, bv, key+".", keys)
			continue
		}
		if !reflect.DeepEqual(av.Interface(), bv.Interface()) {
			*keys = append(*keys, key)
		}
	}
}
