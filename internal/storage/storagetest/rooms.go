package storagetest

import (
	"testing"

	"minimix/internal/storage"
)

func testRooms(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)
	const (
		r1 = "b-room@conference.example.net"
		r2 = "a-room@conference.example.net"
		r3 = "room@muc.example.org"
	)
	_, err := s.GetRoom(ctx, r1)
	wantErr(t, "GetRoom of nothing", err, storage.ErrNotFound)
	rooms, err := s.ListRooms(ctx, "conference.example.net")
	must(t, "ListRooms of nothing", err)
	diff(t, "no rooms", []storage.RoomRecord(nil), rooms)
	wantErr(t, "DeleteRoom of nothing", s.DeleteRoom(ctx, r1), storage.ErrNotFound)
	wantErr(t, "SetRoomAffiliation in nothing", s.SetRoomAffiliation(ctx, r1,
		storage.RoomAffiliation{JID: alice, Affiliation: "member"}), storage.ErrNotFound)

	first := storage.RoomRecord{
		JID:         r1,
		Config:      []byte(`{"name":"Ünïcode 😀 <room>"}`),
		Subject:     "today: <everything> & more",
		SubjectNick: "Ålice",
		Affiliations: []storage.RoomAffiliation{
			{JID: bob, Affiliation: "member", Nick: "bobby", Reason: "friend"},
			{JID: alice, Affiliation: "owner"},
		},
	}
	must(t, "PutRoom", s.PutRoom(ctx, first))
	got, err := s.GetRoom(ctx, r1)
	must(t, "GetRoom", err)
	// Affiliations come back in JID order.
	want := first
	want.Affiliations = []storage.RoomAffiliation{first.Affiliations[1], first.Affiliations[0]}
	diff(t, "room", want, got)

	// "none" is no affiliation at all.
	must(t, "PutRoom other", s.PutRoom(ctx, storage.RoomRecord{JID: r2, Config: []byte("{}"),
		Affiliations: []storage.RoomAffiliation{{JID: bob, Affiliation: "none"}}}))
	must(t, "PutRoom elsewhere", s.PutRoom(ctx, storage.RoomRecord{JID: r3, Config: []byte("{}")}))
	rooms, err = s.ListRooms(ctx, "conference.example.net")
	must(t, "ListRooms", err)
	diff(t, "rooms of the domain", []storage.RoomRecord{{JID: r2, Config: []byte("{}")}, want}, rooms)

	// Replacing a room replaces its affiliations.
	replaced := storage.RoomRecord{JID: r1, Config: []byte(`{"name":"x"}`),
		Affiliations: []storage.RoomAffiliation{{JID: "carol@example.net", Affiliation: "admin"}}}
	must(t, "PutRoom again", s.PutRoom(ctx, replaced))
	got, err = s.GetRoom(ctx, r1)
	must(t, "GetRoom", err)
	diff(t, "replaced room", replaced, got)

	// One affiliation at a time.
	must(t, "SetRoomAffiliation", s.SetRoomAffiliation(ctx, r1, storage.RoomAffiliation{JID: bob, Affiliation: "outcast", Reason: "spam"}))
	must(t, "SetRoomAffiliation", s.SetRoomAffiliation(ctx, r1, storage.RoomAffiliation{JID: "carol@example.net", Affiliation: "owner"}))
	must(t, "SetRoomAffiliation none", s.SetRoomAffiliation(ctx, r1, storage.RoomAffiliation{JID: alice, Affiliation: "none"}))
	got, err = s.GetRoom(ctx, r1)
	must(t, "GetRoom", err)
	diff(t, "affiliations", []storage.RoomAffiliation{
		{JID: bob, Affiliation: "outcast", Reason: "spam"},
		{JID: "carol@example.net", Affiliation: "owner"},
	}, got.Affiliations)

	must(t, "DeleteRoom", s.DeleteRoom(ctx, r1))
	_, err = s.GetRoom(ctx, r1)
	wantErr(t, "GetRoom of a deleted room", err, storage.ErrNotFound)
	// A room made again under the same JID starts with no affiliations.
	must(t, "PutRoom after delete", s.PutRoom(ctx, storage.RoomRecord{JID: r1, Config: []byte("{}")}))
	got, err = s.GetRoom(ctx, r1)
	must(t, "GetRoom", err)
	diff(t, "recreated room", storage.RoomRecord{JID: r1, Config: []byte("{}")}, got)
}
