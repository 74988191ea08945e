package unet

import (
	"context"
	"math"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"gorgonia.org/tensor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSinusoidCheckValues pins the SDXL timestep embedding at t=981 (spec §1.4).
func TestSinusoidCheckValues(t *testing.T) {
	e := Sinusoid([]float64{981}, 320, true, 0)
	for i, want := range map[int]float64{0: 0.67996, 1: -0.79843, 160: 0.73325} {
		if math.Abs(float64(e[i])-want) > 1e-5 {
			t.Errorf("entry %d = %.6f, want %.5f", i, e[i], want)
		}
	}
	unflipped := Sinusoid([]float64{981}, 320, false, 0)
	if unflipped[0] != e[160] || unflipped[160] != e[0] {
		t.Error("flip_sin_to_cos=false does not swap the halves")
	}
	if odd := Sinusoid([]float64{3}, 5, true, 0); len(odd) != 5 || odd[4] != 0 {
		t.Errorf("odd width: %v, want a zero-padded 5th entry", odd)
	}
}

// TestForwardReusesGraphs: the same processor key and shapes reuse one compiled graph;
// another key or batch size compiles another; a cancelled context is refused.
func TestForwardReusesGraphs(t *testing.T) {
	m := micro(t, tensor.Float32, 1)
	in := microInputs(tensor.Float32, 2)
	ctx := context.Background()
	first := run(t, m, in, nil)
	second := run(t, m, in, nil)
	if m.Compiled() != 1 || maxRel(first.Sample, second.Sample) != 0 {
		t.Fatalf("two plain calls: %d graphs, outputs differ by %g", m.Compiled(), maxRel(first.Sample, second.Sample))
	}
	run(t, m, in, &Edits{ScoreColumns: []ColumnCopy{{From: 1, To: 2}}})
	run(t, m, in, &Edits{ScoreColumns: []ColumnCopy{{From: 3, To: 4}}}) // same key, other values
	if m.Compiled() != 2 {
		t.Fatalf("%d graphs after two calls of one Edits key, want 2", m.Compiled())
	}
	if err := m.Release(); err != nil || m.Compiled() != 0 {
		t.Fatalf("Release: %v, %d graphs left", err, m.Compiled())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Forward(cctx, in, Options{}); err == nil {
		t.Error("cancelled context accepted")
	}
}

func TestInputErrors(t *testing.T) {
	m := micro(t, tensor.Float32, 1)
	good := microInputs(tensor.Float32, 2)
	for name, tc := range map[string]struct {
		mut  func(in *Inputs)
		want string
	}{
		"sample channels": {func(in *Inputs) { in.Sample = randDense(randSrc(1), tensor.Float32, 1, 2, 3, 8, 8) }, "want [B, 4, H, W]"},
		"odd size":        {func(in *Inputs) { in.Sample = randDense(randSrc(1), tensor.Float32, 1, 2, 4, 7, 8) }, "multiples of 2"},
		"context width":   {func(in *Inputs) { in.Context = randDense(randSrc(1), tensor.Float32, 1, 2, 5, 11) }, "want [B, L, 12]"},
		"timesteps":       {func(in *Inputs) { in.Timesteps = []float64{1, 2, 3} }, "3 timesteps for a batch of 2"},
		"text_embeds":     {func(in *Inputs) { in.TextEmbeds = randDense(randSrc(1), tensor.Float32, 1, 2, 7) }, "projection_class_embeddings_input_dim"},
		"no time ids":     {func(in *Inputs) { in.TimeIDs = nil }, "needs text_embeds and time_ids"},
		"dtype":           {func(in *Inputs) { in.Context = randDense(randSrc(1), tensor.Float64, 1, 2, 5, 12) }, "context is float64"},
		"no context":      {func(in *Inputs) { in.Context = nil }, "required"},
	} {
		in := good
		tc.mut(&in)
		_, err := m.Forward(context.Background(), in, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}

// TestLoadRejectsMismatch: weights for another config are refused with every
// mismatch named, and nothing is half-loaded.
func TestLoadRejectsMismatch(t *testing.T) {
	m := micro(t, tensor.Float32, 1)
	other, err := New(configFromJSON(t, strings.Replace(microConfig, `"cross_attention_dim":12`, `"cross_attention_dim":10`, 1)), tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	src := paramSource{other}
	err = m.Load(src)
	if err == nil || !strings.Contains(err.Error(), "attn2.to_k.weight: file [16 10], model [16 12]") {
		t.Fatalf("Load of a mismatched checkpoint: %v", err)
	}
	if err := m.Load(paramSource{m}); err != nil {
		t.Fatalf("Load of its own weights: %v", err)
	}
}
