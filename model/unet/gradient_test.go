package unet

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// lossProgram builds UNet + loss Σ out ⊙ C (C a fixed random input "c") over the
// micro model, with gradients for the inputs grad selects and for the trainable
// parameters. extra adds hook inputs; hooks may be empty.
func lossProgram(m *Model, grad GradOptions, hooks Hooks) *nn.Program {
	return nn.NewProgram(m.Params(), func(b *nn.Builder) error {
		in, err := m.InputNodes(b, grad)
		if err != nil {
			return err
		}
		out, err := m.Build(b, in, BuildOptions{Hooks: hooks})
		if err != nil {
			return err
		}
		c, err := b.Input("c")
		if err != nil {
			return err
		}
		prod, err := G.HadamardProd(out, c)
		if err != nil {
			return err
		}
		loss, err := G.Sum(prod)
		if err != nil {
			return err
		}
		b.Loss(loss)
		return nil
	}, nn.Hooks{})
}

// fdCheck compares analytic derivatives with central differences at a few entries of
// values (perturbed in place). eval returns the loss.
func fdCheck(t *testing.T, what string, values []float64, analytic []float64, eval func() float64, entries []int) {
	t.Helper()
	const eps = 1e-6
	for _, i := range entries {
		orig := values[i]
		values[i] = orig + eps
		lp := eval()
		values[i] = orig - eps
		lm := eval()
		values[i] = orig
		fd := (lp - lm) / (2 * eps)
		if err := math.Abs(fd-analytic[i]) / math.Max(1e-3, math.Abs(fd)); err > 1e-5 {
			t.Errorf("%s[%d]: analytic %.9g, finite difference %.9g (rel err %.2g)", what, i, analytic[i], fd, err)
		}
	}
}

func someEntries(rng *rand.Rand, n, k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = rng.Intn(n)
	}
	return out
}

// TestGradAttn2KeyValueFD checks, in float64, d(loss)/d(attn2 to_k, to_v weights) of
// every cross-attention module of the micro UNet against finite differences — the
// gradient Custom Diffusion / LatexBlend training uses — and that frozen parameters
// get no gradient.
func TestGradAttn2KeyValueFD(t *testing.T) {
	m := micro(t, tensor.Float64, 11)
	n := m.Params().SetTrainable(func(name string) bool {
		return strings.Contains(name, "attn2.to_k.") || strings.Contains(name, "attn2.to_v.")
	})
	if n != 8 {
		t.Fatalf("%d trainable attn2 to_k/to_v weights, want 8", n)
	}
	in := microInputs(tensor.Float64, 12)
	inputs, err := m.GraphInputs(in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(13))
	inputs["c"] = randDense(rng, tensor.Float64, 1, 2, 4, 8, 8)
	prog := lossProgram(m, GradOptions{}, Hooks{})
	defer prog.Close()
	eval := func() float64 {
		res, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		return res.Loss
	}
	eval()
	for _, p := range m.Params().Trainable() {
		grad := append([]float64(nil), p.Grad.Data().([]float64)...)
		var norm float64
		for _, g := range grad {
			norm += g * g
		}
		if norm == 0 {
			t.Errorf("%s: zero gradient", p.Name)
		}
		fdCheck(t, p.Name, p.Value.Data().([]float64), grad, eval, someEntries(rng, len(grad), 3))
	}
	if g := m.Params().Get("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_q.weight").Grad; g != nil {
		t.Error("frozen to_q has a gradient buffer")
	}
}

// TestGradInputsFD checks d(loss)/d(sample), d(loss)/d(context) and
// d(loss)/d(text_embeds) (guidance and token training) against finite differences.
func TestGradInputsFD(t *testing.T) {
	m := micro(t, tensor.Float64, 21)
	in := microInputs(tensor.Float64, 22)
	inputs, err := m.GraphInputs(in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(23))
	inputs["c"] = randDense(rng, tensor.Float64, 1, 2, 4, 8, 8)
	prog := lossProgram(m, GradOptions{Sample: true, Context: true, TextEmbeds: true}, Hooks{})
	defer prog.Close()
	var last *nn.Result
	eval := func() float64 {
		res, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		last = res
		return res.Loss
	}
	eval()
	grads := last.InputGrads
	for _, name := range []string{InputSample, InputContext, InputTextEmbeds} {
		g := grads[name]
		if g == nil || !g.Shape().Eq(inputs[name].Shape()) {
			t.Fatalf("gradient of %s: %v", name, g)
		}
		fdCheck(t, name, inputs[name].Data().([]float64), append([]float64(nil), g.Data().([]float64)...), eval, someEntries(rng, g.Shape().TotalSize(), 4))
	}
}

