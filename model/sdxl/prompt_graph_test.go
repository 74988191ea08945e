package sdxl

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/nn"
)

// TestPromptForwardGradients builds both encoders in one float64 store (prefixes
// text_encoder / text_encoder_2, as a trainer would), trains only one added token row
// in each, and checks PromptForward's gradients against finite differences through the
// feature join and the pooling (TestGoldenPromptForward checks its values).
func TestPromptForwardGradients(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	ps := nn.NewParams(tensor.Float64)
	te1, err := clip.NewTextModel(ps, TextEncoderDir, miniTextConfig(8, false))
	if err != nil {
		t.Fatal(err)
	}
	te2, err := clip.NewTextModel(ps, TextEncoder2Dir, miniTextConfig(12, true))
	if err != nil {
		t.Fatal(err)
	}
	ps.Randomize(rng, 0.4)
	for _, m := range []*clip.TextModel{te1, te2} {
		if _, err := m.AddTokenRows(6); err != nil {
			t.Fatal(err)
		}
		m.TrainOnlyAddedRows()
	}
	ps.SetTrainable(func(name string) bool {
		return name == te1.TokenEmbedding.Weight.Name || name == te2.TokenEmbedding.Weight.Name
	})
	ids := [][]int{{9, 3, 13, 4, 10, 10}, {9, 8, 10, 10, 10, 10}}
	ids2 := [][]int{{9, 3, 13, 4, 10, 11}, {9, 8, 10, 11, 11, 11}}
	idt1, _ := clip.IDsTensor(tensor.Float64, ids)
	idt2, _ := clip.IDsTensor(tensor.Float64, ids2)
	sel2, _ := clip.PoolSelectTensor(tensor.Float64, ids2)
	c1 := randDense(rng, 2, miniLength, 20)
	c2 := randDense(rng, 2, 5)
	inputs := map[string]*tensor.Dense{"ids1": idt1, "ids2": idt2, "sel2": sel2, "c1": c1, "c2": c2}
	prog := nn.NewProgram(ps, func(b *nn.Builder) error {
		n := map[string]*G.Node{}
		for name := range inputs {
			if n[name], err = b.Input(name); err != nil {
				return err
			}
		}
		ctx, pooled, err := PromptForward(b, te1, te2, n["ids1"], n["ids2"], n["sel2"])
		if err != nil {
			return err
		}
		b.Output("ctx", ctx)
		b.Output("pooled", pooled)
		l1 := G.Must(G.Sum(G.Must(G.HadamardProd(ctx, n["c1"]))))
		l2 := G.Must(G.Sum(G.Must(G.HadamardProd(pooled, n["c2"]))))
		b.Loss(G.Must(G.Add(l1, l2)))
		return nil
	}, nn.Hooks{})
	defer prog.Close()
	res, err := prog.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Outputs["ctx"].Shape(); !slices.Equal([]int(s), []int{2, miniLength, 20}) {
		t.Fatalf("ctx %v", s)
	}
	for _, m := range []*clip.TextModel{te1, te2} {
		w := m.TokenEmbedding.Weight
		d := m.HiddenSize()
		grad := slices.Clone(w.Grad.Data().([]float64))
		for i, g := range grad {
			if i/d != 13 && g != 0 {
				t.Fatalf("%s: frozen row %d has gradient %g", w.Name, i/d, g)
			}
		}
		val := w.Value.Data().([]float64)
		var worst float64
		for j := 0; j < d; j++ {
			i := 13*d + j
			orig := val[i]
			val[i] = orig + 1e-6
			up, err := prog.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			val[i] = orig - 1e-6
			down, err := prog.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			val[i] = orig
			fd := (up.Loss - down.Loss) / 2e-6
			worst = math.Max(worst, math.Abs(fd-grad[i])/math.Max(1e-3, math.Abs(fd)))
		}
		if worst > 1e-5 {
			t.Errorf("%s row 13: gradient vs finite differences, worst relative error %g", w.Name, worst)
		}
	}
}

func randDense(rng *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

func TestPromptForwardRejectsSharedPrefix(t *testing.T) {
	mk := func() *clip.TextModel {
		m, err := clip.NewTextModel(nn.NewParams(tensor.Float32), "", miniTextConfig(8, true))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	te1, te2 := mk(), mk()
	b := nn.NewBuilder(te1.Params(), nil, nn.Hooks{})
	ids := G.NewMatrix(b.Graph(), tensor.Float32, G.WithShape(1, miniLength), G.WithName("ids"))
	sel := G.NewTensor(b.Graph(), tensor.Float32, 4, G.WithShape(1, 1, 1, miniLength), G.WithName("sel"))
	if _, _, err := PromptForward(b, te1, te2, ids, ids, sel); err == nil {
		t.Error("two encoders with the same parameter prefix were put into one graph")
	}
}
