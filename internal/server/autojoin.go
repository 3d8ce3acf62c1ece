package server

import (
	"context"

	"minimix/internal/bookmarks"
	"minimix/internal/jid"
)

// Server-side autojoin (issue 5): a bookmark with autojoin makes the
// account join the room, whether or not a session is online, and keeps it
// there when its sessions leave; switching autojoin off or removing the
// bookmark makes the account leave.

// bookmarksChanged is the bookmarks service's hook. It runs after each
// committed bookmark change, in order. Push reads its room settings from
// the bookmarks again.
func (f *features) bookmarksChanged(ctx context.Context, account jid.JID, changed []bookmarks.Bookmark, removed []jid.JID) {
	if f.push != nil {
		f.push.InvalidateRooms(account)
	}
	if f.joins == nil {
		return
	}
	for _, b := range changed {
		if b.Autojoin {
			f.joins.Join(ctx, account, b.Room, bookmarkNick(account, b), b.Password, true)
		} else {
			f.joins.Unbookmark(ctx, account, b.Room)
		}
	}
	for _, room := range removed {
		f.joins.Unbookmark(ctx, account, room)
	}
}

// bookmarkNick is the bookmark's nick, or the account's localpart.
func bookmarkNick(account jid.JID, b bookmarks.Bookmark) string {
	if b.Nick != "" {
		return b.Nick
	}
	return account.Local
}

// autojoinAll makes every account join its autojoin bookmarks at startup.
// Stored memberships are rejoined by account-join itself; this catches
// bookmarks whose membership was lost (left by an operator, removed by a
// room) so that the bookmark list stays the truth.
func (f *features) autojoinAll(ctx context.Context) error {
	users, err := f.s.store.ListAccounts(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		account := jid.JID{Local: u, Domain: f.s.cfg.Domain}
		bms, err := f.bookmarks.Bookmarks(ctx, account)
		if err != nil {
			f.s.log.Error("read bookmarks for autojoin", "account", account.String(), "err", err)
			continue
		}
		for _, b := range bms {
			if b.Autojoin {
				f.joins.Join(ctx, account, b.Room, bookmarkNick(account, b), b.Password, true)
			}
		}
	}
	return nil
}
