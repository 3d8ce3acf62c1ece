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

// joinArchive gives account-join the accounts' personal archives.
type joinArchive struct {
	mam   *mam.Archive
	store storage.Archive
}

func (j joinArchive) Joined(ctx context.Context, account, room jid.JID) error {
	return j.mam.Joined(ctx, account, room)
}

func (j joinArchive) Left(ctx context.Context, account, room jid.JID) error {
	return j.mam.Left(ctx, account, room)
}

func (j joinArchive) Groupchat(ctx context.Context, account, room jid.JID, el *xml.Element) (accountjoin.GroupchatRef, error) {
	ref, err := j.mam.Groupchat(ctx, account, room, el)
	return accountjoin.GroupchatRef{ID: ref.ID, Order: ref.Order, Dup: ref.Dup}, err
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
	for i := range page.Records {
		el, err := mam.Stanza(owner, &page.Records[i])
		if err != nil || el.Local != stanza.Message {
			continue // a damaged record must not break every join
		}
		out = append(out, accountjoin.HistoryItem{Stamp: page.Records[i].Stamp, Stanza: el})
	}
	return out, nil
}

func (j joinArchive) Last(ctx context.Context, owner, room jid.JID) (time.Time, error) {
	return j.mam.RoomLast(ctx, room)
}

// accountDeleted forgets a deleted account: the existence cache, and its
// rooms, which it leaves at once rather than keep its nick there for
// idle_leave_after (docs/account-join.md, rule 25).
func (f *features) accountDeleted(ctx context.Context, user string) {
	f.forgetAccount(user)
	f.blocking.Forget(user)
	if f.push != nil {
		f.push.Forget(user)
	}
	if f.joins != nil {
		f.joins.LeaveAll(ctx, jid.JID{Local: user, Domain: f.s.cfg.Domain})
	}
}
