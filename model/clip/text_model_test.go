package clip

import (
	"errors"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/nn"
)

func TestParamNamesAreCheckpointKeys(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    diffusers.CLIPTextConfig
		prefix string
		count  int // parameters
		values int // scalars
	}{
		{"CLIPTextModel", TinyTextConfig(false), "", 84, 1617529},
		{"WithProjection", TinyTextConfig(true), "text_encoder_2", 85, 1618553},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := nn.NewParams(tensor.Float32)
			m, err := NewTextModel(ps, tc.prefix, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			keys := m.ParamNames()
			if len(keys) != tc.count || ps.Count() != tc.values {
				t.Errorf("%d parameters with %d values, want %d with %d", len(keys), ps.Count(), tc.count, tc.values)
			}
			want := map[string][]int{
				"text_model.embeddings.token_embedding.weight":        {49408, 32},
				"text_model.embeddings.position_embedding.weight":     {77, 32},
				"text_model.encoder.layers.0.self_attn.q_proj.weight": {32, 32},
				"text_model.encoder.layers.4.self_attn.out_proj.bias": {32},
				"text_model.encoder.layers.2.layer_norm1.weight":      {32},
				"text_model.encoder.layers.3.mlp.fc1.weight":          {37, 32},
				"text_model.encoder.layers.3.mlp.fc2.weight":          {32, 37},
				"text_model.final_layer_norm.bias":                    {32},
			}
			if tc.cfg.WithProjection() {
				want["text_projection.weight"] = []int{32, 32}
			}
			for key, shape := range want {
				p := ps.Get(nn.Join(tc.prefix, key))
				if !slices.Contains(keys, key) || p == nil {
					t.Errorf("no parameter %q (store name %q)", key, nn.Join(tc.prefix, key))
					continue
				}
				if !slices.Equal([]int(p.Shape()), shape) {
					t.Errorf("%s: shape %v, want %v", key, p.Shape(), shape)
				}
			}
			if !tc.cfg.WithProjection() && slices.Contains(keys, "text_projection.weight") {
				t.Error("CLIPTextModel has text_projection")
			}
		})
	}
}

func TestSDXLSizeConfigs(t *testing.T) {
	// Parameter counts of SDXL's encoders (spec §1.6), computed from the configs
	// without allocating the weights.
	for _, tc := range []struct {
		cfg  diffusers.CLIPTextConfig
		want int
	}{{CLIPViTLTextConfig(), 123060480}, {OpenCLIPBigGTextConfig(), 694659840}} {
		c := tc.cfg
		d, f := c.HiddenSize, c.IntermediateSize
		n := c.VocabSize*d + c.MaxPositionEmbeddings*d + 2*d
		n += c.NumHiddenLayers * (4*(d*d+d) + 4*d + f*d + f + d*f + d)
		if c.WithProjection() {
			n += c.ProjectionDim * d
		}
		if n != tc.want {
			t.Errorf("%v: %d parameters, want %d", c.Architectures, n, tc.want)
		}
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
	}
}

