package xml

// SetLimits changes the limits of the elements read from now on: a
// server-to-server stream reads small elements until its peer has
// authenticated, and stanzas up to the full size after. It may be called
// from any goroutine, also while Next waits for input: an element whose
// first byte Next reads after the call is read with the new limits.
func (d *Decoder) SetLimits(lim Limits) {
	l := lim.withDefaults()
	d.pendingLimits.Store(&l)
}

// applyPendingLimits makes limits set by SetLimits current; the reader
// calls it at the start of each element.
func (d *Decoder) applyPendingLimits() {
	if l := d.pendingLimits.Swap(nil); l != nil {
		d.lim = *l
	}
}
