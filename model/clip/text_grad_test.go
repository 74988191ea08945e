package clip

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// newTokenLoss builds a float64 small model with one added token row (initialised from
// row 4) that alone is trainable, and a program computing
// loss = Σ C1 ⊙ hidden_states[-2] + Σ C2 ⊙ text_embeds — the two things SDXL takes from
// an encoder.
func newTokenLoss(t *testing.T) (*TextModel, *nn.Program, map[string]*tensor.Dense) {
	t.Helper()
	rng := rand.New(rand.NewSource(11))
	ps := nn.NewParams(tensor.Float64)
	m, err := NewTextModel(ps, "te2", smallTextConfig("gelu", true))
	if err != nil {
		t.Fatal(err)
	}
	ps.Randomize(rng, 0.5)
	rows, err := m.AddTokenRows(4)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0] != 12 {
		t.Fatalf("added row %d, want 12", rows[0])
	}
	m.TrainOnlyAddedRows()
	ps.SetTrainable(func(name string) bool { return name == m.TokenEmbedding.Weight.Name })

	ids := [][]int{{9, 12, 3, 10, 10, 10}, {9, 5, 10, 10, 10, 10}} // row 0 pools at the new token
	idt, _ := IDsTensor(tensor.Float64, ids)
	sel, _ := PoolSelectTensor(tensor.Float64, ids)
	c1 := tensor.New(tensor.WithShape(2, 6, 8), tensor.WithBacking(randSlice(rng, 2*6*8)))
	c2 := tensor.New(tensor.WithShape(2, 6), tensor.WithBacking(randSlice(rng, 2*6)))
	inputs := map[string]*tensor.Dense{"ids": idt, "sel": sel, "c1": c1, "c2": c2}
	prog := nn.NewProgram(ps, func(b *nn.Builder) error {
		in := map[string]*G.Node{}
		for name := range inputs {
			n, err := b.Input(name)
			if err != nil {
				return err
			}
			in[name] = n
		}
		out, err := m.Forward(b, in["ids"], ForwardOptions{PoolSelect: in["sel"]})
		if err != nil {
			return err
		}
		pen := out.HiddenStates[len(out.HiddenStates)-2]
		l1, err := G.Sum(G.Must(G.HadamardProd(pen, in["c1"])))
		if err != nil {
			return err
		}
		l2, err := G.Sum(G.Must(G.HadamardProd(out.TextEmbeds, in["c2"])))
		if err != nil {
			return err
		}
		b.Loss(G.Must(G.Add(l1, l2)))
		return nil
	}, nn.Hooks{})
	t.Cleanup(func() { prog.Close() })
	return m, prog, inputs
}

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

// TestNewTokenRowGradient checks the gradient the trainer uses: only the added row gets
// one, and it matches central finite differences of the loss (through the penultimate
// state and through the pooled output, which row 0 takes at the new token).
func TestNewTokenRowGradient(t *testing.T) {
	m, prog, inputs := newTokenLoss(t)
	res, err := prog.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasLoss {
		t.Fatal("no loss")
	}
	w := m.TokenEmbedding.Weight
	grad := append([]float64(nil), w.Grad.Data().([]float64)...)
	d := m.HiddenSize()
	for i, g := range grad {
		if row := i / d; row != 12 && g != 0 {
			t.Fatalf("frozen row %d has gradient %g", row, g)
		}
	}
	val := w.Value.Data().([]float64)
	const eps = 1e-6
	var worst float64
	for j := 0; j < d; j++ {
		i := 12*d + j
		orig := val[i]
		val[i] = orig + eps
		up, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		val[i] = orig - eps
		down, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		val[i] = orig
		fd := (up.Loss - down.Loss) / (2 * eps)
		rel := math.Abs(fd-grad[i]) / math.Max(1e-3, math.Abs(fd))
		worst = math.Max(worst, rel)
	}
	if worst > 1e-5 {
		t.Errorf("new-row gradient vs finite differences: worst relative error %g", worst)
	}
	t.Logf("new-row gradient vs finite differences: worst relative error %.2g", worst)
	var norm float64
	for _, g := range grad[12*d:] {
		norm += g * g
	}
	if norm == 0 {
		t.Error("the new row got no gradient")
	}
}
