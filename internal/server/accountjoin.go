package server

import (
	"context"
	"fmt"
	"time"

	"minimix/internal/accountjoin"
	"minimix/internal/jid"
	"minimix/internal/mam"
	"minimix/internal/stanza"
	"minimix/internal/storage"
	"minimix/internal/xml"
)

// joinStore adapts storage.Joins to accountjoin.Store.
type joinStore struct{ s storage.Joins }

func (j joinStore) PutJoin(ctx context.Context, r accountjoin.Record) error {
	return j.s.PutJoin(ctx, storage.JoinRecord{
		Account: r.Account.String(), Room: r.Room.String(), Nick: r.Nick, Password: r.Password,
		Bookmark: r.Bookmark, LastActive: r.LastActive,
	})
}

func (j joinStore) DeleteJoin(ctx context.Context, account, room jid.JID) error {
	return j.s.DeleteJoin(ctx, account.String(), room.String())
}

func (j joinStore) ListJoins(ctx context.Context) ([]accountjoin.Record, error) {
	recs, err := j.s.ListJoins(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]accountjoin.Record, 0, len(recs))
	for _, r := range recs {
		a, err1 := jid.Parse(r.Account)
		room, err2 := jid.Parse(r.Room)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("stored account join %s in %s is not valid", r.Account, r.Room)
		}
		out = append(out, accountjoin.Record{Account: a, Room: room, Nick: r.Nick, Password: r.Password, Bookmark: r.Bookmark, LastActive: r.LastActive})
	}
	return out, nil
}

// joinArchive gives account-join the account's personal archive.
type joinArchive struct {
	mam   *mam.Archive
	store storage.Archive
}

func (j joinArchive) ArchiveGroupchat(ctx context.Context, owner, room jid.JID, el *xml.Element) (string, bool, error) {
	return j.mam.ArchiveGroupchat(ctx, owner, room, el)
}

func (j joinArchive) History(ctx context.Context, owner, room jid.JID, max int, since time.Time) ([]accountjoin.HistoryItem, error) {
	gc := true
	page, err := j.store.QueryArchive(ctx, owner.String(), storage.ArchiveQuery{
		With: room.String(), Start: since, Before: true, Max: max, Groupchat: &gc,
	})
	if err != nil {
		return nil, fmt.Errorf("room history of %s for %s: %w", room, owner, err)
	}
	out := make([]accountjoin.HistoryItem, 0, len(page.Records))
	for _, r := range page.Records {
		el, err := stanza.Decode(r.Stanza, stanza.Message)
		if err != nil {
			continue // a damaged record must not break every join
		}
		out = append(out, accountjoin.HistoryItem{Stamp: r.Stamp, Stanza: el})
	}
	return out, nil
}

func (j joinArchive) Last(ctx context.Context, owner, room jid.JID) (time.Time, error) {
	r, err := j.store.LastArchived(ctx, owner.String(), room.String())
	if err != nil {
		return time.Time{}, nil // nothing archived yet
	}
	return r.Stamp, nil
}
