package blend

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomMaps makes a [n, l] map whose rows are softmax distributions (like attention).
func randomMaps(rng *rand.Rand, n, l int, sharp float64) []float64 {
	a := make([]float64, n*l)
	for q := 0; q < n; q++ {
		var s float64
		for t := 0; t < l; t++ {
			v := math.Exp(sharp * rng.NormFloat64())
			a[q*l+t] = v
			s += v
		}
		for t := 0; t < l; t++ {
			a[q*l+t] /= s
		}
	}
	return a
}

// TestLayerLossGradient checks d(loss)/dA against central differences for both
// objectives, two and three concepts and a multi-token noun, on an 8×12 grid (2×3
// pooled bins).
func TestLayerLossGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const h, w, l = 8, 12, 10
	for _, tc := range []struct {
		name string
		spec LossSpec
	}{
		{"fixed 2", LossSpec{Concepts: []LossConcept{{1, []int{2}}, {4, []int{5, 6}}}}},
		{"compat 3", LossSpec{Concepts: []LossConcept{{1, []int{2}}, {4, []int{5, 6}}, {7, []int{8}}}, LastPositiveOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := randomMaps(rng, h*w, l, 1.5)
			// Scale so the temperature-100 softmax stays inside the clamp (smooth).
			for i := range a {
				a[i] *= 0.05
			}
			const eps = 1e-30
			_, g, err := layerLoss(a, h, w, l, tc.spec, eps, true)
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for i := 0; i < len(a); i += 7 {
				if g[i] == 0 {
					continue
				}
				orig := a[i]
				a[i] = orig + 1e-7
				up, _, _ := layerLoss(a, h, w, l, tc.spec, eps, false)
				a[i] = orig - 1e-7
				down, _, _ := layerLoss(a, h, w, l, tc.spec, eps, false)
				a[i] = orig
				fd := (up - down) / 2e-7
				if math.Abs(fd-g[i]) > 1e-4*math.Max(1, math.Abs(fd)) {
					t.Errorf("dA[%d]: analytic %.8g, finite difference %.8g", i, g[i], fd)
				}
				checked++
			}
			if checked < 10 {
				t.Fatalf("only %d entries with a gradient", checked)
			}
		})
	}
}

// TestLayerLossTerms checks the objective's structure on hand-made maps: identical
// modifier and noun maps give no positive term, the compat objective drops every
// positive term but the last concept's, and the negative terms are −mean over the other
// concept's tokens of the max over this concept's tokens.
func TestLayerLossTerms(t *testing.T) {
	// An 8×4 grid pools to two bins (a 4×4 one would pool to a single bin, where every
	// D is 0).
	const h2, w, l = 8, 4, 6
	a := make([]float64, h2*w*l)
	col := func(tok int, top, bottom float64) {
		for q := 0; q < h2*w; q++ {
			if q < h2*w/2 {
				a[q*l+tok] = top
			} else {
				a[q*l+tok] = bottom
			}
		}
	}
	col(1, 0.02, 0.01) // concept A modifier
	col(2, 0.02, 0.01) // concept A noun: same map → D = 0
	col(3, 0.01, 0.02) // concept B modifier
	col(4, 0.01, 0.03) // concept B noun
	pos := func(x, y float64) float64 {
		d, _, _ := symKL([]float64{x, y}, []float64{x, y}, 1e-30, false)
		return d
	}
	if pos(0.1, 0.2) != 0 {
		t.Fatal("D(p, p) must be 0")
	}
	dAB := func(s, j int) float64 {
		pl, _ := newPooler(h2, w)
		d, _, _ := symKL(pl.pool(a, l, s), pl.pool(a, l, j), 1e-30, false)
		return d
	}
	spec := LossSpec{Concepts: []LossConcept{{1, []int{2}}, {3, []int{4}}}}
	posB := dAB(3, 4)
	negAB := -(math.Max(dAB(1, 3), dAB(2, 3)) + math.Max(dAB(1, 4), dAB(2, 4))) / 2
	negBA := -(math.Max(dAB(3, 1), dAB(4, 1)) + math.Max(dAB(3, 2), dAB(4, 2))) / 2
	fixed, _, _ := layerLoss(a, h2, w, l, spec, 1e-30, false)
	if want := 0 + posB + negAB + negBA; math.Abs(fixed-want) > 1e-12 {
		t.Errorf("fixed loss %.12g, want %.12g", fixed, want)
	}
	spec.Concepts[0], spec.Concepts[1] = spec.Concepts[1], spec.Concepts[0]
	spec.LastPositiveOnly = true
	compat, _, _ := layerLoss(a, h2, w, l, spec, 1e-30, false)
	if want := 0 + negAB + negBA; math.Abs(compat-want) > 1e-12 || posB == 0 {
		t.Errorf("compat loss (B first, A last) %.12g, want %.12g without B's positive term %.3g", compat, want, posB)
	}
	if _, _, err := layerLoss(a, 3, 3, l, spec, 1e-30, false); err == nil {
		t.Error("a 3×3 map cannot be pooled 4×4; want an error")
	}
}
