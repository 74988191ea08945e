package unet

import (
	"math"
	"math/rand"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// rectInputs returns Boost/Suppress coefficients for microAttn2 (2 heads, 4×4 queries,
// 5 keys): sparse masks with varying strengths, zero in row 0 (the "unconditional" row).
func rectInputs(dt tensor.Dtype, seed int64) Rectification {
	rng := rand.New(rand.NewSource(seed))
	n := 2 * 2 * 16 * 5
	boost, sup := make([]float64, n), make([]float64, n)
	for i := n / 2; i < n; i++ {
		if rng.Intn(3) == 0 {
			boost[i] = 0.3 + rng.Float64()
		} else if rng.Intn(2) == 0 {
			sup[i] = 0.3 + rng.Float64()
		}
	}
	return Rectification{Boost: nn.DenseFromFloat64(dt, boost, 2, 2, 16, 5), Suppress: nn.DenseFromFloat64(dt, sup, 2, 2, 16, 5)}
}

// TestRectifyMatchesReference: the rectified probabilities equal softmax of the
// reference update computed on the host from the unrectified probabilities (the update
// is shift-equivariant per row, so log-probabilities stand in for the scores).
func TestRectifyMatchesReference(t *testing.T) {
	m := micro(t, tensor.Float64, 51)
	in := microInputs(tensor.Float64, 52)
	r := rectInputs(tensor.Float64, 53)
	plain := run(t, m, in, &Edits{ReadProbs: []string{microAttn2}})
	rect := run(t, m, in, &Edits{ReadProbs: []string{microAttn2}, Rectify: map[string]Rectification{microAttn2: r}})
	p0, p1 := flat(plain.Extra[microAttn2+".probs"]), flat(rect.Extra[microAttn2+".probs"])
	boost, sup := flat(r.Boost), flat(r.Suppress)
	var worst float64
	changed := false
	for row := 0; row < len(p0)/5; row++ {
		s := make([]float64, 5)
		mx, mn := math.Inf(-1), math.Inf(1)
		for k := range s {
			s[k] = math.Log(p0[row*5+k])
			mx, mn = math.Max(mx, s[k]), math.Min(mn, s[k])
		}
		var z float64
		want := make([]float64, 5)
		for k := range s {
			i := row*5 + k
			s1 := s[k] + boost[i]*(mx-s[k])
			want[k] = math.Exp(s1 - sup[i]*(s1-mn))
			z += want[k]
		}
		for k := range want {
			worst = math.Max(worst, math.Abs(want[k]/z-p1[row*5+k]))
			if row < 32 && p1[row*5+k] != p0[row*5+k] {
				t.Fatalf("row %d (zero coefficients) changed", row)
			}
			if math.Abs(p1[row*5+k]-p0[row*5+k]) > 1e-3 {
				changed = true
			}
		}
	}
	if worst > 1e-12 {
		t.Errorf("rectified probabilities differ from the reference update by %.3g", worst)
	}
	if !changed {
		t.Error("rectification changed nothing")
	}
}

// TestRectifyGradientFD checks d(loss)/d(sample) through a rectified module (the row
// max/min included) against finite differences, in case guidance and rectification run
// in the same pass.
func TestRectifyGradientFD(t *testing.T) {
	m := micro(t, tensor.Float64, 61)
	in := microInputs(tensor.Float64, 62)
	e := &Edits{Rectify: map[string]Rectification{microAttn2: rectInputs(tensor.Float64, 63)}, ScoreColumns: []ColumnCopy{{From: 3, To: 1}}}
	inputs, err := m.GraphInputs(in)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := e.Inputs(in)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		inputs[k] = v
	}
	rng := rand.New(rand.NewSource(64))
	inputs["c"] = randDense(rng, tensor.Float64, 1, 2, 4, 8, 8)
	prog := lossProgram(m, GradOptions{Sample: true, Context: true}, e.Hooks())
	defer prog.Close()
	var grads map[string]*tensor.Dense
	eval := func() float64 {
		res, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		grads = res.InputGrads
		return res.Loss
	}
	eval()
	for _, name := range []string{InputSample, InputContext} {
		g := append([]float64(nil), grads[name].Data().([]float64)...)
		fdCheck(t, name, inputs[name].Data().([]float64), g, eval, someEntries(rng, len(g), 5))
	}
}
