package storagetest

import (
	"testing"
	"time"

	"minimix/internal/storage"
)

// testPushRegistrations checks storage.PushRegistrations: create, replace
// by (user, service, node), options kept byte for byte (and none kept as
// none), order, and removal of one node or of every node of a service.
func testPushRegistrations(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)

	got, err := s.PushRegistrations(ctx)
	must(t, "PushRegistrations of an empty store", err)
	if len(got) != 0 {
		t.Fatalf("PushRegistrations of an empty store = %v", got)
	}
	form := []byte(`<x xmlns="jabber:x:data" type="submit"><field var="secret"><value>s&amp;1</value></field></x>`)
	regs := []storage.PushRegistration{
		{User: "bob", Service: "push.example.org", Node: "n1", Resource: "phone", Enabled: t0},
		{User: "alice", Service: "push.example.org", Node: "n2", Options: form, Resource: "phone", Enabled: t0.Add(time.Second)},
		{User: "alice", Service: "push.example.org", Node: "n1", Resource: "tablet", Enabled: t0},
		{User: "alice", Service: "other.example.org", Node: "n1", Resource: "phone", Enabled: t0},
	}
	for _, r := range regs {
		must(t, "PutPushRegistration", s.PutPushRegistration(ctx, r))
	}
	got, err = s.PushRegistrations(ctx)
	must(t, "PushRegistrations", err)
	diff(t, "registrations", []storage.PushRegistration{regs[3], regs[2], regs[1], regs[0]}, got)

	// Enabling again replaces options, resource and time.
	again := storage.PushRegistration{User: "alice", Service: "push.example.org", Node: "n1", Options: form, Resource: "phone2", Enabled: t0.Add(time.Hour)}
	must(t, "PutPushRegistration again", s.PutPushRegistration(ctx, again))
	// Removing one node of a service leaves its others; a missing one is
	// no error.
	must(t, "DeletePushRegistrations node", s.DeletePushRegistrations(ctx, "alice", "push.example.org", "n2"))
	must(t, "DeletePushRegistrations missing", s.DeletePushRegistrations(ctx, "alice", "nowhere.example.org", "x"))
	got, err = s.PushRegistrations(ctx)
	must(t, "PushRegistrations", err)
	diff(t, "after replace and delete", []storage.PushRegistration{regs[3], again, regs[0]}, got)

	// Without a node, every node of the service goes, and only alice's.
	must(t, "PutPushRegistration", s.PutPushRegistration(ctx, regs[1]))
	must(t, "DeletePushRegistrations service", s.DeletePushRegistrations(ctx, "alice", "push.example.org", ""))
	got, err = s.PushRegistrations(ctx)
	must(t, "PushRegistrations", err)
	diff(t, "after deleting the service", []storage.PushRegistration{regs[3], regs[0]}, got)
}
