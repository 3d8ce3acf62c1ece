package storagetest

import (
	"testing"
	"time"

	"minimix/internal/storage"
)

func testPEP(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := t.Context()
	s := newStore(t, open)

	nodes, err := s.PEPNodes(ctx, "alice")
	must(t, "PEPNodes of nobody", err)
	diff(t, "nodes of nobody", []storage.PEPNode(nil), nodes)
	_, err = s.PEPNode(ctx, "alice", "n")
	wantErr(t, "PEPNode of nothing", err, storage.ErrNotFound)
	items, err := s.PEPItems(ctx, "alice", "n", 0)
	must(t, "PEPItems of no node", err)
	diff(t, "items of no node", []storage.PEPItem(nil), items)

	item := func(id, payload string, sec int) storage.PEPItem {
		return storage.PEPItem{ID: id, Publisher: "alice@example.net", Stamp: t0.Add(time.Duration(sec) * time.Second), Payload: []byte(payload)}
	}
	put := func(node string, it storage.PEPItem, max int) storage.PEPOp {
		return storage.PEPOp{Kind: storage.PEPPutItem, Node: storage.PEPNode{Name: node}, Item: it, MaxItems: max}
	}
	ids := func(user, node string, max int) []string {
		t.Helper()
		items, err := s.PEPItems(ctx, user, node, max)
		must(t, "PEPItems", err)
		var out []string
		for _, it := range items {
			out = append(out, it.ID)
		}
		return out
	}

	must(t, "create nodes", s.ApplyPEP(ctx, "alice", []storage.PEPOp{
		{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: "urn:xmpp:avatar:metadata", Config: []byte(`{"a":1}`)}},
		{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: "storage:bookmarks", Config: []byte(`{"b":2}`)}},
		put("urn:xmpp:avatar:metadata", item("a1", `<metadata xmlns="urn:xmpp:avatar:metadata"/>`, 1), 0),
	}))
	nodes, err = s.PEPNodes(ctx, "alice")
	must(t, "PEPNodes", err)
	diff(t, "nodes, by name", []storage.PEPNode{
		{Name: "storage:bookmarks", Config: []byte(`{"b":2}`)},
		{Name: "urn:xmpp:avatar:metadata", Config: []byte(`{"a":1}`)},
	}, nodes)
	items, err = s.PEPItems(ctx, "alice", "urn:xmpp:avatar:metadata", 0)
	must(t, "PEPItems", err)
	diff(t, "stored item", []storage.PEPItem{item("a1", `<metadata xmlns="urn:xmpp:avatar:metadata"/>`, 1)}, items)

	// Replacing the configuration keeps the items.
	must(t, "reconfigure", s.ApplyPEP(ctx, "alice", []storage.PEPOp{
		{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: "urn:xmpp:avatar:metadata", Config: []byte(`{"a":2}`)}},
	}))
	n, err := s.PEPNode(ctx, "alice", "urn:xmpp:avatar:metadata")
	must(t, "PEPNode", err)
	diff(t, "new config", `{"a":2}`, string(n.Config))
	diff(t, "items after reconfigure", []string{"a1"}, ids("alice", "urn:xmpp:avatar:metadata", 0))

	// Publish order, republishing, max and trimming.
	const node = "urn:xmpp:bookmarks:1"
	must(t, "create bookmarks", s.ApplyPEP(ctx, "alice", []storage.PEPOp{
		{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: node, Config: []byte(`{}`)}},
		put(node, item("r1", "<c/>", 1), 0),
		put(node, item("r2", "<c/>", 2), 0),
		put(node, item("r3", "<c/>", 3), 0),
	}))
	diff(t, "publish order", []string{"r1", "r2", "r3"}, ids("alice", node, 0))
	must(t, "republish r1", s.ApplyPEP(ctx, "alice", []storage.PEPOp{put(node, item("r1", "<c>new</c>", 4), 0)}))
	diff(t, "republished item is newest", []string{"r2", "r3", "r1"}, ids("alice", node, 0))
	diff(t, "max 2", []string{"r3", "r1"}, ids("alice", node, 2))
	got, err := s.PEPItemsByID(ctx, "alice", node, []string{"r1", "nope", "r2"})
	must(t, "PEPItemsByID", err)
	diff(t, "items by id", []storage.PEPItem{item("r2", "<c/>", 2), item("r1", "<c>new</c>", 4)}, got)
	must(t, "put with max", s.ApplyPEP(ctx, "alice", []storage.PEPOp{put(node, item("r4", "<c/>", 5), 3)}))
	diff(t, "oldest dropped by max", []string{"r3", "r1", "r4"}, ids("alice", node, 0))
	must(t, "trim", s.ApplyPEP(ctx, "alice", []storage.PEPOp{
		{Kind: storage.PEPTrimItems, Node: storage.PEPNode{Name: node}, MaxItems: 1},
	}))
	diff(t, "trimmed", []string{"r4"}, ids("alice", node, 0))

	// A failing op undoes the whole batch.
	err = s.ApplyPEP(ctx, "alice", []storage.PEPOp{
		put(node, item("r5", "<c/>", 6), 0),
		{Kind: storage.PEPDeleteItem, Node: storage.PEPNode{Name: node}, Item: storage.PEPItem{ID: "r4"}},
		put("missing", item("x", "<c/>", 6), 0),
	})
	wantErr(t, "put to a missing node", err, storage.ErrNotFound)
	diff(t, "nothing of a failed batch", []string{"r4"}, ids("alice", node, 0))
	_, err = s.PEPNode(ctx, "alice", "missing")
	wantErr(t, "node of a failed batch", err, storage.ErrNotFound)

	// Deleting items, purging, deleting the node.
	must(t, "more items", s.ApplyPEP(ctx, "alice", []storage.PEPOp{
		put(node, item("r5", "<c/>", 6), 0),
		{Kind: storage.PEPDeleteItem, Node: storage.PEPNode{Name: node}, Item: storage.PEPItem{ID: "r4"}},
		{Kind: storage.PEPDeleteItem, Node: storage.PEPNode{Name: node}, Item: storage.PEPItem{ID: "never-there"}},
	}))
	diff(t, "after delete", []string{"r5"}, ids("alice", node, 0))
	must(t, "purge", s.ApplyPEP(ctx, "alice", []storage.PEPOp{{Kind: storage.PEPPurgeItems, Node: storage.PEPNode{Name: node}}}))
	diff(t, "purged", []string(nil), ids("alice", node, 0))
	must(t, "refill", s.ApplyPEP(ctx, "alice", []storage.PEPOp{put(node, item("r6", "<c/>", 7), 0)}))
	must(t, "delete node", s.ApplyPEP(ctx, "alice", []storage.PEPOp{{Kind: storage.PEPDeleteNode, Node: storage.PEPNode{Name: node}}}))
	_, err = s.PEPNode(ctx, "alice", node)
	wantErr(t, "deleted node", err, storage.ErrNotFound)
	must(t, "recreate", s.ApplyPEP(ctx, "alice", []storage.PEPOp{{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: node, Config: []byte(`{}`)}}}))
	diff(t, "a recreated node starts empty", []string(nil), ids("alice", node, 0))

	// Accounts are separate.
	must(t, "bob's node", s.ApplyPEP(ctx, "bob", []storage.PEPOp{
		{Kind: storage.PEPPutNode, Node: storage.PEPNode{Name: "urn:xmpp:avatar:metadata", Config: []byte(`{"bob":1}`)}},
		put("urn:xmpp:avatar:metadata", item("b1", "<m/>", 1), 0),
	}))
	diff(t, "alice's items untouched by bob", []string{"a1"}, ids("alice", "urn:xmpp:avatar:metadata", 0))
	diff(t, "bob's items", []string{"b1"}, ids("bob", "urn:xmpp:avatar:metadata", 0))

	// DeleteAccount takes the account's PEP data with it.
	must(t, "CreateAccount", s.CreateAccount(ctx, "alice", creds(1)))
	must(t, "DeleteAccount", s.DeleteAccount(ctx, "alice"))
	nodes, err = s.PEPNodes(ctx, "alice")
	must(t, "PEPNodes after delete", err)
	diff(t, "nodes after DeleteAccount", []storage.PEPNode(nil), nodes)
	diff(t, "items after DeleteAccount", []string(nil), ids("alice", "urn:xmpp:avatar:metadata", 0))
	diff(t, "bob keeps his items", []string{"b1"}, ids("bob", "urn:xmpp:avatar:metadata", 0))
}
