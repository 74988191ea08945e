package eval

import (
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/trainer"
)

const kName = "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"
const vName = "mid_block.attentions.0.transformer_blocks.0.attn2.to_v.weight"

func delta(token string, k, v []float32) *trainer.Delta {
	return &trainer.Delta{ModifierToken: token, ClassNoun: "star", BaseModelID: "base",
		Weights: map[string][]float32{kName: k, vName: v},
		Shapes:  map[string][]int{kName: {2, 2}, vName: {2, 2}}}
}

func TestMergeDeltasAverages(t *testing.T) {
	ds := []*trainer.Delta{
		delta("<new1>", []float32{1, 2, 3, 4}, []float32{0, 0, 0, 3}),
		delta("<new2>", []float32{3, 2, 1, 0}, []float32{3, 0, 0, 0}),
		delta("<new3>", []float32{2, 2, 2, 2}, []float32{0, 3, 0, 0}),
	}
	m, err := MergeDeltas(nil, ds)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{2, 2, 2, 2}; !slices.Equal(m[kName], want) {
		t.Errorf("to_k: got %v, want %v", m[kName], want)
	}
	if want := []float32{1, 1, 0, 1}; !slices.Equal(m[vName], want) {
		t.Errorf("to_v: got %v, want %v", m[vName], want)
	}
	one, err := MergeDeltas(nil, ds[:1])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one[kName], ds[0].Weights[kName]) {
		t.Errorf("one delta merged into %v, want its own weights %v", one[kName], ds[0].Weights[kName])
	}
	ds[0].Weights[kName][0] = 100
	if m[kName][0] != 2 {
		t.Error("the merged weights alias a delta's")
	}
}

// testBase is a base model's UNet with kName = [1 1 1 1] and vName = [2 2 2 2].
func testBase(t *testing.T) *nn.Params {
	t.Helper()
	ps := nn.NewParams(tensor.Float32)
	ps.New(kName, 2, 2)
	ps.New(vName, 2, 2)
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	copy(ps.Get(kName).Value.Data().([]float32), []float32{1, 1, 1, 1})
	copy(ps.Get(vName).Value.Data().([]float32), []float32{2, 2, 2, 2})
	return ps
}

// tokenOnly is a token-only delta: rows alone, no weights.
func tokenOnly(token string) *trainer.Delta {
	return &trainer.Delta{ModifierToken: token, ClassNoun: "ring", BaseModelID: "base",
		Weights: map[string][]float32{}, Shapes: map[string][]int{}}
}

// TestMergeDeltasTokenOnly: a delta without weights counts as the base model's.
func TestMergeDeltasTokenOnly(t *testing.T) {
	base := testBase(t)
	m, err := MergeDeltas(base, []*trainer.Delta{
		delta("<new1>", []float32{3, 3, 3, 3}, []float32{0, 0, 0, 4}), tokenOnly("<new2>")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{2, 2, 2, 2}; !slices.Equal(m[kName], want) {
		t.Errorf("to_k: got %v, want %v (the mean with the base's)", m[kName], want)
	}
	if want := []float32{1, 1, 1, 3}; !slices.Equal(m[vName], want) {
		t.Errorf("to_v: got %v, want %v", m[vName], want)
	}
	if got := base.Get(kName).Value.Data().([]float32); !slices.Equal(got, []float32{1, 1, 1, 1}) {
		t.Errorf("merging changed the base model's to_k to %v", got)
	}
	none, err := MergeDeltas(base, []*trainer.Delta{tokenOnly("<new1>"), tokenOnly("<new2>")})
	if err != nil || len(none) != 0 {
		t.Errorf("token-only deltas merged into %d weights (%v), want none", len(none), err)
	}
}

func TestMergeDeltasRefuses(t *testing.T) {
	a := delta("<new1>", []float32{1, 2, 3, 4}, []float32{1, 2, 3, 4})
	other := func(mod func(d *trainer.Delta)) *trainer.Delta {
		d := delta("<new2>", []float32{1, 2, 3, 4}, []float32{1, 2, 3, 4})
		mod(d)
		return d
	}
	tests := []struct {
		name   string
		deltas []*trainer.Delta
		want   string
	}{
		{"none", nil, "no deltas"},
		{"same token", []*trainer.Delta{a, delta("<new1>", []float32{1, 2, 3, 4}, []float32{1, 2, 3, 4})}, "<new1>"},
		{"other base model", []*trainer.Delta{a, other(func(d *trainer.Delta) { d.BaseModelID = "other" })}, "base model"},
		{"missing weight", []*trainer.Delta{a, other(func(d *trainer.Delta) {
			delete(d.Weights, vName)
			d.Weights["x.to_k.weight"] = []float32{1, 2, 3, 4}
		})}, vName},
		{"other shape", []*trainer.Delta{a, other(func(d *trainer.Delta) { d.Shapes[kName] = []int{4, 1} })}, kName},
		{"token-only with a weight the base lacks", []*trainer.Delta{other(func(d *trainer.Delta) {
			d.Weights["x.attn2.to_k.weight"], d.Shapes["x.attn2.to_k.weight"] = []float32{1}, []int{1, 1}
		}), tokenOnly("<new3>")}, `the base model has no weight "x.attn2.to_k.weight"`},
		{"token-only with another shape", []*trainer.Delta{other(func(d *trainer.Delta) { d.Shapes[kName] = []int{4, 1} }), tokenOnly("<new3>")},
			"in the base model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MergeDeltas(testBase(t), tc.deltas)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestApplyWeightsAndRestore(t *testing.T) {
	ps := testBase(t)
	restore, err := ApplyWeights(ps, map[string][]float32{kName: {5, 6, 7, 8}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ps.Get(kName).Value.Data().([]float32); !slices.Equal(got, []float32{5, 6, 7, 8}) {
		t.Errorf("applied to_k = %v", got)
	}
	if got := ps.Get(vName).Value.Data().([]float32); !slices.Equal(got, []float32{2, 2, 2, 2}) {
		t.Errorf("to_v changed to %v though not merged", got)
	}
	restore()
	if got := ps.Get(kName).Value.Data().([]float32); !slices.Equal(got, []float32{1, 1, 1, 1}) {
		t.Errorf("restored to_k = %v", got)
	}
	for name, w := range map[string][]float32{"nope.weight": {1}, kName: {1, 2, 3}} {
		if _, err := ApplyWeights(ps, map[string][]float32{name: w}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s with %d values: got error %v", name, len(w), err)
		}
	}
	if got := ps.Get(kName).Value.Data().([]float32); !slices.Equal(got, []float32{1, 1, 1, 1}) {
		t.Errorf("a refused merge changed to_k to %v", got)
	}
}