// TestGuidanceGradThroughProbs: a processor whose Finish hook turns cross-attention
// probabilities into a loss gets d(loss)/d(sample) from Forward (LatexBlend's blending
// guidance), matching finite differences.
func TestGuidanceGradThroughProbs(t *testing.T) {
	m := micro(t, tensor.Float64, 31)
	in := microInputs(tensor.Float64, 32)
	p := &probLoss{module: microAttn2, c: randDense(rand.New(rand.NewSource(33)), tensor.Float64, 1, 2, 2, 16, 5)}
	ctx := t.Context()
	out, err := m.Forward(ctx, in, Options{Processor: p, GradSample: true})
	if err != nil {
		t.Fatal(err)
	}
	if !out.HasLoss || out.SampleGrad == nil {
		t.Fatalf("no loss/gradient: %+v", out)
	}
	eval := func() float64 {
		o, err := m.Forward(ctx, in, Options{Processor: p})
		if err != nil {
			t.Fatal(err)
		}
		if !o.HasLoss {
			t.Fatal("loss missing without GradSample")
		}
		return o.Loss
	}
	fdCheck(t, "sample", in.Sample.Data().([]float64), append([]float64(nil), out.SampleGrad.Data().([]float64)...), eval, someEntries(rand.New(rand.NewSource(34)), 2*4*8*8, 6))
	if _, err := m.Forward(ctx, in, Options{GradSample: true}); err == nil {
		t.Error("GradSample without a loss accepted")
	}
}

// probLoss is a Processor whose loss is Σ probs ⊙ C over one cross-attention module.
type probLoss struct {
	module string
	c      *tensor.Dense
}

func (p *probLoss) Key() string { return "probloss " + p.module }

func (p *probLoss) Inputs(Inputs) (map[string]*tensor.Dense, error) {
	return map[string]*tensor.Dense{"probloss.c": p.c}, nil
}

func (p *probLoss) Hooks() Hooks {
	var kept *G.Node
	return Hooks{
		Unfused: func(s Site) bool { return s.Module == p.module },
		Probs: func(b *nn.Builder, s Site, probs *G.Node) (*G.Node, error) {
			kept = probs
			return probs, nil
		},
		Finish: func(b *nn.Builder, _ *G.Node) error {
			if kept == nil {
				return fmt.Errorf("module %s not seen", p.module)
			}
			c, err := b.Input("probloss.c")
			if err != nil {
				return err
			}
			loss, err := G.Sum(G.Must(G.HadamardProd(kept, c)))
			if err != nil {
				return err
			}
			b.Loss(loss)
			return nil
		},
	}
}

// TestBaseFlowSplice builds LatexBlend's training base flow with a KV hook: the
// context has three rows [instance, class, replace], the sample two; row 0's keys and
// values are the frozen copy's projection of the replace row around the trainable
// projection of the instance row's concept tokens, and row 1 is the class row.
// Gradients w.r.t. to_k/to_v match finite differences. With BOS (position 0) detached
// as Custom Diffusion does, the gradient equals the undetached one exactly when the
// class row's BOS embedding is zero (then BOS contributes nothing) and differs otherwise.
func TestBaseFlowSplice(t *testing.T) {
	m := micro(t, tensor.Float64, 41)
	m.Params().SetTrainable(func(name string) bool {
		return strings.Contains(name, "attn2.to_k.") || strings.Contains(name, "attn2.to_v.")
	})
	rng := rand.New(rand.NewSource(42))
	in := microInputs(tensor.Float64, 43)
	in.Context = randDense(rng, tensor.Float64, 1, 3, 5, 12)
	inputs, err := m.GraphInputs(in)
	if err != nil {
		t.Fatal(err)
	}
	inputs["c"] = randDense(rng, tensor.Float64, 1, 2, 4, 8, 8)
	if err := addBaseFlowSelections(inputs); err != nil {
		t.Fatal(err)
	}
	frozen := frozenCopies(m)

	prog := lossProgram(m, GradOptions{}, baseFlowHooks(frozen, false))
	defer prog.Close()
	eval := func() float64 {
		res, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		return res.Loss
	}
	eval()
	undetached := map[string][]float64{}
	for _, p := range m.Params().Trainable() {
		undetached[p.Name] = append([]float64(nil), p.Grad.Data().([]float64)...)
		fdCheck(t, p.Name, p.Value.Data().([]float64), undetached[p.Name], eval, someEntries(rng, p.Shape().TotalSize(), 3))
	}

	det := lossProgram(m, GradOptions{}, baseFlowHooks(frozen, true))
	defer det.Close()
	gradsWith := func() map[string][]float64 {
		if _, err := det.Run(inputs); err != nil {
			t.Fatal(err)
		}
		out := map[string][]float64{}
		for _, p := range m.Params().Trainable() {
			out[p.Name] = append([]float64(nil), p.Grad.Data().([]float64)...)
		}
		return out
	}
	if d := maxGradDiff(gradsWith(), undetached); d < 1e-6 {
		t.Errorf("detaching BOS changed the gradients by only %.3g", d)
	}
	ctx := inputs[InputContext].Data().([]float64)
	clear(ctx[5*12 : 5*12+12]) // class row, BOS
	eval()
	for _, p := range m.Params().Trainable() {
		undetached[p.Name] = append([]float64(nil), p.Grad.Data().([]float64)...)
	}
	if d := maxGradDiff(gradsWith(), undetached); d > 1e-12 {
		t.Errorf("with a zero BOS row, detaching changed the gradients by %.3g", d)
	}

	// Without the hook, a 3-row context against a 2-row sample is an error that says why.
	plain := lossProgram(m, GradOptions{}, Hooks{})
	defer plain.Close()
	delete(inputs, "sel_trainable")
	delete(inputs, "sel_base")
	if _, err := plain.Run(inputs); err == nil || !strings.Contains(err.Error(), "KV hook") {
		t.Errorf("3-row context without a hook: %v", err)
	}
}

