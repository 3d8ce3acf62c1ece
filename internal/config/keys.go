package config

import (
	"reflect"
	"strings"
	"sync"
)

// keyTypes maps every leaf TOML key of Config ("c2s.listen") to its Go type.
// Decoding problems use it to say what a key wants in an operator's words.
var keyTypes = sync.OnceValue(func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	addKeyTypes(m, "", reflect.TypeFor[Config]())
	return m
})

var durationType = reflect.TypeFor[Duration]()

func addKeyTypes(m map[string]reflect.Type, prefix string, t reflect.Type) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		key := prefix + name
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			addKeyTypes(m, key+".", f.Type)
			continue
		}
		m[key] = f.Type
	}
}

// describe says what a value of type t is written as in TOML.
func describe(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration such as "90s" or "5m"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "a list of strings"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map:
		return "a table of strings"
	}
	return t.String()
}
