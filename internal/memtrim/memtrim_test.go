package memtrim

import (
	"runtime"
	"testing"
	"time"
)

func TestStep(t *testing.T) {
	const MiB = 1 << 20
	busy, quiet := uint64(50*MiB), uint64(10<<10) // bytes per 2 s interval
	tests := []struct {
		name  string
		steps []struct{ allocs, held, live uint64 }
		want  []bool
	}{
		{
			name: "a burst then quiet with much held: one trim",
			steps: []struct{ allocs, held, live uint64 }{
				{0, 0, 10 * MiB}, {busy, 40 * MiB, 10 * MiB}, {quiet, 40 * MiB, 10 * MiB},
				{quiet, 2 * MiB, 10 * MiB}, {quiet, 40 * MiB, 10 * MiB},
			},
			want: []bool{false, false, true, false, false},
		},
		{
			name: "quiet from the start: nothing to return",
			steps: []struct{ allocs, held, live uint64 }{
				{0, 0, MiB}, {quiet, 40 * MiB, MiB}, {quiet, 40 * MiB, MiB},
			},
			want: []bool{false, false, false},
		},
		{
			name: "busy all along: never",
			steps: []struct{ allocs, held, live uint64 }{
				{0, 0, MiB}, {busy, 40 * MiB, MiB}, {busy, 40 * MiB, MiB}, {busy, 40 * MiB, MiB},
			},
			want: []bool{false, false, false, false},
		},
		{
			name: "little held: the burst left nothing worth a collection",
			steps: []struct{ allocs, held, live uint64 }{
				{0, 0, MiB}, {busy, 3 * MiB, MiB}, {quiet, 3 * MiB, MiB},
			},
			want: []bool{false, false, false},
		},
		{
			name: "held small beside a large live heap",
			steps: []struct{ allocs, held, live uint64 }{
				{0, 0, 400 * MiB}, {busy, 50 * MiB, 400 * MiB}, {quiet, 50 * MiB, 400 * MiB},
			},
			want: []bool{false, false, false},
		},
		{
			name: "two bursts: two trims",
			steps: []struct{ allocs, held, live uint64 }{
				{0, 0, MiB}, {busy, 40 * MiB, MiB}, {quiet, 40 * MiB, MiB},
				{busy, 40 * MiB, MiB}, {busy, 40 * MiB, MiB}, {quiet, 40 * MiB, MiB},
			},
			want: []bool{false, false, true, false, false, true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cur Sample
			i, freed := 0, 0
			tr := New(2*time.Second, nil)
			tr.read = func() Sample {
				st := tc.steps[i]
				cur = Sample{Allocs: cur.Allocs + st.allocs, Held: st.held, Live: st.live}
				return cur
			}
			tr.free = func() { freed++ }
			for i = range tc.steps {
				before := freed
				got := tr.Step()
				if got != tc.want[i] || (freed > before) != got {
					t.Fatalf("step %d: trimmed %v (freed %d times), want %v", i, got, freed-before, tc.want[i])
				}
			}
		})
	}
}

// The runtime's metrics are there under the names the trimmer reads.
func TestReadRuntime(t *testing.T) {
	buf := make([][]byte, 0, 64)
	for range 64 {
		buf = append(buf, make([]byte, 64<<10))
	}
	runtime.GC() // live heap is known after a collection
	s := readRuntime()
	if s.Allocs < 4<<20 || s.Live < 4<<20 {
		t.Fatalf("readRuntime() = %+v; want the 4 MiB just allocated counted, and live", s)
	}
	runtime.KeepAlive(buf)
}
