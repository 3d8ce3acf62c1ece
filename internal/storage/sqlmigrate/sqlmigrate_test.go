package sqlmigrate

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	ms, err := Load(fstest.MapFS{
		"m/0002_two.sql": file("CREATE TABLE b (x INTEGER);"),
		"m/0001_one.sql": file("CREATE TABLE a (x INTEGER);"),
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[1].Name != "0002_two.sql" || !strings.Contains(ms[1].SQL, "TABLE b") {
		t.Errorf("loaded %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": file(""), "m/0003_c.sql": file("")},
		"duplicate": {"m/0001_a.sql": file(""), "m/0001_b.sql": file("")},
		"zero":      {"m/0000_a.sql": file("")},
		"no prefix": {"m/a.sql": file("")},
		"not sql":   {"m/0001_a.txt": file("")},
		"no dir":    {},
	} {
		if ms, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: loaded %+v", name, ms)
		}
	}
}