// writeCheckpoint saves a model's parameters under their checkpoint keys, applying
// edit to the tensor list first.
func writeCheckpoint(t *testing.T, m *TextModel, edit func([]safetensors.Tensor) []safetensors.Tensor) string {
	t.Helper()
	var ts []safetensors.Tensor
	for i, key := range m.ParamNames() {
		p := m.Params().Get(m.names[i])
		ts = append(ts, safetensors.Tensor{Name: key, Shape: p.Shape(), F32: p.Value.Data().([]float32)})
	}
	ts = append(ts, safetensors.Tensor{Name: "text_model.embeddings.position_ids", Shape: []int{1, 6}, DType: safetensors.I64, I64: []int64{0, 1, 2, 3, 4, 5}})
	if edit != nil {
		ts = edit(ts)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := safetensors.WriteFile(path, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadInto(t *testing.T, m *TextModel, path string) error {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return m.LoadWeights(f)
}

func TestLoadWeightsRoundTripAndAddedRows(t *testing.T) {
	src, err := NewTextEncoder(smallTextConfig("quick_gelu", true))
	if err != nil {
		t.Fatal(err)
	}
	src.Model.Params().Randomize(rand.New(rand.NewSource(5)), 0.3)
	path := writeCheckpoint(t, src.Model, nil)

	dst, err := NewTextEncoder(smallTextConfig("quick_gelu", true))
	if err != nil {
		t.Fatal(err)
	}
	// Grow first: the file's 12 rows fill rows 0..11, the added row keeps its value.
	if _, err := dst.AddTokenRows(0); err != nil {
		t.Fatal(err)
	}
	marker := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	if err := dst.Model.SetTokenRow(12, marker); err != nil {
		t.Fatal(err)
	}
	if err := loadInto(t, dst.Model, path); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.Model.TokenRow(12); !slices.Equal(got, marker) {
		t.Errorf("added row after loading = %v, want %v", got, marker)
	}
	ids := [][]int{{9, 1, 2, 10, 10, 10}}
	a, err := src.Encode(ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dst.Encode(ids)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.TextEmbeds.Data().([]float32), b.TextEmbeds.Data().([]float32)) {
		t.Error("the loaded model encodes differently from the saved one")
	}
}

func TestLoadWeightsReportsEveryProblem(t *testing.T) {
	src, err := NewTextEncoder(smallTextConfig("gelu", true))
	if err != nil {
		t.Fatal(err)
	}
	path := writeCheckpoint(t, src.Model, func(ts []safetensors.Tensor) []safetensors.Tensor {
		var out []safetensors.Tensor
		for _, x := range ts {
			switch x.Name {
			case "text_model.final_layer_norm.bias": // missing
				continue
			case "text_projection.weight": // mis-shaped
				x.Shape = []int{8, 6}
			}
			out = append(out, x)
		}
		return append(out, safetensors.Tensor{Name: "logit_scale", Shape: []int{1}, F32: []float32{1}})
	})
	dst, err := NewTextEncoder(smallTextConfig("gelu", true))
	if err != nil {
		t.Fatal(err)
	}
	sentinel := float32(42)
	dst.Model.FinalNorm.Weight.Value.Data().([]float32)[0] = sentinel
	err = loadInto(t, dst.Model, path)
	var me *diffusers.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("error %v is not a *diffusers.MismatchError", err)
	}
	for _, want := range []string{"missing text_model.final_layer_norm.bias", "unexpected logit_scale", "mis-shaped text_projection.weight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if me.Count() != 3 {
		t.Errorf("%d problems reported, want 3:\n%v", me.Count(), err)
	}
	if dst.Model.FinalNorm.Weight.Value.Data().([]float32)[0] != sentinel {
		t.Error("a failed load changed parameters")
	}
}

func TestAddTokenRows(t *testing.T) {
	ps := nn.NewParams(tensor.Float32)
	m, err := NewTextModel(ps, "", smallTextConfig("gelu", false))
	if err != nil {
		t.Fatal(err)
	}
	ps.Randomize(rand.New(rand.NewSource(1)), 1)
	ps.SetTrainable(func(name string) bool { return name == m.TokenEmbedding.Weight.Name })
	ids, err := m.AddTokenRows(7, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []int{12, 13}) || m.NumTokens() != 14 || !slices.Equal(m.AddedRows(), ids) {
		t.Fatalf("ids %v, %d rows, added %v; want [12 13], 14 rows", ids, m.NumTokens(), m.AddedRows())
	}
	for _, pair := range [][2]int{{12, 7}, {13, 3}} {
		a, _ := m.TokenRow(pair[0])
		b, _ := m.TokenRow(pair[1])
		if !slices.Equal(a, b) {
			t.Errorf("row %d is not a copy of row %d", pair[0], pair[1])
		}
	}
	if g := m.TokenEmbedding.Weight.Grad; g == nil || !slices.Equal([]int(g.Shape()), []int{14, 8}) {
		t.Errorf("gradient buffer %v not regrown to [14 8]", g)
	}
	m.TrainOnlyAddedRows()
	if !slices.Equal(m.TokenEmbedding.TrainRows, []int{12, 13}) {
		t.Errorf("TrainRows %v", m.TokenEmbedding.TrainRows)
	}
	if _, err := m.AddTokenRows(14); err == nil || !strings.Contains(err.Error(), "initialiser row 14") {
		t.Errorf("initialising from a row past the table: %v", err)
	}
	if err := m.SetTokenRow(3, []float32{1}); err == nil {
		t.Error("SetTokenRow accepted a short row")
	}
	if _, err := m.TokenRow(-1); err == nil {
		t.Error("TokenRow accepted row -1")
	}
}

func TestPooledPosition(t *testing.T) {
	for _, tc := range []struct {
		ids  []int
		want int
	}{
		{[]int{49406, 320, 1929, 49407, 49407, 49407}, 3},  // first EOS of EOS padding
		{[]int{49406, 320, 1929, 49407, 0, 0}, 3},          // "!" padding (tokenizer_2)
		{[]int{49406, 1125, 49408, 1929, 49407, 49407}, 2}, // an added token beats EOS
		{[]int{49406, 49409, 49408, 49407}, 1},             // the largest added id wins
		{[]int{5}, 0},
	} {
		if got := PooledPosition(tc.ids); got != tc.want {
			t.Errorf("PooledPosition(%v) = %d, want %d", tc.ids, got, tc.want)
		}
	}
}

func TestEncodeRejectsBadIDs(t *testing.T) {
	e, err := NewTextEncoder(smallTextConfig("gelu", false))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, tc := range []struct {
		name string
		ids  [][]int
		want string
	}{
		{"none", nil, "no id rows"},
		{"id past the table", [][]int{{9, 12, 10}}, "id 12 is outside"},
		{"negative id", [][]int{{9, -1, 10}}, "id -1"},
		{"too long", [][]int{{1, 2, 3, 4, 5, 6, 7}}, "7 ids"},
		{"ragged", [][]int{{1, 2}, {1, 2, 3}}, "row 1 has 3 ids"},
	} {
		if _, err := e.Encode(tc.ids); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestEncodeCausalAndBatched checks two structural properties: a token changes no
// hidden state before its position (causal attention), and a row encodes the same
// alone as inside a batch.
func TestEncodeCausalAndBatched(t *testing.T) {
	e, err := NewTextEncoder(smallTextConfig("quick_gelu", true))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Model.Params().Randomize(rand.New(rand.NewSource(8)), 0.5)
	a := []int{9, 1, 2, 3, 10, 10}
	b := []int{9, 1, 2, 7, 10, 10} // differs from position 3 on
	both, err := e.Encode([][]int{a, b})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := e.Encode([][]int{b})
	if err != nil {
		t.Fatal(err)
	}
	if e.prog.Compiled() != 2 {
		t.Errorf("%d graphs compiled for batch sizes 2 and 1, want 2", e.prog.Compiled())
	}
	d := e.Model.HiddenSize()
	for k, h := range both.HiddenStates {
		x := h.Data().([]float32)
		rowA, rowB := x[:6*d], x[6*d:]
		if !slices.Equal(rowA[:3*d], rowB[:3*d]) {
			t.Errorf("hidden state %d: positions 0..2 depend on the token at 3", k)
		}
		if k > 0 && slices.Equal(rowA[3*d:], rowB[3*d:]) {
			t.Errorf("hidden state %d: positions 3.. ignore their own token", k)
		}
		if got := alone.HiddenStates[k].Data().([]float32); goldentest.RelErr(got, rowB) > 1e-6 {
			t.Errorf("hidden state %d: row encoded alone differs from the batch by %g", k, goldentest.RelErr(got, rowB))
		}
	}
}
