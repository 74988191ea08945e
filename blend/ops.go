package blend

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// The two graph ops LatexBlend needs beyond unet.Edits: the blending-guidance loss of
// one cross-attention layer (with its gradient) and the rectification's score
// modulation. They are nn.ApplyDense nodes, so like the nn package's ops every
// application has a unique hash (gorgonia merges nodes whose hashes collide) and
// never aliases its inputs.

func epsOf(dt tensor.Dtype) float64 {
	if dt == tensor.Float32 {
		return float64(math.Nextafter32(1, 2) - 1)
	}
	return math.Nextafter(1, 2) - 1
}

// headMean averages probs [B, heads, n, l] over B·heads (the reference's P.mean(0)).
func headMean(p []float64, rows, n, l int) []float64 {
	a := make([]float64, n*l)
	for r := 0; r < rows; r++ {
		for i, v := range p[r*n*l : (r+1)*n*l] {
			a[i] += v
		}
	}
	for i := range a {
		a[i] /= float64(rows)
	}
	return a
}

// guidanceLoss adds the loss node of one cross-attention layer: probs [B, heads, h·w, l]
// → [1].
func guidanceLoss(probs *G.Node, h, w int, spec LossSpec) (*G.Node, error) {
	s := probs.Shape()
	if len(s) != 4 || s[2] != h*w {
		return nil, fmt.Errorf("blend: guidance: probabilities %v do not match a %d×%d grid", s, h, w)
	}
	rows, n, l := s[0]*s[1], s[2], s[3]
	if _, err := newPooler(h, w); err != nil {
		return nil, err
	}
	shape := s.Clone()
	do := func(in []*tensor.Dense) (*tensor.Dense, error) {
		a := headMean(nn.Float64s(in[0]), rows, n, l)
		loss, _, err := layerLoss(a, h, w, l, spec, epsOf(in[0].Dtype()), false)
		if err != nil {
			return nil, err
		}
		return nn.DenseFromFloat64(in[0].Dtype(), []float64{loss}, 1), nil
	}
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gdo := func(in []*tensor.Dense) (*tensor.Dense, error) {
			a := headMean(nn.Float64s(in[0]), rows, n, l)
			_, ga, err := layerLoss(a, h, w, l, spec, epsOf(in[0].Dtype()), true)
			if err != nil {
				return nil, err
			}
			scale := nn.Float64s(in[1])[0] / float64(rows)
			g := make([]float64, rows*n*l)
			for r := 0; r < rows; r++ {
				for i, v := range ga {
					g[r*n*l+i] = v * scale
				}
			}
			return nn.DenseFromFloat64(in[0].Dtype(), g, shape...), nil
		}
		gn, err := nn.ApplyDense("blend.GuidanceLossGrad", gdo, shape, nil, nil, in[0], dy)
		if err != nil {
			return nil, err
		}
		return G.Nodes{gn}, nil
	}
	return nn.ApplyDense("blend.GuidanceLoss", do, tensor.Shape{1}, []bool{true}, grad, probs)
}

// rectifyScores applies the rectification to scores [B, heads, Lq, Lk] with per-row
// coefficients boost and sup [B, Lq, Lk] (zero where a row or token is left alone):
// S1 = S + boost·(max_k S − S), then S2 = S1 − sup·(S1 − min_k S), max and min taken
// from the original S (the reference's two in-place updates through a view).
func rectifyScores(scores, boost, sup *G.Node) (*G.Node, error) {
	s := scores.Shape()
	if len(s) != 4 || !boost.Shape().Eq(tensor.Shape{s[0], s[2], s[3]}) || !sup.Shape().Eq(boost.Shape()) {
		return nil, fmt.Errorf("blend: rectification: scores %v need coefficients [%d, %d, %d], got %v and %v", s, s[0], s[2], s[3], boost.Shape(), sup.Shape())
	}
	bs, heads, lq, lk := s[0], s[1], s[2], s[3]
	do := func(in []*tensor.Dense) (*tensor.Dense, error) {
		switch sc := in[0].Data().(type) {
		case []float32:
			out := make([]float32, len(sc))
			rectifyRows(sc, in[1].Data().([]float32), in[2].Data().([]float32), out, bs, heads, lq, lk)
			return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(out)), nil
		case []float64:
			out := make([]float64, len(sc))
			rectifyRows(sc, in[1].Data().([]float64), in[2].Data().([]float64), out, bs, heads, lq, lk)
			return tensor.New(tensor.WithShape(s.Clone()...), tensor.WithBacking(out)), nil
		}
		return nil, fmt.Errorf("unsupported dtype %v", in[0].Dtype())
	}
	return nn.ApplyDense("blend.RectifyScores", do, s, nil, nil, scores, boost, sup)
}

func rectifyRows[T float32 | float64](sc, boost, sup, out []T, bs, heads, lq, lk int) {
	for b := 0; b < bs; b++ {
		for h := 0; h < heads; h++ {
			for q := 0; q < lq; q++ {
				row := sc[((b*heads+h)*lq+q)*lk:][:lk]
				o := out[((b*heads+h)*lq+q)*lk:][:lk]
				wb := boost[(b*lq+q)*lk:][:lk]
				ws := sup[(b*lq+q)*lk:][:lk]
				mx, mn := row[0], row[0]
				for _, v := range row {
					mx = max(mx, v)
					mn = min(mn, v)
				}
				for k, v := range row {
					v1 := v + wb[k]*(mx-v)
					o[k] = v1 - ws[k]*(v1-mn)
				}
			}
		}
	}
}

// headMeanRows averages probs [B, heads, Lq, Lk] over heads for the given batch rows:
// [len(rows), Lq, Lk]. The rectification's save step reads its maps through it, so a
// 64×64 self-attention map costs Lq·Lk values per image instead of B·heads·Lq·Lk.
func headMeanRows(probs *G.Node, rows []int) (*G.Node, error) {
	s := probs.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("blend: attention probabilities %v are not [B, heads, Lq, Lk]", s)
	}
	for _, r := range rows {
		if r < 0 || r >= s[0] {
			return nil, fmt.Errorf("blend: row %d is outside the batch of %d", r, s[0])
		}
	}
	heads, per := s[1], s[2]*s[3]
	out := tensor.Shape{len(rows), s[2], s[3]}
	do := func(in []*tensor.Dense) (*tensor.Dense, error) {
		acc := make([]float64, len(rows)*per)
		switch d := in[0].Data().(type) {
		case []float32:
			for i, r := range rows {
				for h := 0; h < heads; h++ {
					for j, v := range d[(r*heads+h)*per : (r*heads+h+1)*per] {
						acc[i*per+j] += float64(v)
					}
				}
			}
		case []float64:
			for i, r := range rows {
				for h := 0; h < heads; h++ {
					for j, v := range d[(r*heads+h)*per : (r*heads+h+1)*per] {
						acc[i*per+j] += v
					}
				}
			}
		}
		for i := range acc {
			acc[i] /= float64(heads)
		}
		return nn.DenseFromFloat64(in[0].Dtype(), acc, out...), nil
	}
	return nn.ApplyDense("blend.HeadMeanRows", do, out, nil, nil, probs)
}
