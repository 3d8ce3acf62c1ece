// Package xep0227 reads and writes the Portable Import/Export Format for
// XMPP-IM servers (XEP-0227), as ejabberd (ejabberdctl export_piefxis)
// and Prosody (prosody-migrator with its xep0227 store) write it, and
// imports it into minimix's storage.
//
// A file is <server-data/> holding <host jid=.../> elements holding
// <user name=.../> elements; ejabberd writes one index file that
// XIncludes one file per host (whose root is <host/>), Prosody one file
// per user (user@host.xml). What a user element may carry, and where it
// comes from:
//
//   - credentials: a password attribute (plaintext), or
//     <scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>
//     with iter-count, salt, server-key and stored-key (base64), which both
//     servers write; older ejabberd wrote password='scram:STORED,SERVER,SALT,ITERS';
//   - roster (jabber:iq:roster), with <presence type='subscribe'/> siblings
//     for requests not answered yet;
//   - vCard (vcard-temp), private XML (jabber:iq:private);
//   - PEP: <pubsub xmlns='http://jabber.org/protocol/pubsub#owner'> with each
//     node's configuration form, <pubsub xmlns='http://jabber.org/protocol/pubsub'>
//     with its items (Prosody);
//   - offline messages (<offline-messages/>, ejabberd);
//   - the MAM archive (<archive xmlns='urn:xmpp:pie:0#mam'> of mam:2
//     results, Prosody).
//
// Files are read as a stream, one user element at a time, so that their
// size is bounded by the largest user, not the whole export.
package xep0227

import (
	"bufio"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	mxml "minimix/internal/xml"
)

// Namespaces of the format.
const (
	NS         = "urn:xmpp:pie:0"
	NSOld      = "http://www.xmpp.org/extensions/xep-0227.html#ns"
	NSSCRAM    = NS + "#scram"
	NSMAM      = NS + "#mam"
	NSXInclude = "http://www.w3.org/2001/XInclude"

	NSRoster       = "jabber:iq:roster"
	NSPrivate      = "jabber:iq:private"
	NSVCard        = "vcard-temp"
	NSPubSub       = "http://jabber.org/protocol/pubsub"
	NSPubSubOwner  = "http://jabber.org/protocol/pubsub#owner"
	NSMAM2         = "urn:xmpp:mam:2"
	NSForward      = "urn:xmpp:forward:0"
	NSDelay        = "urn:xmpp:delay"
	nsClient       = mxml.NSClient
	maxIncludeDeep = 4
)

// SCRAM is one stored SCRAM credential as the format carries it.
type SCRAM struct {
	Mechanism string // "SCRAM-SHA-1", "SCRAM-SHA-256", ...
	Iters     int
	Salt      []byte
	StoredKey []byte
	ServerKey []byte
}

// User is one <user/> element: its name and the element itself, whose
// children the importer interprets.
type User struct {
	Host string
	Name string
	// Password is the plaintext password attribute, "" when none.
	Password string
	SCRAM    []SCRAM
	El       *mxml.Element
	File     string // where it was read, for messages
	// Err says why the credentials could not be read.
	Err error
}

// ParseSCRAM returns the SCRAM credentials a user element carries, in
// either form ejabberd and Prosody write.
func parseSCRAM(u *mxml.Element) ([]SCRAM, string, error) {
	var out []SCRAM
	pw := u.Attr("password")
	if rest, ok := strings.CutPrefix(pw, "scram:"); ok {
		// ejabberd before 21.x: scram:[HASH,]STORED,SERVER,SALT,ITERS
		parts := strings.Split(rest, ",")
		mech := "SCRAM-SHA-1"
		if len(parts) == 5 {
			switch parts[0] {
			case "sha256":
				mech = "SCRAM-SHA-256"
			case "sha512":
				mech = "SCRAM-SHA-512"
			default:
				return nil, "", fmt.Errorf("password attribute: unknown SCRAM hash %q", parts[0])
			}
			parts = parts[1:]
		}
		if len(parts) != 4 {
			return nil, "", errors.New("password attribute: scram: needs 4 or 5 comma-separated fields")
		}
		s, err := decodeSCRAM(mech, parts[0], parts[1], parts[2], parts[3])
		if err != nil {
			return nil, "", err
		}
		out = append(out, s)
		pw = ""
	}
	for _, c := range u.Children {
		el := c.Elem
		if el == nil || el.Local != "scram-credentials" || el.Space != NSSCRAM {
			continue
		}
		s, err := decodeSCRAM(el.Attr("mechanism"), el.ChildText(NSSCRAM, "stored-key"), el.ChildText(NSSCRAM, "server-key"),
			el.ChildText(NSSCRAM, "salt"), el.ChildText(NSSCRAM, "iter-count"))
		if err != nil {
			return nil, "", err
		}
		out = append(out, s)
	}
	return out, pw, nil
}

func decodeSCRAM(mech, stored, server, salt, iters string) (SCRAM, error) {
	s := SCRAM{Mechanism: mech}
	var err error
	dec := func(what, v string) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		b, err = base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err == nil && len(b) == 0 {
			err = errors.New("empty")
		}
		if err != nil {
			err = fmt.Errorf("%s %s: %w", mech, what, err)
		}
		return b
	}
	s.StoredKey = dec("stored-key", stored)
	s.ServerKey = dec("server-key", server)
	s.Salt = dec("salt", salt)
	if err != nil {
		return SCRAM{}, err
	}
	// ejabberd keeps its SCRAM values base64-encoded and its exporter
	// encodes them again: keys of the wrong size for the hash that
	// decode once more to the right one say so, and then the salt is
	// encoded twice as well.
	if size := hashSize(mech); size > 0 && len(s.StoredKey) != size {
		st, err1 := base64.StdEncoding.DecodeString(string(s.StoredKey))
		sv, err2 := base64.StdEncoding.DecodeString(string(s.ServerKey))
		sa, err3 := base64.StdEncoding.DecodeString(string(s.Salt))
		if err1 == nil && err2 == nil && err3 == nil && len(st) == size && len(sv) == size && len(sa) > 0 {
			s.StoredKey, s.ServerKey, s.Salt = st, sv, sa
		}
	}
	s.Iters, err = strconv.Atoi(strings.TrimSpace(iters))
	if err != nil || s.Iters <= 0 {
		return SCRAM{}, fmt.Errorf("%s iter-count %q is not a positive number", mech, iters)
	}
	return s, nil
}

