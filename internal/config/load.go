package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"mellium.im/xmpp/jid"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// Line is the 1-based line in the file, 0 when unknown.
	Line int
	// Key is the dotted TOML key, with [i] for a list entry ("c2s.listen[0]");
	// "" for syntax errors.
	Key string
	Msg string
}

// String formats the problem as "LINE: key: msg", leaving out what is unknown;
// the caller prefixes the file name.
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is the error returned by Validate and Parse: every problem found.
type Problems []Problem

// Error lists every problem on one line, as "config: line 3: key: msg; ...".
func (ps Problems) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Line > 0 {
			b.WriteString("line ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// fileError is Load's error: Problems with the file name in front of each.
type fileError struct {
	path     string
	problems Problems
}

func (e *fileError) Error() string {
	lines := make([]string, len(e.problems))
	for i, p := range e.problems {
		sep := ":"
		if p.Line == 0 {
			sep = ": "
		}
		lines[i] = e.path + sep + p.String()
	}
	return strings.Join(lines, "\n")
}

func (e *fileError) Unwrap() error { return e.problems }

// Load reads the configuration file at path over the defaults and validates
// it. An empty path returns Default(). A bad file's error lists every problem
// as "path:line: key: msg", one a line, and wraps Problems.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, ps := decode(data)
	if len(ps) > 0 {
		return nil, &fileError{path: path, problems: ps}
	}
	c.path = path
	return c, nil
}

// Parse decodes a configuration over the defaults and validates it. Its error
// is a Problems.
func Parse(data []byte) (*Config, error) {
	c, ps := decode(data)
	if len(ps) > 0 {
		return nil, ps
	}
	return c, nil
}

// Check reports every problem in the configuration file at path, in line
// order: unknown keys, bad values and, when the file cannot be decoded, the
// first syntax or type error (decoding stops there, so values are not
// validated). The error is only for failing to read the file.
func Check(path string) ([]Problem, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	_, ps := decode(data)
	return ps, nil
}

// decode is Parse, Load and Check: strict decoding over the defaults, then
// Validate, with every problem located in data. The config is nil when data
// could not be decoded.
func decode(data []byte) (*Config, Problems) {
	c := Default()
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(c)

	var ps Problems
	var strictErr *toml.StrictMissingError
	var decodeErr *toml.DecodeError
	switch {
	case err == nil:
	case errors.As(err, &strictErr):
		// Every known key was still decoded, so validation below is meaningful.
		for i := range strictErr.Errors {
			e := &strictErr.Errors[i]
			msg := "unknown key"
			if message(e) == "missing table" {
				msg = "unknown table"
			}
			ps = append(ps, located(e, msg))
		}
	case errors.As(err, &decodeErr):
		return nil, Problems{typeProblem(located(decodeErr, message(decodeErr)))}
	default:
		// go-toml hands a number or boolean to Duration.UnmarshalText without
		// its position; find the offending key ourselves.
		return nil, Problems{durationProblem(data, err)}
	}

	keys := scanKeys(data)
	c.derive(keys)
	if is := c.issues(); len(is) > 0 {
		for _, i := range is {
			ps = append(ps, i.locate(keys))
		}
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		// Problems without a line go last.
		return cmp.Compare(uint(a.Line-1), uint(b.Line-1))
	})
	return c, ps
}

// derive fills the defaults that follow from other keys and that the file
// did not set: the service domains of serviceDomains. A bad domain is
// reported once, under its own key, not again through what derives from
// it.
func (c *Config) derive(keys map[string]setting) {
	good := false
	if d, err := jid.Parse(c.Domain); err == nil && d.String() == c.Domain && d.Localpart() == "" && d.Resourcepart() == "" {
		good = true
	}
	for _, d := range c.serviceDomains() {
		if _, set := keys[d.key]; !set {
			*d.v = ""
			if good {
				*d.v = d.prefix + c.Domain
			}
		}
	}
}

// derivedDomain is a service's domain whose default is a prefix and the
// server's domain.
type derivedDomain struct {
	key, prefix string
	v           *string
}

// serviceDomains lists c's service domains that default to a prefix and
// the server's domain: muc.domain is "conference." + domain,
// pubsub.domain "pubsub." + domain, upload.domain "upload." + domain.
func (c *Config) serviceDomains() []derivedDomain {
	return []derivedDomain{
		{"muc.domain", "conference.", &c.MUC.Domain},
		{"pubsub.domain", "pubsub.", &c.PubSub.Domain},
		{"upload.domain", "upload.", &c.Upload.Domain},
	}
}