func maxGradDiff(a, b map[string][]float64) float64 {
	var d float64
	for name, x := range a {
		for i, v := range x {
			d = max(d, math.Abs(v-b[name][i]))
		}
	}
	return d
}

// frozenCopies clones the trainable weights into their own store (to_1k / to_1v).
func frozenCopies(m *Model) map[string]*nn.Param {
	frozen := nn.NewParams(tensor.Float64)
	copies := map[string]*nn.Param{}
	for _, p := range m.Params().Trainable() {
		c := frozen.New(p.Name+".frozen", []int(p.Shape())...)
		copy(c.Value.Data().([]float64), p.Value.Data().([]float64))
		copies[p.Name] = c
	}
	return copies
}

// addBaseFlowSelections adds the token selections of a 5-token example: instance
// "<new1> dog" at positions 2..3, replace "a dog" at 1..2.
func addBaseFlowSelections(inputs map[string]*tensor.Dense) error {
	const l, insStart, repStart, repEnd = 5, 2, 1, 3
	var trainable, base []TokenCopy
	for pos := 0; pos < l; pos++ {
		trainable = append(trainable, TokenCopy{DstRow: 1, DstPos: pos, SrcRow: 1, SrcPos: pos})
		if pos >= repStart && pos < repEnd {
			trainable = append(trainable, TokenCopy{0, pos, 0, insStart + pos - repStart})
		} else {
			base = append(base, TokenCopy{0, pos, 2, pos})
		}
	}
	var err error
	if inputs["sel_trainable"], err = SelectionMatrix(tensor.Float64, 2, l, 3, l, trainable); err != nil {
		return err
	}
	inputs["sel_base"], err = SelectionMatrix(tensor.Float64, 2, l, 3, l, base)
	return err
}

func baseFlowHooks(frozen map[string]*nn.Param, detachBOS bool) Hooks {
	return Hooks{KV: func(b *nn.Builder, s Site, k, v *G.Node) (*G.Node, *G.Node, error) {
		if !s.Cross {
			return k, v, nil
		}
		st, err := b.Input("sel_trainable")
		if err != nil {
			return nil, nil, err
		}
		sb, err := b.Input("sel_base")
		if err != nil {
			return nil, nil, err
		}
		splice := func(x *G.Node, w *nn.Param) (*G.Node, error) {
			x1, err := b.Linear(s.Context, b.Param(frozen[w.Name]), nil)
			if err != nil {
				return nil, err
			}
			a, err := TokenMix(b, x, st, 2)
			if err != nil {
				return nil, err
			}
			c, err := TokenMix(b, x1, sb, 2)
			if err != nil {
				return nil, err
			}
			y, err := G.Add(a, c)
			if err != nil || !detachBOS {
				return y, err
			}
			return b.DetachPositions(y, []int{0})
		}
		if k, err = splice(k, s.KeyWeight); err != nil {
			return nil, nil, err
		}
		v, err = splice(v, s.ValueWeight)
		return k, v, err
	}}
}
