package vae

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// TestGradients checks, in float64 against central finite differences, the gradient
// of loss = Σ C ⊙ f(x) through the whole encoder (f = EncodeGraph) and decoder
// (f = DecodeGraph) with respect to the input and to one trainable weight of the
// mid-block attention, so both graphs can be differentiated (guidance through the
// decoder, for example).
func TestGradients(t *testing.T) {
	for _, tc := range []struct {
		name   string
		encode bool
		in     []int
		out    []int
		weight string
	}{
		{"decoder", false, []int{1, 4, 2, 2}, []int{1, 3, 4, 4}, "decoder.mid_block.attentions.0.to_q.weight"},
		{"encoder", true, []int{1, 3, 4, 2}, []int{1, 8, 2, 1}, "encoder.mid_block.attentions.0.to_k.weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := randomModel(t, tinyConfig(), tensor.Float64, 7, 0.2)
			m.Params.SetTrainable(func(name string) bool { return name == tc.weight })
			prog := nn.NewProgram(m.Params, func(b *nn.Builder) error {
				x, err := b.InputWithGrad("x")
				if err != nil {
					return err
				}
				c, err := b.Input("c")
				if err != nil {
					return err
				}
				var y *G.Node
				if tc.encode {
					y, err = m.EncodeGraph(b, x)
				} else {
					y, err = m.DecodeGraph(b, x)
				}
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
				b.Loss(loss)
				return nil
			}, nn.Hooks{})
			defer prog.Close()

			rng := rand.New(rand.NewSource(8))
			inputs := map[string]*tensor.Dense{
				"x": randTensor(rng, tensor.Float64, tc.in...),
				"c": randTensor(rng, tensor.Float64, tc.out...),
			}
			loss := func() float64 {
				r, err := prog.Run(inputs)
				if err != nil {
					t.Fatal(err)
				}
				return r.Loss
			}
			r, err := prog.Run(inputs)
			if err != nil {
				t.Fatal(err)
			}
			dx := append([]float64(nil), r.InputGrads["x"].Data().([]float64)...)
			w := m.Params.Get(tc.weight)
			dw := append([]float64(nil), w.Grad.Data().([]float64)...)

			for what, g := range map[string][]float64{"x": dx, tc.weight: dw} {
				var big float64
				for _, v := range g {
					big = max(big, math.Abs(v))
				}
				if big < 1e-3 {
					t.Fatalf("the gradient of %s is negligible (max %g), the check would prove nothing", what, big)
				}
			}
			const eps = 1e-5
			check := func(what string, vals []float64, grad []float64, at []int) {
				for _, i := range at {
					orig := vals[i]
					vals[i] = orig + eps
					up := loss()
					vals[i] = orig - eps
					down := loss()
					vals[i] = orig
					fd := (up - down) / (2 * eps)
					if math.Abs(fd-grad[i]) > 1e-6*math.Max(1, math.Abs(fd)) {
						t.Errorf("d loss / d %s[%d]: analytic %.9g, finite difference %.9g", what, i, grad[i], fd)
					}
				}
			}
			xs := inputs["x"].Data().([]float64)
			all := make([]int, len(xs))
			for i := range all {
				all[i] = i
			}
			check("x", xs, dx, all)
			ws := w.Value.Data().([]float64)
			check(tc.weight, ws, dw, []int{0, 65, len(ws) / 2, len(ws) - 1})
		})
	}
}