// SetDomain makes domain the server's domain, and moves with it each
// service domain still at its default for the old one, as a file that
// sets domain and leaves the services' out gets them (derive). A service
// domain set to anything else, or off (""), stays as it is.
func (c *Config) SetDomain(domain string) {
	for _, d := range c.serviceDomains() {
		if *d.v != "" && *d.v == d.prefix+c.Domain {
			*d.v = d.prefix + domain
		}
	}
	c.Domain = domain
}

// located turns a go-toml error into a Problem at its line.
func located(e *toml.DecodeError, msg string) Problem {
	line, _ := e.Position()
	return Problem{Line: line, Key: strings.Join(e.Key(), "."), Msg: msg}
}

// typeProblem rewrites go-toml's "cannot decode TOML integer into struct
// field config.Config.Domain of type string" in the file's terms.
func typeProblem(p Problem) Problem {
	rest, ok := strings.CutPrefix(p.Msg, "cannot decode TOML ")
	kind, _, _ := strings.Cut(rest, " into ")
	if t, known := keyTypes()[p.Key]; ok && known {
		p.Msg = fmt.Sprintf("want %s, got a TOML %s", describe(t), kind)
	}
	return p
}

// durationProblem locates err, returned by decoding, at the first duration
// key whose value is not a string.
func durationProblem(data []byte, err error) Problem {
	types := keyTypes()
	var found Problem
	for key, s := range scanKeys(data) {
		if types[key] != durationType || s.kind == unstable.String {
			continue
		}
		if found.Key == "" || s.line < found.Line {
			found = Problem{Line: s.line, Key: key,
				Msg: fmt.Sprintf("want %s, got a TOML %s", describe(durationType), strings.ToLower(s.kind.String()))}
		}
	}
	if found.Key == "" {
		return Problem{Msg: err.Error()}
	}
	return found
}

// message is e's message without go-toml's "toml: " prefix.
func message(e *toml.DecodeError) string {
	return strings.TrimPrefix(e.Error(), "toml: ")
}

// problems turns issues found without a file into Problems, or nil.
func (is issues) problems() error {
	if len(is) == 0 {
		return nil
	}
	ps := make(Problems, len(is))
	for j, i := range is {
		ps[j] = i.locate(nil)
	}
	return ps
}

// locate finds the line of the first of i's keys set in the file.
func (i issue) locate(keys map[string]setting) Problem {
	for _, k := range i.keys {
		if s, ok := keys[k]; ok {
			return Problem{Line: s.line, Key: k, Msg: i.msg}
		}
	}
	return Problem{Key: i.keys[0], Msg: i.msg}
}

// setting is where a key is set in a TOML document and to what kind of value.
type setting struct {
	line int
	kind unstable.Kind
}

// scanKeys finds each key set in a TOML document: "domain", "c2s" (the table
// header), "c2s.listen", "c2s.listen[0]" for each scalar entry of a list,
// and for each entry of an array of tables its header "a.b[1]" and keys
// "a.b[1].k" (besides "a.b").
// A key set twice keeps its first place; keys after a syntax error are left
// out.
func scanKeys(data []byte) map[string]setting {
	keys := map[string]setting{}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	arrays := map[string]int{} // entries of each array of tables so far
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e.Key())
			name := strings.Join(table, ".")
			set(keys, name, &p, e.Child().Raw, e.Kind)
			if e.Kind == unstable.ArrayTable && len(table) > 0 {
				// Each [[a.b]] is entry a.b[i], whose keys are a.b[i].k.
				i := arrays[name]
				arrays[name]++
				table[len(table)-1] = index(table[len(table)-1], i)
				set(keys, strings.Join(table, "."), &p, e.Child().Raw, e.Kind)
			}
		case unstable.KeyValue:
			addKeyValue(keys, &p, table, e)
		}
	}
	return keys
}

func addKeyValue(keys map[string]setting, p *unstable.Parser, table []string, kv *unstable.Node) {
	it := kv.Key()
	it.Next()
	keyRaw := it.Node().Raw
	full := append(slices.Clone(table), keyParts(kv.Key())...)
	name := strings.Join(full, ".")
	v := kv.Value()
	set(keys, name, p, keyRaw, v.Kind)

	children := v.Children()
	switch v.Kind {
	case unstable.Array:
		for i := 0; children.Next(); i++ {
			n := children.Node()
			set(keys, index(name, i), p, n.Raw, n.Kind)
		}
	case unstable.InlineTable:
		for children.Next() {
			addKeyValue(keys, p, full, children.Node())
		}
	}
}

// set records where key is set, keeping the first place seen. Nodes without
// a range (arrays nested in arrays) are skipped.
func set(keys map[string]setting, key string, p *unstable.Parser, r unstable.Range, kind unstable.Kind) {
	if r.Length == 0 {
		return
	}
	if _, ok := keys[key]; !ok {
		keys[key] = setting{line: p.Shape(r).Start.Line, kind: kind}
	}
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}
