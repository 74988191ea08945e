package nn

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func randTensor(rng *rand.Rand, dt tensor.Dtype, shape ...int) *tensor.Dense {
	n := numel(tensor.Shape(shape))
	if dt == tensor.Float64 {
		d := make([]float64, n)
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// crossAttnModel is a tiny cross-attention block: out = x + attn2(LN(x), ctx), with a
// loss Σ C ⊙ out, so tests can train attn2.to_k / to_v as Custom Diffusion does.
type crossAttnModel struct {
	norm *LayerNorm
	attn *Attention
}

func newCrossAttnModel(ps *Params) *crossAttnModel {
	return &crossAttnModel{
		norm: NewLayerNorm(ps, "blk.norm2", 8, 1e-5),
		attn: NewAttention(ps, "blk.attn2", AttentionConfig{QueryDim: 8, ContextDim: 6, Heads: 2, HeadDim: 4, OutBias: true}),
	}
}

func (m *crossAttnModel) build(b *Builder) error {
	x, err := b.Input("x")
	if err != nil {
		return err
	}
	ctx, err := b.Input("ctx")
	if err != nil {
		return err
	}
	h, err := m.norm.Forward(b, x)
	if err != nil {
		return err
	}
	a, err := m.attn.Forward(b, h, ctx, false)
	if err != nil {
		return err
	}
	out, err := G.Add(x, a)
	if err != nil {
		return err
	}
	b.Output("out", out)
	if _, ok := b.inputs["C"]; ok {
		c, err := b.Input("C")
		if err != nil {
			return err
		}
		loss, err := G.Sum(G.Must(G.HadamardProd(out, c)))
		if err != nil {
			return err
		}
		b.Loss(loss)
	}
	return nil
}

func TestProgramReusesGraphPerShape(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	ps := NewParams(tensor.Float32)
	m := newCrossAttnModel(ps)
	ps.Randomize(rng, 0.5)
	prog := NewProgram(ps, m.build, Hooks{})
	defer prog.Close()

	in1 := map[string]*tensor.Dense{"x": randTensor(rng, tensor.Float32, 2, 5, 8), "ctx": randTensor(rng, tensor.Float32, 2, 7, 6)}
	in2 := map[string]*tensor.Dense{"x": randTensor(rng, tensor.Float32, 2, 5, 8), "ctx": randTensor(rng, tensor.Float32, 2, 7, 6)}
	r1, err := prog.Run(in1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := prog.Run(in2)
	if err != nil {
		t.Fatal(err)
	}
	r1again, err := prog.Run(in1)
	if err != nil {
		t.Fatal(err)
	}
	if prog.Compiled() != 1 {
		t.Fatalf("compiled %d graphs for one shape, want 1", prog.Compiled())
	}
	if relL2(f64s(r1again.Outputs["out"]), f64s(r1.Outputs["out"])) != 0 {
		t.Fatal("rerunning the same inputs gave a different result")
	}
	if relL2(f64s(r2.Outputs["out"]), f64s(r1.Outputs["out"])) < 1e-3 {
		t.Fatal("different inputs gave the same result: inputs are not rebound per run")
	}
	// A fresh program over the same weights gives the same answer (no state leaks
	// between runs of one machine).
	fresh := NewProgram(ps, m.build, Hooks{})
	defer fresh.Close()
	r2fresh, err := fresh.Run(in2)
	if err != nil {
		t.Fatal(err)
	}
	if e := relL2(f64s(r2fresh.Outputs["out"]), f64s(r2.Outputs["out"])); e != 0 {
		t.Fatalf("reused machine differs from a fresh one by %g", e)
	}

	// In-place weight updates are seen without recompiling.
	w := ps.Get("blk.attn2.to_out.0.bias").Value.Data().([]float32)
	for i := range w {
		w[i] += 1
	}
	r3, err := prog.Run(in1)
	if err != nil {
		t.Fatal(err)
	}
	if d := f64s(r3.Outputs["out"])[0] - f64s(r1.Outputs["out"])[0]; math.Abs(d-1) > 1e-5 {
		t.Fatalf("adding 1 to the output bias moved the output by %g", d)
	}

	// A new sequence length is a new shape key.
	in3 := map[string]*tensor.Dense{"x": randTensor(rng, tensor.Float32, 1, 3, 8), "ctx": randTensor(rng, tensor.Float32, 1, 7, 6)}
	if _, err := prog.Run(in3); err != nil {
		t.Fatal(err)
	}
	if prog.Compiled() != 2 {
		t.Fatalf("compiled %d graphs for two shapes, want 2", prog.Compiled())
	}
}

func TestProgramInputErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	ps := NewParams(tensor.Float32)
	m := newCrossAttnModel(ps)
	prog := NewProgram(ps, m.build, Hooks{})
	defer prog.Close()
	for _, tc := range []struct {
		name   string
		inputs map[string]*tensor.Dense
		want   string
	}{
		{"missing", map[string]*tensor.Dense{"x": randTensor(rng, tensor.Float32, 1, 2, 8)}, `input "ctx" was not supplied`},
		{"unused", map[string]*tensor.Dense{"x": randTensor(rng, tensor.Float32, 1, 2, 8), "ctx": randTensor(rng, tensor.Float32, 1, 3, 6), "y": randTensor(rng, tensor.Float32, 1)}, `input "y" is not used`},
		{"dtype", map[string]*tensor.Dense{"x": randTensor(rng, tensor.Float64, 1, 2, 8), "ctx": randTensor(rng, tensor.Float32, 1, 3, 6)}, `input "x" is float64, the model is float32`},
		{"shape", map[string]*tensor.Dense{"x": randTensor(rng, tensor.Float32, 1, 2, 5), "ctx": randTensor(rng, tensor.Float32, 1, 3, 6)}, "blk.norm2: nn: LayerNorm of (1, 2, 5)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := prog.Run(tc.inputs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestTrainCrossAttentionKV checks the Custom Diffusion setting end to end in float64:
// only attn2.to_k/to_v are trainable; their gradients match finite differences through
// the parameter values, frozen parameters get no gradient, and the program trains.
func TestTrainCrossAttentionKV(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	ps := NewParams(tensor.Float64)
	m := newCrossAttnModel(ps)
	ps.Randomize(rng, 0.5)
	ps.SetTrainable(func(name string) bool {
		return name == "blk.attn2.to_k.weight" || name == "blk.attn2.to_v.weight"
	})
	prog := NewProgram(ps, m.build, Hooks{})
	defer prog.Close()
	inputs := map[string]*tensor.Dense{
		"x": randTensor(rng, tensor.Float64, 2, 5, 8), "ctx": randTensor(rng, tensor.Float64, 2, 7, 6), "C": randTensor(rng, tensor.Float64, 2, 5, 8),
	}
	res, err := prog.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasLoss {
		t.Fatal("no loss")
	}
	for _, name := range []string{"blk.attn2.to_k.weight", "blk.attn2.to_v.weight"} {
		p := ps.Get(name)
		grad := append([]float64(nil), p.Grad.Data().([]float64)...)
		vals := p.Value.Data().([]float64)
		const eps = 1e-6
		for _, i := range positions(rng, len(vals), 12) {
			orig := vals[i]
			vals[i] = orig + eps
			rp, err := prog.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			vals[i] = orig - eps
			rm, err := prog.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			vals[i] = orig
			fd := (rp.Loss - rm.Loss) / (2 * eps)
			if e := math.Abs(fd-grad[i]) / math.Max(1, math.Abs(fd)); e > 1e-6 {
				t.Errorf("%s[%d]: analytic %.9g, finite difference %.9g", name, i, grad[i], fd)
			}
		}
	}
	for _, name := range ps.Names() {
		if p := ps.Get(name); !p.Trainable() && p.Grad != nil {
			t.Errorf("frozen %s has a gradient", name)
		}
	}
	if prog.Compiled() != 1 {
		t.Errorf("compiled %d graphs, want 1", prog.Compiled())
	}

	// Plain gradient descent on the two trainable tensors must lower the loss.
	first := res.Loss
	var last float64
	for step := 0; step < 20; step++ {
		r, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		last = r.Loss
		for _, p := range ps.Trainable() {
			v, g := p.Value.Data().([]float64), p.Grad.Data().([]float64)
			for i := range v {
				v[i] -= 0.01 * g[i]
			}
		}
	}
	if last >= first {
		t.Fatalf("loss did not decrease: %g → %g", first, last)
	}
}

func TestTrainableChangeRecompiles(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	ps := NewParams(tensor.Float32)
	m := newCrossAttnModel(ps)
	ps.Randomize(rng, 0.5)
	prog := NewProgram(ps, m.build, Hooks{})
	defer prog.Close()
	inputs := map[string]*tensor.Dense{
		"x": randTensor(rng, tensor.Float32, 1, 3, 8), "ctx": randTensor(rng, tensor.Float32, 1, 4, 6), "C": randTensor(rng, tensor.Float32, 1, 3, 8),
	}
	if _, err := prog.Run(inputs); err != nil { // nothing trainable: forward + loss only
		t.Fatal(err)
	}
	ps.SetTrainable(func(name string) bool { return name == "blk.attn2.to_q.weight" })
	if _, err := prog.Run(inputs); err != nil {
		t.Fatal(err)
	}
	if prog.Compiled() != 2 {
		t.Fatalf("compiled %d graphs, want 2 (the trainable set changed)", prog.Compiled())
	}
	var sum float64
	for _, v := range ps.Get("blk.attn2.to_q.weight").Grad.Data().([]float32) {
		sum += math.Abs(float64(v))
	}
	if sum == 0 {
		t.Fatal("the newly trainable to_q got an all-zero gradient")
	}
}
