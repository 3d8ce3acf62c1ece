package xml

import "strings"

// readProlog reads what may come before the first element: a UTF-8 byte
// order mark, an XML declaration and whitespace. It leaves d.pos at the '<'
// of a start tag.
func (d *Decoder) readProlog() error {
	if err := d.need(1); err != nil {
		return err
	}
	switch d.buf[d.pos] {
	case 0x00, 0xFE, 0xFF:
		// UTF-16 or UTF-32, by their byte order marks or a zero byte.
		return &Error{Condition: condUnsupportedEncoding, Text: "input is not UTF-8"}
	}
	if bom, err := d.hasPrefix("\xEF\xBB\xBF"); err != nil {
		return err
	} else if bom {
		d.pos += 3
	}
	if decl, err := d.hasPrefix("<?xml"); err != nil {
		return err
	} else if decl {
		if err := d.need(6); err != nil {
			return err
		}
		if isSpace(d.buf[d.pos+5]) {
			d.pos += 5
			if err := d.readDecl(); err != nil {
				return err
			}
		}
	}
	if _, err := d.skipSpace(); err != nil {
		return err
	}
	if d.buf[d.pos] != '<' {
		return notWellFormed("character data before the root element")
	}
	if err := d.need(2); err != nil {
		return err
	}
	switch d.buf[d.pos+1] {
	case '?':
		return restricted("processing instruction")
	case '!':
		return restricted("DTD, comment or markup declaration")
	case '/':
		return notWellFormed("end tag before the root element")
	}
	return nil
}

// readDecl reads the rest of an XML declaration after "<?xml".
func (d *Decoder) readDecl() error {
	const (
		wantVersion = iota
		wantEncoding
		wantStandalone
		done
	)
	state := wantVersion
	for {
		sp, err := d.skipSpace()
		if err != nil {
			return err
		}
		if d.buf[d.pos] == '?' {
			if state == wantVersion {
				return notWellFormed("XML declaration without version")
			}
			if err := d.need(2); err != nil {
				return err
			}
			if d.buf[d.pos+1] != '>' {
				return notWellFormed("bad XML declaration")
			}
			d.pos += 2
			return nil
		}
		if !sp {
			return notWellFormed("bad XML declaration")
		}
		name, value, err := d.readPseudoAttr()
		if err != nil {
			return err
		}
		switch {
		case state == wantVersion && name == "version":
			if !strings.HasPrefix(value, "1.") || len(value) == 2 || strings.Trim(value[2:], "0123456789") != "" {
				return notWellFormed("unsupported XML version " + value)
			}
			state = wantEncoding
		case state == wantEncoding && name == "encoding":
			if !strings.EqualFold(value, "UTF-8") {
				return &Error{Condition: condUnsupportedEncoding, Text: "encoding " + value}
			}
			state = wantStandalone
		case state != wantVersion && state != done && name == "standalone":
			if value != "yes" && value != "no" {
				return notWellFormed("bad standalone declaration")
			}
			state = done
		default:
			return notWellFormed("bad XML declaration")
		}
	}
}

// readPseudoAttr reads name="value" inside an XML declaration.
func (d *Decoder) readPseudoAttr() (name, value string, err error) {
	if d.tmp, err = d.readName(d.tmp[:0]); err != nil {
		return "", "", err
	}
	name = string(d.tmp)
	if _, err = d.skipSpace(); err != nil {
		return "", "", err
	}
	if d.buf[d.pos] != '=' {
		return "", "", notWellFormed("bad XML declaration")
	}
	d.pos++
	if _, err = d.skipSpace(); err != nil {
		return "", "", err
	}
	q := d.buf[d.pos]
	if q != '"' && q != '\'' {
		return "", "", notWellFormed("bad XML declaration")
	}
	d.pos++
	d.tmp = d.tmp[:0]
	for {
		c, err := d.readByte()
		if err != nil {
			return "", "", err
		}
		if c == q {
			return name, string(d.tmp), nil
		}
		if charClass[c]&cName == 0 || c == ':' {
			return "", "", notWellFormed("bad XML declaration")
		}
		d.tmp = append(d.tmp, c)
	}
}

// readHeader reads the prolog and the stream open tag.
func (d *Decoder) readHeader() (StreamHeader, error) {
	if err := d.readProlog(); err != nil {
		return StreamHeader{}, err
	}
	d.beginTree()
	d.pos++
	var err error
	if d.qnames, err = d.readName(d.qnames); err != nil {
		return StreamHeader{}, err
	}
	empty, err := d.readAttrs(0)
	if err != nil {
		return StreamHeader{}, err
	}
	space, local, err := d.resolveName(d.qnames)
	if err != nil {
		return StreamHeader{}, err
	}
	if d.nsTab[space] != NSStream || d.str(local) != "stream" {
		return StreamHeader{}, &Error{Condition: condInvalidNamespace, Text: "stream element is {" + d.nsTab[space] + "}" + d.str(local)}
	}
	if err := d.resolveAttrs(); err != nil {
		return StreamHeader{}, err
	}
	var h StreamHeader
	if len(d.attrs) > 0 {
		h.Attrs = make([]Attr, len(d.attrs))
	}
	for i, a := range d.attrs {
		v := string(d.arena[a.v0:a.v1])
		h.Attrs[i] = Attr{Space: d.nsTab[a.space], Local: d.str(a.local), Value: v}
		switch {
		case a.space == nsXML && h.Attrs[i].Local == "lang":
			h.Lang = v
		case a.space != nsNone:
		case h.Attrs[i].Local == "to":
			h.To = v
		case h.Attrs[i].Local == "from":
			h.From = v
		case h.Attrs[i].Local == "id":
			h.ID = v
		case h.Attrs[i].Local == "version":
			h.Version = v
		}
	}
	for _, b := range d.binds {
		prefix := d.prefixes[b.p0:b.p1]
		h.NSDecls = append(h.NSDecls, Attr{Local: string(prefix), Value: d.nsTab[b.ns]})
		if len(prefix) == 0 {
			h.ContentNS = d.nsTab[b.ns]
		}
	}
	d.streamQName = append(d.streamQName[:0], d.qnames...)
	d.streamBinds, d.streamPrefixes, d.streamNS = len(d.binds), len(d.prefixes), len(d.nsTab)
	if empty {
		d.state = stateClosed
	} else {
		d.state = stateOpen
	}
	return h, nil
}