// Read reads path, a XEP-0227 file or a directory of them (Prosody's
// exporter writes one file per user, ejabberd's one index and one file
// per host), and calls fn for each user in document order. XIncludes are
// followed relative to the including file; in a directory, files that
// another file includes are read through it only.
func Read(path string, fn func(*User) error) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("xep0227: %w", err)
	}
	if !fi.IsDir() {
		return readFile(path, "", 0, fn)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("xep0227: %w", err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".xml") {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	slices.Sort(files)
	if len(files) == 0 {
		return fmt.Errorf("xep0227: %s holds no .xml file", path)
	}
	included := make(map[string]bool)
	for _, f := range files {
		incs, err := includes(f)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			included[inc] = true
		}
	}
	for _, f := range files {
		if included[f] {
			continue
		}
		if err := readFile(f, "", 0, fn); err != nil {
			return err
		}
	}
	return nil
}

// includes returns the files path XIncludes, reading it only up to its
// first user element (an index file holds none).
func includes(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("xep0227: %w", err)
	}
	defer f.Close()
	d := xml.NewDecoder(bufio.NewReader(f))
	var out []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("xep0227: %s: %w", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch {
			case se.Name.Local == "user":
				return out, nil
			case se.Name.Space == NSXInclude && se.Name.Local == "include":
				if href := attr(se, "href"); href != "" {
					out = append(out, filepath.Join(filepath.Dir(path), filepath.FromSlash(href)))
				}
			}
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func readFile(path, host string, depth int, fn func(*User) error) error {
	if depth > maxIncludeDeep {
		return fmt.Errorf("xep0227: %s: XIncludes nested too deep", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("xep0227: %w", err)
	}
	defer f.Close()
	d := xml.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	d.Strict = true
	hosts := []string{host}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("xep0227: %s: %w", path, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Local == "server-data":
			case t.Name.Local == "host":
				hosts = append(hosts, attr(t, "jid"))
			case t.Name.Space == NSXInclude && t.Name.Local == "include":
				href := attr(t, "href")
				if href == "" {
					return fmt.Errorf("xep0227: %s: xi:include without href", path)
				}
				inc := filepath.Join(filepath.Dir(path), filepath.FromSlash(href))
				if err := readFile(inc, hosts[len(hosts)-1], depth+1, fn); err != nil {
					return err
				}
				if err := d.Skip(); err != nil {
					return fmt.Errorf("xep0227: %s: %w", path, err)
				}
			case t.Name.Local == "user":
				el, err := readElement(d, t)
				if err != nil {
					return fmt.Errorf("xep0227: %s: user %q: %w", path, attr(t, "name"), err)
				}
				u := &User{Host: hosts[len(hosts)-1], Name: el.Attr("name"), El: el, File: path}
				if u.Host == "" {
					return fmt.Errorf("xep0227: %s: user %q is in no <host/>", path, u.Name)
				}
				u.SCRAM, u.Password, u.Err = parseSCRAM(el)
				if err := fn(u); err != nil {
					return err
				}
			default:
				if err := d.Skip(); err != nil {
					return fmt.Errorf("xep0227: %s: %w", path, err)
				}
			}
		case xml.EndElement:
			if t.Name.Local == "host" && len(hosts) > 1 {
				hosts = hosts[:len(hosts)-1]
			}
		}
	}
}

// readElement reads the element start opened into a minimix XML tree,
// with namespaces resolved.
func readElement(d *xml.Decoder, start xml.StartElement) (*mxml.Element, error) {
	root := convertStart(start)
	stack := []*mxml.Element{root}
	for len(stack) > 0 {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			el := convertStart(t)
			top.Append(el)
			stack = append(stack, el)
		case xml.EndElement:
			trimIndent(top)
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.AppendText(string(t))
		}
	}
	return root, nil
}

func convertStart(se xml.StartElement) *mxml.Element {
	el := mxml.New(se.Name.Space, se.Name.Local)
	for _, a := range se.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		if a.Name.Space == "" {
			el.SetAttr(a.Name.Local, a.Value)
			continue
		}
		el.Attrs = append(el.Attrs, mxml.Attr{Space: a.Name.Space, Local: a.Name.Local, Value: a.Value})
	}
	return el
}

// trimIndent drops the whitespace between the child elements of el (a
// file's indentation), keeping the text of elements without children.
func trimIndent(el *mxml.Element) {
	if el.FirstElement() == nil {
		return
	}
	el.Children = slices.DeleteFunc(el.Children, func(n mxml.Node) bool {
		return n.Elem == nil && strings.TrimSpace(n.Text) == ""
	})
}

// hashSize is the output size of a SCRAM mechanism's hash, 0 if unknown.
func hashSize(mech string) int {
	switch mech {
	case "SCRAM-SHA-1":
		return 20
	case "SCRAM-SHA-256":
		return 32
	case "SCRAM-SHA-512":
		return 64
	}
	return 0
}
