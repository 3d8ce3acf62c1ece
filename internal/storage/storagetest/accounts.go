package storagetest

import (
	"fmt"
	"testing"

	"minimix/internal/storage"
)

// creds returns distinct, complete credentials for seed.
func creds(seed byte) storage.Credentials {
	b := func(tag byte) []byte { return []byte{seed, tag, 0, 0xff, 7} }
	return storage.Credentials{
		SHA1:   storage.ScramCredential{Salt: b(1), Iters: 4096 + int(seed), StoredKey: b(2), ServerKey: b(3)},
		SHA256: storage.ScramCredential{Salt: b(4), Iters: 8192 + int(seed), StoredKey: b(5), ServerKey: b(6)},
	}
}

// testAccounts's subtests build on each other, in order, on one store.
func testAccounts(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)

	t.Run("Unknown", func(t *testing.T) {
		ok, err := s.AccountExists(ctx, "nobody")
		must(t, "AccountExists", err)
		if ok {
			t.Error("AccountExists(nobody) = true")
		}
		_, err = s.GetCredentials(ctx, "nobody")
		wantErr(t, "GetCredentials(nobody)", err, storage.ErrNotFound)
		wantErr(t, "SetCredentials(nobody)", s.SetCredentials(ctx, "nobody", creds(1)), storage.ErrNotFound)
		wantErr(t, "DeleteAccount(nobody)", s.DeleteAccount(ctx, "nobody"), storage.ErrNotFound)
		names, err := s.ListAccounts(ctx)
		must(t, "ListAccounts", err)
		diff(t, "ListAccounts of an empty store", []string(nil), names)
	})

	t.Run("Lifecycle", func(t *testing.T) {
		wantErr(t, "CreateAccount", s.CreateAccount(ctx, "alice", creds(1)), nil)
		ok, err := s.AccountExists(ctx, "alice")
		must(t, "AccountExists", err)
		if !ok {
			t.Fatal("AccountExists(alice) = false after CreateAccount")
		}
		got, err := s.GetCredentials(ctx, "alice")
		must(t, "GetCredentials", err)
		diff(t, "credentials", creds(1), got)

		wantErr(t, "CreateAccount again", s.CreateAccount(ctx, "alice", creds(2)), storage.ErrExists)
		got, err = s.GetCredentials(ctx, "alice")
		must(t, "GetCredentials", err)
		diff(t, "credentials after a refused CreateAccount", creds(1), got)

		wantErr(t, "SetCredentials", s.SetCredentials(ctx, "alice", creds(3)), nil)
		got, err = s.GetCredentials(ctx, "alice")
		must(t, "GetCredentials", err)
		diff(t, "credentials after SetCredentials", creds(3), got)

		wantErr(t, "DeleteAccount", s.DeleteAccount(ctx, "alice"), nil)
		ok, err = s.AccountExists(ctx, "alice")
		must(t, "AccountExists", err)
		if ok {
			t.Error("AccountExists(alice) = true after DeleteAccount")
		}
		_, err = s.GetCredentials(ctx, "alice")
		wantErr(t, "GetCredentials after DeleteAccount", err, storage.ErrNotFound)
		wantErr(t, "DeleteAccount again", s.DeleteAccount(ctx, "alice"), storage.ErrNotFound)
		wantErr(t, "CreateAccount after DeleteAccount", s.CreateAccount(ctx, "alice", creds(4)), nil)
		got, err = s.GetCredentials(ctx, "alice")
		must(t, "GetCredentials", err)
		diff(t, "credentials of the new account", creds(4), got)
	})

	t.Run("List", func(t *testing.T) {
		for i, name := range []string{"carol", "bob", "zoë", "dave", "alice2"} {
			must(t, "CreateAccount", s.CreateAccount(ctx, name, creds(byte(10+i))))
		}
		names, err := s.ListAccounts(ctx)
		must(t, "ListAccounts", err)
		diff(t, "ListAccounts", []string{"alice", "alice2", "bob", "carol", "dave", "zoë"}, names)
	})
}

