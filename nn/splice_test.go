package nn

import (
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func spliceProgram() *Program {
	return NewProgram(NewParams(tensor.Float32), func(b *Builder) error {
		base, err := b.Input("base")
		if err != nil {
			return err
		}
		src, err := b.Input("src")
		if err != nil {
			return err
		}
		blocks, err := b.Input("blocks")
		if err != nil {
			return err
		}
		y, err := b.Splice(1, base, src, blocks)
		b.Output("y", y)
		return err
	}, Hooks{})
}

// TestSpliceMovesPositionsPerRun builds the LatexBlend base-flow K of the instance row:
// the replace prompt's K with the instance's concept tokens written over "a dog", where
// the positions change every step without a rebuild.
func TestSpliceMovesPositionsPerRun(t *testing.T) {
	// base: the replace row (value 100+position), src: the instance row (value position).
	base := tensor.New(tensor.WithShape(1, 6, 1), tensor.WithBacking([]float32{100, 101, 102, 103, 104, 105}))
	src := tensor.New(tensor.WithShape(1, 6, 1), tensor.WithBacking([]float32{0, 1, 2, 3, 4, 5}))
	prog := spliceProgram()
	defer prog.Close()
	for _, tc := range []struct {
		blocks []SpliceBlock
		want   []float32
	}{
		{[]SpliceBlock{{0, 2, 0, 4, 2}}, []float32{100, 101, 4, 5, 104, 105}},
		{[]SpliceBlock{{0, 1, 0, 3, 2}}, []float32{100, 3, 4, 103, 104, 105}},
		{[]SpliceBlock{{0, 0, 0, 5, 1}, {0, 5, 0, 0, 1}}, []float32{5, 101, 102, 103, 104, 0}},
		{nil, []float32{100, 101, 102, 103, 104, 105}},
	} {
		res, err := prog.Run(map[string]*tensor.Dense{"base": base, "src": src, "blocks": SpliceBlocksTensor(tensor.Float32, tc.blocks)})
		if err != nil {
			t.Fatal(err)
		}
		got := res.Outputs["y"].Data().([]float32)
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Fatalf("blocks %v: got %v, want %v", tc.blocks, got, tc.want)
			}
		}
	}
	// Blocks [1,5] (nil packs as one zero-length block) and [2,5]: two graphs.
	if n := prog.Compiled(); n != 2 {
		t.Fatalf("compiled %d graphs, want 2 (one per blocks shape)", n)
	}
}

func TestSpliceRejectsBadBlocks(t *testing.T) {
	base := tensor.New(tensor.WithShape(2, 4, 1), tensor.WithBacking(make([]float32, 8)))
	prog := spliceProgram()
	defer prog.Close()
	for _, tc := range []struct {
		name   string
		blocks []SpliceBlock
		want   string
	}{
		{"overlap", []SpliceBlock{{0, 0, 1, 0, 2}, {0, 1, 1, 2, 2}}, "already wrote"},
		{"past the end", []SpliceBlock{{0, 3, 1, 0, 2}}, "does not fit"},
		{"bad outer", []SpliceBlock{{2, 0, 0, 0, 1}}, "does not fit"},
		{"mixed all", []SpliceBlock{{-1, 0, 0, 0, 1}}, "does not fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prog.Run(map[string]*tensor.Dense{"base": base, "src": base, "blocks": SpliceBlocksTensor(tensor.Float32, tc.blocks)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	b := NewBuilder(NewParams(tensor.Float32), map[string]*tensor.Dense{"x": base}, Hooks{})
	x, _ := b.Input("x")
	bad := G.NewTensor(b.Graph(), tensor.Float32, 2, G.WithShape(1, 4))
	if _, err := b.Splice(1, x, x, bad); err == nil {
		t.Fatal("blocks of shape [1, 4] accepted")
	}
}
