package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Softmax normalises x over its last axis, subtracting the row maximum first. With causal
// set, x is read as [..., Lq, Lk] scores and query i may attend only to keys
// j <= i + (Lk − Lq) (CLIP's mask); masked entries get probability 0.
func (b *Builder) Softmax(x *G.Node, causal bool) (*G.Node, error) {
	s := x.Shape()
	if len(s) < 1 || (causal && len(s) < 2) {
		return nil, fmt.Errorf("nn: Softmax of %v: need at least %d axes", s, map[bool]int{false: 1, true: 2}[causal])
	}
	lk := s[len(s)-1]
	lq := 1
	if len(s) >= 2 {
		lq = s[len(s)-2]
	}
	rows := numel(s) / lk
	shape := s.Clone()
	grad := func(_ G.Nodes, y, dy *G.Node) (G.Nodes, error) {
		dx, err := backwardOp("SoftmaxGrad", kernel{softmaxGradKernel[float32](rows, lk), softmaxGradKernel[float64](rows, lk)}, shape, y, dy)
		return G.Nodes{dx}, err
	}
	k := kernel{softmaxKernel[float32](rows, lq, lk, causal), softmaxKernel[float64](rows, lq, lk, causal)}
	return apply(fmt.Sprintf("Softmax(causal=%v)", causal), k, shape, b.diffs(x), grad, x)
}

func softmaxKernel[T float](rows, lq, lk int, causal bool) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		copy(out, in[0])
		softmaxRows(out, rows, lq, lk, causal)
		return nil
	}
}

// causalLimit is how many leading keys query row r may see.
func causalLimit(r, lq, lk int, causal bool) int {
	if !causal {
		return lk
	}
	return min(lk, max(0, r%lq+lk-lq+1))
}

// softmaxRows replaces each row of s [rows, lk] by its softmax, in place.
func softmaxRows[T float](s []T, rows, lq, lk int, causal bool) {
	parallelFor(rows, 4*lk, func(lo, hi int) { softmaxRange(s, lo, hi, lq, lk, causal) })
}

func softmaxRange[T float](s []T, lo, hi, lq, lk int, causal bool) {
	exp := expFor[T]()
	for r := lo; r < hi; r++ {
		row := s[r*lk : (r+1)*lk]
		n := causalLimit(r, lq, lk, causal)
		if n == 0 {
			clear(row)
			continue
		}
		m := row[0]
		for _, v := range row[1:n] {
			if v > m {
				m = v
			}
		}
		var sum float64
		if r32, ok := any(row[:n]).([]float32); ok {
			sum = expShiftSum32(r32, float32(m))
		} else {
			for j := 0; j < n; j++ {
				e := exp(float64(row[j] - m))
				row[j] = T(e)
				sum += e
			}
		}
		inv := 1 / sum
		for j := 0; j < n; j++ {
			row[j] = T(float64(row[j]) * inv)
		}
		clear(row[n:])
	}
}

// softmaxBackRows turns dP into dS = P ⊙ (dP − Σ_j P·dP) row by row, in place.
func softmaxBackRows[T float](p, dp []T, rows, lk int) {
	parallelFor(rows, 2*lk, func(lo, hi int) { softmaxBackRange(p, dp, lo, hi, lk) })
}

func softmaxBackRange[T float](p, dp []T, lo, hi, lk int) {
	for r := lo; r < hi; r++ {
		pr, dr := p[r*lk:(r+1)*lk], dp[r*lk:(r+1)*lk]
		var dot float64
		for j, v := range pr {
			dot += float64(v) * float64(dr[j])
		}
		for j, v := range pr {
			dr[j] = T(float64(v) * (float64(dr[j]) - dot))
		}
	}
}

func softmaxGradKernel[T float](rows, lk int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		copy(out, in[1])
		softmaxBackRows(in[0], out, rows, lk)
		return nil
	}
}
