package nn

import (
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// embeddingGrads runs loss = Σ C ⊙ emb(ids) with the table trainable and returns the
// table's gradient.
func embeddingGrads(t *testing.T, trainRows []int, ids, c *tensor.Dense, table []float64) []float64 {
	t.Helper()
	ps := NewParams(tensor.Float64)
	emb := NewEmbedding(ps, "text_model.embeddings.token_embedding", 10, 4)
	emb.TrainRows = trainRows
	copy(emb.Weight.Value.Data().([]float64), table)
	ps.SetTrainable(func(string) bool { return true })
	prog := NewProgram(ps, func(b *Builder) error {
		idn, err := b.Input("ids")
		if err != nil {
			return err
		}
		cn, err := b.Input("C")
		if err != nil {
			return err
		}
		e, err := emb.Forward(b, idn)
		if err != nil {
			return err
		}
		b.Loss(G.Must(G.Sum(G.Must(G.HadamardProd(e, cn)))))
		return nil
	}, Hooks{})
	defer prog.Close()
	if _, err := prog.Run(map[string]*tensor.Dense{"ids": ids, "C": c}); err != nil {
		t.Fatal(err)
	}
	return append([]float64(nil), emb.Weight.Grad.Data().([]float64)...)
}

func TestEmbeddingRowMask(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	// Prompts using the new token (row 9) and ordinary tokens, some repeated.
	ids := tensor.New(tensor.WithShape(2, 5), tensor.WithBacking([]float64{0, 3, 9, 3, 1, 0, 9, 9, 2, 1}))
	c := randTensor(rng, tensor.Float64, 2, 5, 4)
	table := f64s(randTensor(rng, tensor.Float64, 10, 4))

	full := embeddingGrads(t, nil, ids, c, table)
	masked := embeddingGrads(t, []int{9}, ids, c, table)
	for row := 0; row < 10; row++ {
		for j := 0; j < 4; j++ {
			i := row*4 + j
			switch {
			case row == 9 && masked[i] != full[i]:
				t.Errorf("trainable row 9: masked grad %g, unmasked %g", masked[i], full[i])
			case row != 9 && masked[i] != 0:
				t.Errorf("frozen row %d has gradient %g", row, masked[i])
			}
		}
	}
	// Row 9 occurs three times: its gradient is the sum of the three C rows.
	cd := f64s(c)
	for j := 0; j < 4; j++ {
		want := cd[2*4+j] + cd[6*4+j] + cd[7*4+j]
		if d := masked[9*4+j] - want; d > 1e-12 || d < -1e-12 {
			t.Errorf("row 9 grad[%d] = %g, want %g", j, masked[9*4+j], want)
		}
	}
	// Row 3 (used twice) would have a gradient without the mask.
	if full[3*4] == 0 {
		t.Error("unmasked gradient of a used row is zero")
	}
}

func TestEmbeddingRejectsBadIDs(t *testing.T) {
	for _, bad := range []float64{10, -1, 2.5} {
		ps := NewParams(tensor.Float64)
		emb := NewEmbedding(ps, "tok", 10, 2)
		prog := NewProgram(ps, func(b *Builder) error {
			idn, err := b.Input("ids")
			if err != nil {
				return err
			}
			e, err := emb.Forward(b, idn)
			b.Output("e", e)
			return err
		}, Hooks{})
		_, err := prog.Run(map[string]*tensor.Dense{"ids": tensor.New(tensor.WithShape(1, 2), tensor.WithBacking([]float64{1, bad}))})
		if err == nil {
			t.Errorf("id %g: no error", bad)
		}
		prog.Close()
	}
}

func TestDetachPositions(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	k := randTensor(rng, tensor.Float64, 2, 4, 3)
	c := randTensor(rng, tensor.Float64, 2, 4, 3)
	run := func(detach bool) ([]float64, []float64) {
		prog := NewProgram(NewParams(tensor.Float64), func(b *Builder) error {
			kn, err := b.InputWithGrad("k")
			if err != nil {
				return err
			}
			cn, err := b.Input("C")
			if err != nil {
				return err
			}
			y, err := b.SiLU(kn)
			if err != nil {
				return err
			}
			if detach {
				if y, err = b.DetachPositions(y, []int{0}); err != nil {
					return err
				}
			}
			b.Output("y", y)
			b.Loss(G.Must(G.Sum(G.Must(G.HadamardProd(y, cn)))))
			return nil
		}, Hooks{})
		defer prog.Close()
		r, err := prog.Run(map[string]*tensor.Dense{"k": k, "C": c})
		if err != nil {
			t.Fatal(err)
		}
		return f64s(r.Outputs["y"]), f64s(r.InputGrads["k"])
	}
	y0, g0 := run(false)
	y1, g1 := run(true)
	if relL2(y1, y0) != 0 {
		t.Fatal("DetachPositions changed the forward value")
	}
	for bi := 0; bi < 2; bi++ {
		for p := 0; p < 4; p++ {
			for j := 0; j < 3; j++ {
				i := (bi*4+p)*3 + j
				if p == 0 && g1[i] != 0 {
					t.Errorf("detached position 0 (batch %d) has gradient %g", bi, g1[i])
				}
				if p != 0 && g1[i] != g0[i] {
					t.Errorf("position %d (batch %d) gradient %g, want %g", p, bi, g1[i], g0[i])
				}
			}
		}
	}
}
