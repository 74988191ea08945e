package nn

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opCase is one op under test: named inputs (all differentiable unless listed in
// noGrad) and a build function applying the op.
type opCase struct {
	name   string
	inputs []namedShape
	noGrad map[string]bool
	// fill overrides random input values (e.g. for embedding ids).
	fill  func(name string, data []float64)
	build func(b *Builder, in map[string]*G.Node) (*G.Node, error)
}

type namedShape struct {
	name  string
	shape []int
}

func in(name string, shape ...int) namedShape { return namedShape{name, shape} }

// opProgram wraps a case as loss = Σ C ⊙ op(inputs), with the op's output also returned.
func opProgram(tc opCase, dt tensor.Dtype) *Program {
	return NewProgram(NewParams(dt), func(b *Builder) error {
		nodes := map[string]*G.Node{}
		for _, s := range tc.inputs {
			var n *G.Node
			var err error
			if tc.noGrad[s.name] {
				n, err = b.Input(s.name)
			} else {
				n, err = b.InputWithGrad(s.name)
			}
			if err != nil {
				return err
			}
			nodes[s.name] = n
		}
		y, err := tc.build(b, nodes)
		if err != nil {
			return err
		}
		c, err := b.Input("C")
		if err != nil {
			return err
		}
		prod, err := G.HadamardProd(y, c)
		if err != nil {
			return err
		}
		loss, err := G.Sum(prod)
		if err != nil {
			return err
		}
		b.Output("y", y)
		b.Loss(loss)
		return nil
	}, Hooks{})
}

// caseInputs draws the case's inputs (and the loss weights C, once the output shape is
// known) in float64.
func caseInputs(t testing.TB, tc opCase, rng *rand.Rand) map[string]*tensor.Dense {
	t.Helper()
	vals := map[string]*tensor.Dense{}
	for _, s := range tc.inputs {
		d := make([]float64, numel(tensor.Shape(s.shape)))
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		if tc.fill != nil {
			tc.fill(s.name, d)
		}
		vals[s.name] = tensor.New(tensor.WithShape(s.shape...), tensor.WithBacking(d))
	}
	// One forward build to learn the output shape.
	b := NewBuilder(NewParams(tensor.Float64), vals, Hooks{})
	nodes := map[string]*G.Node{}
	for _, s := range tc.inputs {
		n, err := b.Input(s.name)
		if err != nil {
			t.Fatal(err)
		}
		nodes[s.name] = n
	}
	y, err := tc.build(b, nodes)
	if err != nil {
		t.Fatalf("%s: build: %v", tc.name, err)
	}
	c := make([]float64, numel(y.Shape()))
	for i := range c {
		c[i] = rng.NormFloat64()
	}
	vals["C"] = tensor.New(tensor.WithShape(y.Shape().Clone()...), tensor.WithBacking(c))
	return vals
}

func to32(vals map[string]*tensor.Dense) map[string]*tensor.Dense {
	out := map[string]*tensor.Dense{}
	for k, v := range vals {
		d := v.Data().([]float64)
		f := make([]float32, len(d))
		for i, x := range d {
			f[i] = float32(x)
		}
		out[k] = tensor.New(tensor.WithShape(v.Shape().Clone()...), tensor.WithBacking(f))
	}
	return out
}

func f64s(t *tensor.Dense) []float64 {
	switch d := t.Data().(type) {
	case []float64:
		return d
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	panic(fmt.Sprintf("unexpected data %T", t.Data()))
}

// relL2 is ‖a−b‖ / max(‖b‖, tiny).
func relL2(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		d := a[i] - b[i]
		num += d * d
		den += b[i] * b[i]
	}
	return math.Sqrt(num) / math.Max(math.Sqrt(den), 1e-12)
}

// checkGradients compares every analytic input gradient of tc at up to maxPos positions
// per input with central finite differences in float64, then checks that a float32 run
// agrees with the float64 one.
func checkGradients(t *testing.T, tc opCase) {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	vals := caseInputs(t, tc, rng)
	prog := opProgram(tc, tensor.Float64)
	defer prog.Close()
	res, err := prog.Run(vals)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	const eps, maxPos, tol = 1e-6, 24, 1e-6
	worst := 0.0
	for _, s := range tc.inputs {
		if tc.noGrad[s.name] {
			continue
		}
		g, ok := res.InputGrads[s.name]
		if !ok {
			t.Fatalf("no gradient for input %q", s.name)
		}
		ga := f64s(g)
		data := vals[s.name].Data().([]float64)
		for _, i := range positions(rng, len(data), maxPos) {
			orig := data[i]
			data[i] = orig + eps
			rp, err := prog.Run(vals)
			if err != nil {
				t.Fatal(err)
			}
			data[i] = orig - eps
			rm, err := prog.Run(vals)
			if err != nil {
				t.Fatal(err)
			}
			data[i] = orig
			fd := (rp.Loss - rm.Loss) / (2 * eps)
			e := math.Abs(fd-ga[i]) / math.Max(1, math.Abs(fd))
			worst = math.Max(worst, e)
			if e > tol {
				t.Errorf("d loss / d %s[%d]: analytic %.9g, finite difference %.9g (err %.2g)", s.name, i, ga[i], fd, e)
			}
		}
	}
	if prog.Compiled() != 1 {
		t.Errorf("the graph was compiled %d times for one input shape, want 1", prog.Compiled())
	}

	prog32 := opProgram(tc, tensor.Float32)
	defer prog32.Close()
	res32, err := prog32.Run(to32(vals))
	if err != nil {
		t.Fatalf("float32 run: %v", err)
	}
	if e := relL2(f64s(res32.Outputs["y"]), f64s(res.Outputs["y"])); e > 1e-5 {
		t.Errorf("float32 output differs from float64 by %.2g (relative L2)", e)
	}
	for name, g := range res.InputGrads {
		if e := relL2(f64s(res32.InputGrads[name]), f64s(g)); e > 1e-4 {
			t.Errorf("float32 gradient of %s differs from float64 by %.2g (relative L2)", name, e)
		}
	}
	t.Logf("worst finite-difference error %.2g", worst)
}

func positions(rng *rand.Rand, n, k int) []int {
	if n <= k {
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		return p
	}
	return rng.Perm(n)[:k]
}

func opCases() []opCase {
	ids := func(v int) func(string, []float64) {
		return func(name string, d []float64) {
			if name == "ids" {
				for i := range d {
					d[i] = float64((i*7 + 3) % v)
				}
			}
		}
	}
	noIDs := map[string]bool{"ids": true}
	return []opCase{
		{name: "ApplyDense", inputs: []namedShape{in("x", 2, 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return denseSquare(n["x"])
		}},
		{name: "Reshape", inputs: []namedShape{in("x", 2, 3, 4)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			r, err := b.Reshape(n["x"], 4, 6)
			if err != nil {
				return nil, err
			}
			// An in-place gorgonia op after the reshape: with gorgonia's aliasing
			// Reshape this corrupted x and its gradient.
			return G.Sub(r, G.Must(G.Mul(r, b.Scalar(0.5))))
		}},
		{name: "GroupNorm", inputs: []namedShape{in("x", 2, 6, 3, 3), in("gamma", 6), in("beta", 6)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.GroupNorm(n["x"], n["gamma"], n["beta"], 3, 1e-5)
		}},
		{name: "GroupNorm288PerGroup", inputs: []namedShape{in("x", 1, 4, 12, 12), in("gamma", 4), in("beta", 4)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.GroupNorm(n["x"], n["gamma"], n["beta"], 2, 1e-6)
		}},
		{name: "LayerNorm", inputs: []namedShape{in("x", 2, 5, 8), in("gamma", 8), in("beta", 8)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.LayerNorm(n["x"], n["gamma"], n["beta"], 1e-5)
		}},
		{name: "GELU", inputs: []namedShape{in("x", 3, 7)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.GELU(n["x"]) }},
		{name: "QuickGELU", inputs: []namedShape{in("x", 3, 7)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.QuickGELU(n["x"]) }},
		{name: "SiLU", inputs: []namedShape{in("x", 3, 7)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.SiLU(n["x"]) }},
		{name: "Softmax", inputs: []namedShape{in("x", 2, 3, 5)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.Softmax(n["x"], false) }},
		{name: "SoftmaxCausal", inputs: []namedShape{in("x", 2, 3, 5)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.Softmax(n["x"], true) }},
		{name: "Attention", inputs: []namedShape{in("q", 2, 4, 8), in("k", 2, 5, 8), in("v", 2, 5, 6)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Attention(n["q"], n["k"], n["v"], 2, 0.5, false)
		}},
		{name: "AttentionCausal", inputs: []namedShape{in("q", 1, 4, 6), in("k", 1, 4, 6), in("v", 1, 4, 6)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Attention(n["q"], n["k"], n["v"], 3, 0.7, true)
		}},
		{name: "AttentionUnfused", inputs: []namedShape{in("q", 2, 4, 8), in("k", 2, 5, 8), in("v", 2, 5, 6)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			s, err := b.AttentionScores(n["q"], n["k"], 2, 0.5)
			if err != nil {
				return nil, err
			}
			p, err := b.Softmax(s, false)
			if err != nil {
				return nil, err
			}
			return b.AttentionApply(p, n["v"])
		}},
		{name: "AttentionFrozenQ", inputs: []namedShape{in("q", 1, 3, 4), in("k", 1, 5, 4), in("v", 1, 5, 4)}, noGrad: map[string]bool{"q": true}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Attention(n["q"], n["k"], n["v"], 1, 0.5, false)
		}},
		{name: "Upsample2x", inputs: []namedShape{in("x", 1, 2, 3, 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.Upsample2x(n["x"]) }},
		{name: "Linear", inputs: []namedShape{in("x", 2, 3, 5), in("w", 4, 5), in("b", 4)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Linear(n["x"], n["w"], n["b"])
		}},
		{name: "LinearNoBias", inputs: []namedShape{in("x", 3, 5), in("w", 4, 5)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Linear(n["x"], n["w"], nil)
		}},
		{name: "MatMul", inputs: []namedShape{in("a", 3, 4), in("b", 4, 5)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.MatMul(n["a"], n["b"])
		}},
		{name: "Conv2d3x3", inputs: []namedShape{in("x", 2, 3, 5, 5), in("w", 4, 3, 3, 3), in("b", 4)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Conv2d(n["x"], n["w"], n["b"], Conv2dOptions{Pad: 1})
		}},
		{name: "Conv2dStride2", inputs: []namedShape{in("x", 1, 2, 6, 6), in("w", 3, 2, 3, 3), in("b", 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Conv2d(n["x"], n["w"], n["b"], Conv2dOptions{Stride: 2, Pad: 1})
		}},
		{name: "Conv2dPadBottomRight", inputs: []namedShape{in("x", 1, 2, 6, 6), in("w", 2, 2, 3, 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Conv2d(n["x"], n["w"], nil, Conv2dOptions{Stride: 2, PadBottom: 1, PadRight: 1})
		}},
		// Stride 1 copies whole runs between the paddings: uneven and oversized pads
		// put some kernel columns entirely outside the image.
		{name: "Conv2dStride1UnevenPad", inputs: []namedShape{in("x", 1, 2, 4, 5), in("w", 2, 2, 3, 3), in("b", 2)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Conv2d(n["x"], n["w"], n["b"], Conv2dOptions{PadTop: 2, PadLeft: 3, PadBottom: 0, PadRight: 1})
		}},
		{name: "Conv2d1x1", inputs: []namedShape{in("x", 2, 3, 4, 4), in("w", 5, 3, 1, 1), in("b", 5)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Conv2d(n["x"], n["w"], n["b"], Conv2dOptions{})
		}},
		{name: "AddChannelsBias", inputs: []namedShape{in("x", 2, 3, 2, 2), in("t", 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.AddChannels(n["x"], n["t"])
		}},
		{name: "AddChannelsPerSample", inputs: []namedShape{in("x", 2, 3, 2, 2), in("t", 2, 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.AddChannels(n["x"], n["t"])
		}},
		{name: "ChannelsLast", inputs: []namedShape{in("x", 2, 3, 2, 4)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.ChannelsLast(n["x"]) }},
		{name: "ChannelsFirst", inputs: []namedShape{in("x", 2, 6, 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.ChannelsFirst(n["x"], 2, 3) }},
		{name: "GEGLU", inputs: []namedShape{in("x", 2, 3, 8)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			a, err := b.Chunk(n["x"], 2, 0)
			if err != nil {
				return nil, err
			}
			g, err := b.Chunk(n["x"], 2, 1)
			if err != nil {
				return nil, err
			}
			if g, err = b.GELU(g); err != nil {
				return nil, err
			}
			return G.HadamardProd(a, g)
		}},
		{name: "GorgoniaConcatChannels", inputs: []namedShape{in("a", 1, 2, 3, 3), in("b", 1, 3, 3, 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			c, err := G.Concat(1, n["a"], n["b"])
			if err != nil {
				return nil, err
			}
			return b.SiLU(c)
		}},
		{name: "SpliceRows", inputs: []namedShape{in("base", 3, 6, 4), in("src", 3, 5, 4), in("blocks", 3, 5)}, noGrad: map[string]bool{"blocks": true},
			fill: blocksFill([]SpliceBlock{{0, 0, 2, 0, 2}, {0, 4, 2, 3, 2}, {1, 2, 1, 1, 1}}),
			build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
				return b.Splice(1, n["base"], n["src"], n["blocks"])
			}},
		{name: "SpliceWithinOneNode", inputs: []namedShape{in("k", 2, 6, 3), in("blocks", 1, 5)}, noGrad: map[string]bool{"blocks": true},
			fill: blocksFill([]SpliceBlock{{0, 1, 0, 3, 2}}),
			build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
				k, err := b.SiLU(n["k"])
				if err != nil {
					return nil, err
				}
				return b.Splice(1, k, k, n["blocks"])
			}},
		{name: "SpliceScoreColumns", inputs: []namedShape{in("s", 2, 2, 3, 5), in("blocks", 1, 5)}, noGrad: map[string]bool{"blocks": true},
			fill: blocksFill([]SpliceBlock{{-1, 1, -1, 3, 1}}),
			build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
				return b.Splice(3, n["s"], n["s"], n["blocks"])
			}},
		{name: "Embedding", inputs: []namedShape{in("ids", 2, 5), in("table", 7, 3)}, noGrad: noIDs, fill: ids(7), build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Embedding(n["ids"], n["table"], nil)
		}},
	}
}

func blocksFill(blocks []SpliceBlock) func(string, []float64) {
	return func(name string, d []float64) {
		if name == "blocks" {
			copy(d, SpliceBlocksTensor(tensor.Float64, blocks).Data().([]float64))
		}
	}
}

func TestOpGradients(t *testing.T) {
	for _, tc := range opCases() {
		t.Run(tc.name, func(t *testing.T) { checkGradients(t, tc) })
	}
}