// testDeleteAccount checks that DeleteAccount takes every kind of data of
// the account with it, and nothing of anyone else.
func testDeleteAccount(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)

	// fill gives user every kind of data, archived under owner.
	fill := func(user, owner string) {
		t.Helper()
		must(t, "CreateAccount", s.CreateAccount(ctx, user, creds(1)))
		_, err := s.PutRosterItem(ctx, user, storage.RosterItem{
			Contact: "friend@example.org", Subscription: storage.SubBoth, Groups: []string{"g"},
		})
		must(t, "PutRosterItem", err)
		must(t, "StoreOffline", s.StoreOffline(ctx, user, []byte("<message/>"), t0, 0))
		must(t, "SetPrivate", s.SetPrivate(ctx, user, "storage:bookmarks", []byte("<storage/>")))
		must(t, "SetVCard", s.SetVCard(ctx, user, []byte("<vCard/>")))
		for i := range 3 {
			must(t, "AppendArchive", s.AppendArchive(ctx, storage.ArchiveRecord{
				Owner: owner, ID: fmt.Sprintf("m%d", i), Stamp: t0, With: "friend@example.org",
				Stanza: []byte("<message/>"),
			}))
		}
		must(t, "SetArchivePrefs", s.SetArchivePrefs(ctx, owner, storage.ArchivePrefs{
			Default: "roster", Always: []string{"friend@example.org"},
		}))
		must(t, "PutJoin", s.PutJoin(ctx, storage.JoinRecord{Account: owner, Room: "room@muc.example.net", Nick: user}))
		must(t, "Block", s.Block(ctx, user, []string{"spam.example.org"}))
		must(t, "PutPushRegistration", s.PutPushRegistration(ctx, storage.PushRegistration{User: user, Service: "push.example.org", Node: "n", Resource: "r", Enabled: t0}))
	}
	pushOf := func(user string) int {
		t.Helper()
		regs, err := s.PushRegistrations(ctx)
		must(t, "PushRegistrations", err)
		n := 0
		for _, r := range regs {
			if r.User == user {
				n++
			}
		}
		return n
	}
	joinsOf := func(owner string) int {
		t.Helper()
		recs, err := s.ListJoins(ctx)
		must(t, "ListJoins", err)
		n := 0
		for _, r := range recs {
			if r.Account == owner {
				n++
			}
		}
		return n
	}
	fill("alice", "alice@example.net")
	// Accounts whose bare JIDs share a prefix with alice's, or that a
	// LIKE pattern would confuse with it, must survive.
	survivors := []struct{ user, owner string }{
		{"bob", "bob@example.net"},
		{"alice.smith", "alice.smith@example.net"},
		{"alicea", "alicea@example.net"},
		{"alic_", "alic_@example.net"},
		{"xalice", "xalice@example.net"},
	}
	for _, sv := range survivors {
		fill(sv.user, sv.owner)
	}
	must(t, "DeleteAccount", s.DeleteAccount(ctx, "alice"))

	checkGone := func(t *testing.T) {
		t.Helper()
		ok, err := s.AccountExists(ctx, "alice")
		must(t, "AccountExists", err)
		if ok {
			t.Error("account still exists")
		}
		items, _, err := s.RosterItems(ctx, "alice")
		must(t, "RosterItems", err)
		diff(t, "roster after DeleteAccount", []storage.RosterItem(nil), items)
		_, err = s.RosterItem(ctx, "alice", "friend@example.org")
		wantErr(t, "RosterItem after DeleteAccount", err, storage.ErrNotFound)
		n, err := s.CountOffline(ctx, "alice")
		must(t, "CountOffline", err)
		if n != 0 {
			t.Errorf("CountOffline after DeleteAccount = %d, want 0", n)
		}
		_, err = s.GetPrivate(ctx, "alice", "storage:bookmarks")
		wantErr(t, "GetPrivate after DeleteAccount", err, storage.ErrNotFound)
		_, err = s.GetVCard(ctx, "alice")
		wantErr(t, "GetVCard after DeleteAccount", err, storage.ErrNotFound)
		page, err := s.QueryArchive(ctx, "alice@example.net", storage.ArchiveQuery{Max: 10})
		must(t, "QueryArchive", err)
		if page.Count != 0 || len(page.Records) != 0 {
			t.Errorf("archive after DeleteAccount: %d records, Count %d", len(page.Records), page.Count)
		}
		_, err = s.LastArchived(ctx, "alice@example.net", "friend@example.org")
		wantErr(t, "LastArchived after DeleteAccount", err, storage.ErrNotFound)
		prefs, err := s.GetArchivePrefs(ctx, "alice@example.net")
		must(t, "GetArchivePrefs", err)
		diff(t, "archive prefs after DeleteAccount", storage.ArchivePrefs{Default: "always"}, prefs)
		// Its room memberships (account-based group chat) go too, or the
		// next start would rejoin them for a deleted account.
		if n := joinsOf("alice@example.net"); n != 0 {
			t.Errorf("%d room memberships after DeleteAccount", n)
		}
		blocked, err := s.Blocklist(ctx, "alice")
		must(t, "Blocklist", err)
		diff(t, "blocklist after DeleteAccount", []string(nil), blocked)
		all, err := s.Blocklists(ctx)
		must(t, "Blocklists", err)
		if _, ok := all["alice"]; ok {
			t.Errorf("Blocklists after DeleteAccount still has alice: %v", all["alice"])
		}
		if n := pushOf("alice"); n != 0 {
			t.Errorf("%d push registrations after DeleteAccount", n)
		}
	}
	checkGone(t)

	for _, sv := range survivors {
		ok, err := s.AccountExists(ctx, sv.user)
		must(t, "AccountExists", err)
		if !ok {
			t.Errorf("account %q deleted with alice", sv.user)
		}
		items, _, err := s.RosterItems(ctx, sv.user)
		must(t, "RosterItems", err)
		n, err := s.CountOffline(ctx, sv.user)
		must(t, "CountOffline", err)
		_, errPriv := s.GetPrivate(ctx, sv.user, "storage:bookmarks")
		_, errVCard := s.GetVCard(ctx, sv.user)
		page, err := s.QueryArchive(ctx, sv.owner, storage.ArchiveQuery{Max: 10})
		must(t, "QueryArchive", err)
		prefs, err := s.GetArchivePrefs(ctx, sv.owner)
		must(t, "GetArchivePrefs", err)
		joins := joinsOf(sv.owner)
		blocked, err := s.Blocklist(ctx, sv.user)
		must(t, "Blocklist", err)
		pushes := pushOf(sv.user)
		if len(items) != 1 || n != 1 || errPriv != nil || errVCard != nil || page.Count != 3 || prefs.Default != "roster" || joins != 1 || len(blocked) != 1 || pushes != 1 {
			t.Errorf("data of %q touched by DeleteAccount(alice): %d roster items, %d offline, private %v, vcard %v, %d archived, prefs %q, %d room memberships, %d blocked, %d push registrations",
				sv.user, len(items), n, errPriv, errVCard, page.Count, prefs.Default, joins, len(blocked), pushes)
		}
	}

	// A new account with the same name starts empty.
	must(t, "CreateAccount", s.CreateAccount(ctx, "alice", creds(2)))
	items, _, err := s.RosterItems(ctx, "alice")
	must(t, "RosterItems", err)
	diff(t, "roster of the new account", []storage.RosterItem(nil), items)
	n, err := s.CountOffline(ctx, "alice")
	must(t, "CountOffline", err)
	if n != 0 {
		t.Errorf("new account inherited %d offline messages", n)
	}
	blocked, err := s.Blocklist(ctx, "alice")
	must(t, "Blocklist", err)
	diff(t, "blocklist of the new account", []string(nil), blocked)
}
