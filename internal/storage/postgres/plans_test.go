package postgres

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"minimix/internal/storage"
	"minimix/internal/storage/sqlarchive"
)

// TestQueryPlans checks that each archive query walks an index, in
// position order where it pages, instead of scanning the table or
// sorting what it reads: with a large archive either would make every
// page cost the whole archive. The tables are filled and analysed so
// that the planner has real statistics, and every query is planned as
// the store runs it: a prepared statement planned for its values
// (plan_cache_mode force_custom_plan, which Open sets; a generic plan
// would guess a position range's selectivity).
func TestQueryPlans(t *testing.T) {
	if testing.Short() {
		t.Skip("fills an archive")
	}
	ctx := t.Context()
	db, _ := openTemp(t)
	defer db.Close()
	// 40 owners with 1000 records each over 20 contacts (each owner's
	// with one contact), 20 rooms with 500 shared records each, said by
	// 7 nicks.
	_, err := db.pool.Exec(ctx, `
		INSERT INTO archive_messages (seq, owner, id, stamp, with_jid, from_nick, groupchat, origin_stanza_id, stanza)
		SELECT i, 'u' || (i % 40) || '@example.net', 'id' || i, 1700000000000000 + i::bigint * 1000000,
			'c' || (i % 20) || '@example.net', 'nick' || (i % 3), i % 5 = 0, '', '\x3c6d6573736167652f3e'::bytea
		FROM generate_series(1, 40000) i;
		INSERT INTO room_messages (seq, room, id, stamp, from_nick, origin_stanza_id, stanza)
		SELECT 100000 + i, 'r' || (i % 20) || '@conference.example.net', 'rid' || i, 1700000000000000 + i::bigint * 1000000,
			'nick' || (i % 7), 'sid' || i, '\x3c6d6573736167652f3e'::bytea
		FROM generate_series(1, 10000) i;
		ANALYZE archive_messages; ANALYZE room_messages;`)
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.pool.QueryRow(ctx, `SHOW plan_cache_mode`).Scan(&mode); err != nil || mode != "force_custom_plan" {
		t.Fatalf("plan_cache_mode %q, %v; want force_custom_plan", mode, err)
	}
	yes := true
	start := time.UnixMicro(1700000000000000 + 20000*1000000)
	own := &sqlarchive.Segment{Key: "u7@example.net"}
	room := &sqlarchive.Segment{Shared: true, Key: "r1@conference.example.net", After: 100003, Before: 109000}
	page := func(sg *sqlarchive.Segment, q storage.ArchiveQuery, after, before int64) func() (string, []any) {
		return func() (string, []any) { return dialect.PageSQL(sg, q, after, before) }
	}
	count := func(sg *sqlarchive.Segment, q storage.ArchiveQuery, op string, pivot int64) func() (string, []any) {
		return func() (string, []any) { return dialect.CountSQL(sg, q, op, pivot) }
	}
	span := func(sg *sqlarchive.Segment, q storage.ArchiveQuery) func() (string, []any) {
		return func() (string, []any) { return dialect.SpanSQL(sg, q) }
	}
	fixed := func(q string, args ...any) func() (string, []any) {
		return func() (string, []any) { return q, args }
	}
	for _, tc := range []struct {
		name  string
		sql   func() (string, []any)
		index string // the index the plan walks
		// sorts is whether a sort of the few rows found is expected;
		// mayBitmap, that the planner may instead read the few
		// records a selective filter matches within the page's bounds
		// (a bitmap scan of the same index) and sort them.
		sorts, mayBitmap bool
		other            string // another index the plan may walk instead
	}{
		{"page", page(own, storage.ArchiveQuery{Max: 10}, 5, 0), "archive_messages_pkey", false, false, ""},
		{"page before", page(own, storage.ArchiveQuery{Before: true, Max: 10}, 0, 30000), "archive_messages_pkey", false, false, ""},
		{"page with", page(own, storage.ArchiveQuery{With: "c7@example.net", Before: true, Max: 10}, 0, 0), "archive_messages_owner_with", false, false, ""},
		{"page with occupant", page(own, storage.ArchiveQuery{With: "c7@example.net/nick1", Max: 10}, 300, 39000), "archive_messages_owner_with", false, true, ""},
		{"page groupchat", page(own, storage.ArchiveQuery{Groupchat: &yes, Max: 10}, 0, 0), "archive_messages_pkey", false, false, ""},
		{"page start", page(own, storage.ArchiveQuery{Start: start, Max: 10}, 19000, 40000), "archive_messages_pkey", false, false, ""},
		{"page start end with", page(own, storage.ArchiveQuery{Start: start, End: start.Add(time.Hour), With: "c7@example.net", Before: true, Max: 10}, 19000, 24000), "archive_messages_owner_with", false, true, "archive_messages_pkey"},
		{"page ids", page(own, storage.ArchiveQuery{IDs: []string{"id7", "id47"}, Max: 10}, 0, 0), "archive_messages_owner_id_key", true, false, ""},
		{"page ids after", page(own, storage.ArchiveQuery{IDs: []string{"id7", "id47"}, Max: 10}, 3, 0), "archive_messages_owner_id_key", true, false, ""},
		{"shared page", page(room, storage.ArchiveQuery{Max: 10}, 100005, 0), "room_messages_pkey", false, false, ""},
		{"shared page before", page(room, storage.ArchiveQuery{Before: true, Max: 10}, 0, 108000), "room_messages_pkey", false, false, ""},
		{"shared page occupant", page(room, storage.ArchiveQuery{With: "r1@conference.example.net/nick3", Max: 10}, 100005, 0), "room_messages_pkey", false, false, ""},
		{"shared page start", page(room, storage.ArchiveQuery{Start: start, Max: 10}, 100005, 0), "room_messages_pkey", false, false, ""},
		{"shared page ids", page(room, storage.ArchiveQuery{IDs: []string{"rid9", "rid11"}, Max: 10}, 0, 0), "room_messages_room_id_key", true, false, ""},
		{"shared count", count(room, storage.ArchiveQuery{}, "", 0), "room_messages_pkey", false, false, "room_messages_room_id_key"},
		{"shared count start", count(room, storage.ArchiveQuery{Start: start}, "", 0), "room_messages_room_stamp", false, true, "room_messages_pkey"},
		{"count before", count(own, storage.ArchiveQuery{}, "<", 500), "archive_messages_pkey", false, false, ""},
		{"count with after", count(own, storage.ArchiveQuery{With: "c7@example.net"}, ">=", 500), "archive_messages_owner_with", false, false, ""},
		{"count start", count(own, storage.ArchiveQuery{Start: start}, "", 0), "archive_messages_owner_stamp", false, false, ""},
		{"span", span(own, storage.ArchiveQuery{}), "archive_messages_pkey", false, false, ""},
		{"span start", span(own, storage.ArchiveQuery{Start: start, End: start.Add(time.Hour)}), "archive_messages_owner_stamp", false, false, ""},
		{"shared span", span(room, storage.ArchiveQuery{}), "room_messages_pkey", false, false, ""},
		{"origin", fixed(`SELECT 1 FROM archive_messages
			WHERE owner = $1 AND with_jid = $2 AND origin_stanza_id = $3 AND origin_stanza_id <> '' LIMIT 1`,
			"u7@example.net", "c7@example.net", "x"), "archive_messages_origin", false, false, ""},
		{"lookup", fixed(`SELECT seq FROM archive_messages WHERE owner = $1 AND id = $2`, "u7@example.net", "id47"), "archive_messages_owner_id_key", false, false, ""},
		{"recent", fixed(`SELECT r.room, m.seq, m.id, m.stamp, m.from_nick, m.origin_stanza_id
			FROM unnest($1::text[]) AS r(room) CROSS JOIN LATERAL (
				SELECT seq, id, stamp, from_nick, origin_stanza_id FROM room_messages
				WHERE room = r.room ORDER BY seq DESC LIMIT $2
			) m ORDER BY r.room, m.seq DESC`, []string{"r1@conference.example.net"}, 32), "room_messages_pkey", true, false, ""},
	} {
		{
			t.Run(tc.name, func(t *testing.T) {
				q, args := tc.sql()
				plan := explain(t, db.pool, q, args)
				if !plan.uses(tc.index) && (tc.other == "" || !plan.uses(tc.other)) {
					t.Errorf("plan does not walk %s:\n%s", tc.index, plan)
				}
				if plan.has("Seq Scan") {
					t.Errorf("plan scans a table:\n%s", plan)
				}
				sorts := plan.has("Sort")
				if tc.mayBitmap && sorts && plan.has("Bitmap Index Scan") {
					sorts = tc.sorts
				}
				if sorts != tc.sorts {
					t.Errorf("plan sorts: %v, want %v:\n%s", sorts, tc.sorts, plan)
				}
			})
		}
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	Type  string     `json:"Node Type"`
	Index string     `json:"Index Name"`
	Plans []planNode `json:"Plans"`
}

func (n planNode) has(typ string) bool {
	if n.Type == typ {
		return true
	}
	for _, c := range n.Plans {
		if c.has(typ) {
			return true
		}
	}
	return false
}

func (n planNode) uses(index string) bool {
	if n.Index == index {
		return true
	}
	for _, c := range n.Plans {
		if c.uses(index) {
			return true
		}
	}
	return false
}

func (n planNode) String() string {
	var b strings.Builder
	var walk func(n planNode, depth int)
	walk = func(n planNode, depth int) {
		fmt.Fprintf(&b, "%s%s %s\n", strings.Repeat("  ", depth), n.Type, n.Index)
		for _, c := range n.Plans {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

// explain plans q as a prepared statement executed with args.
func explain(t *testing.T, pool *pgxpool.Pool, q string, args []any) planNode {
	t.Helper()
	ctx := t.Context()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var lits []string
	for _, a := range args {
		lits = append(lits, literal(a))
	}
	var out []byte
	if _, err := conn.Exec(ctx, `PREPARE plancheck AS `+q); err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer conn.Exec(ctx, `DEALLOCATE plancheck`)
	if err := conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON) EXECUTE plancheck(`+strings.Join(lits, ", ")+`)`).Scan(&out); err != nil {
		t.Fatalf("explain: %v", err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output %s: %v", out, err)
	}
	return plans[0].Plan
}

// literal writes v as an SQL literal, for EXECUTE.
func literal(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case []string:
		var s []string
		for _, x := range v {
			s = append(s, literal(x))
		}
		return "ARRAY[" + strings.Join(s, ", ") + "]::text[]"
	}
	panic(fmt.Sprintf("no literal for %T", v))
}
