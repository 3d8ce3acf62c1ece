package xml

// Restart prepares d to read a new stream header from the same reader,
// keeping what is already buffered: after SASL success the client sends
// its new header at once, and those bytes may already be in the buffer
// (RFC 6120 6.4.6). Unlike Reset, nothing read is discarded.
func (d *Decoder) Restart() {
	d.err = nil
	d.state = stateNew
	d.limitMax = noLimit
	d.binds = d.binds[:0]
	d.prefixes = d.prefixes[:0]
	d.streamBinds, d.streamPrefixes, d.streamNS = 0, 0, 0
	d.streamQName = d.streamQName[:0]
}
