package mam

import (
	"context"

	"minimix/internal/jid"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// ServeMetadata returns the XEP-0313 <metadata/> of owner's archive: the
// id and timestamp of its first and last records, or an empty element
// for an empty archive. Every record counts, groupchat ones included,
// because a client plans its queries against the archive as a whole.
// Like ServeQuery, it leaves access control to the caller.
func (a *Archive) ServeMetadata(ctx context.Context, owner jid.JID) (*xml.Element, error) {
	o := owner.Bare().String()
	md := xml.New(NS, "metadata")
	first, err := a.queryStore(ctx, o, storage.ArchiveQuery{Max: 1})
	if err != nil {
		return nil, err
	}
	if len(first.Records) == 0 {
		return md, nil
	}
	last, err := a.queryStore(ctx, o, storage.ArchiveQuery{Max: 1, Before: true})
	if err != nil {
		return nil, err
	}
	if len(last.Records) == 0 {
		// Deleted between the two reads.
		return md, nil
	}
	for _, e := range []struct {
		name string
		rec  storage.ArchiveRecord
	}{{"start", first.Records[0]}, {"end", last.Records[0]}} {
		md.Append(xml.New(NS, e.name, "id", e.rec.ID, "timestamp", stamp(e.rec.Stamp)))
	}
	return md, nil
}
